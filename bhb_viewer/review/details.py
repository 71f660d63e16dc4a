"""What the review knows per candidate beyond the table: classical diagnostics and cached details.

The classical Balmer-line verdict comes from the catalog's own Xue-style columns when it has
them, else from fits run in the background over every spectrum. The per-candidate Balmer fit and
the model's explanation are computed for the candidate on show and kept in a bounded cache, so
going back to a star is instant while memory stays flat on a 100,000-row list.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from astropy.table import Table

from bhb_viewer.core.science.balmer import passes_cuts
from bhb_viewer.core.science.stellar_fit import FIT_COLUMNS
from bhb_viewer.review.tasks import ClassicalBatch, Detail

__all__ = ["DETAIL_CACHE", "EXPORTED_DIAGNOSTICS", "Classical", "DetailCache"]

DETAIL_CACHE = 2000  # candidates whose Balmer fit / explanation stay in memory
DIAGNOSTICS = ("d02", "fm", "b_hg", "c_hg")
# the classical cuts, then the physical second opinion and the trust flags
# (core.science.stellar_fit, core.science.trust)
EXPORTED_DIAGNOSTICS = (*DIAGNOSTICS, "classical_bhb", *FIT_COLUMNS, "box_bhb", "flags")


class Classical:
    """The classical diagnostics (D0.2, fm, b, c) and pass/fail of every candidate, as they arrive."""

    def __init__(self) -> None:
        self.columns: dict[str, np.ndarray] = {}
        self.n = 0

    def clear(self, n: int) -> None:
        """Forget everything: a new list of ``n`` candidates."""
        self.columns = {}
        self.n = n

    @property
    def known(self) -> bool:
        """Whether any diagnostics arrived (from the catalog or from fits)."""
        return bool(self.columns)

    def add(self, batch: ClassicalBatch) -> np.ndarray:
        """Store one batch of diagnostics.

        Parameters
        ----------
        batch : ClassicalBatch
            Rows and their columns (d02, fm, b_hg, c_hg, balmer_ok, classical_bhb).

        Returns
        -------
        ndarray of str
            The label of each row of the batch: 'pass', 'fail' or 'no fit'.
        """
        for name, values in batch.columns.items():
            if name not in self.columns:
                empty = np.full(self.n, np.nan) if values.dtype.kind == "f" else np.zeros(self.n, dtype=values.dtype)
                self.columns[name] = empty
            self.columns[name][batch.rows] = values
        cols = batch.columns
        return np.where(cols["balmer_ok"], np.where(cols["classical_bhb"], "pass", "fail"), "no fit")

    @staticmethod
    def from_catalog(catalog: Table) -> ClassicalBatch | None:
        """The classical verdict of a catalog that carries Xue-style diagnostics, or None.

        Parameters
        ----------
        catalog : astropy.table.Table
            The candidate table.

        Returns
        -------
        ClassicalBatch or None
            Every row, when the catalog has d02, fm, b_hg and c_hg.
        """
        if not all(c in catalog.colnames for c in DIAGNOSTICS):
            return None
        cols: dict[str, np.ndarray] = {
            c: np.asarray(np.ma.filled(np.ma.asarray(catalog[c], dtype=float), np.nan)) for c in DIAGNOSTICS}
        cols["classical_bhb"] = passes_cuts(cols["d02"], cols["fm"], cols["b_hg"], cols["c_hg"])
        cols["balmer_ok"] = np.isfinite(cols["d02"]) & np.isfinite(cols["c_hg"])
        return ClassicalBatch(np.arange(len(catalog)), cols)

    def describe_fit(self, row: int) -> str:
        """The template fit of source ``row`` in one line for the verdict panel ('' before it is known)."""
        if "teff_fit" not in self.columns or not np.isfinite(self.columns["teff_fit"][row]):
            return ""
        c = {k: float(self.columns[k][row]) for k in FIT_COLUMNS}
        box = "inside" if self.columns["box_bhb"][row] else "outside"
        return (f"template fit: Teff {c['teff_fit']:,.0f} K, log g {c['logg_fit']:.2f}, [Fe/H] {c['feh_fit']:+.2f}, "
                f"v {c['rv_fit']:+.0f} km/s, χ²ν {c['chi2_fit']:.2f}; {box} the BHB Teff–log g box")

    def export_columns(self, catalog_colnames: list[str]) -> dict[str, np.ndarray]:
        """The diagnostics an export adds: those the catalog does not already carry."""
        return {k: v for k, v in self.columns.items() if k in EXPORTED_DIAGNOSTICS and k not in catalog_colnames}


class DetailCache:
    """Balmer fits and model explanations by source row, the oldest dropped past ``limit`` each."""

    def __init__(self, limit: int = DETAIL_CACHE) -> None:
        self.limit = limit
        self.balmer: OrderedDict[int, Any] = OrderedDict()
        self.explain: OrderedDict[int, Any] = OrderedDict()

    def put(self, detail: Detail) -> None:
        """Keep a 'balmer' or 'explain' detail."""
        cache = self.balmer if detail.kind == "balmer" else self.explain
        cache[detail.row] = detail.value
        while len(cache) > self.limit:
            cache.popitem(last=False)

    def forget(self, row: int, balmer: bool = False) -> None:
        """Drop the explanation of ``row`` (its data changed), and its Balmer fit when ``balmer``."""
        self.explain.pop(row, None)
        if balmer:
            self.balmer.pop(row, None)

    def clear(self, explanations_only: bool = False) -> None:
        """Drop everything (a new list), or only the explanations (a new model)."""
        self.explain.clear()
        if not explanations_only:
            self.balmer.clear()
