"""A selection function: purity and completeness of a model-accepted sample in bins of g, g−r and S/N.

Why: one purity for the whole cut hides where it fails (faint stars, red edge, low S/N). A paper
using the selection needs both figures against each axis, with intervals, in a form others read.

Two sources of truth, each used for what it can tell:

* a blind audit (core.sessions.audit): the sample is drawn from the accepted stars, so its blind verdicts
  give **purity** per bin (BHB / judged), and nothing about completeness;
* labels (a simulated sky's, or any catalogue's ``label`` column): **purity and completeness** per
  bin over every candidate.

Bins are quantiles of the stars that carry the truth, as many as keep :data:`MIN_PER_BIN` stars in
each (at most :data:`MAX_BINS`); a bin that still has fewer (a small audit) says so in ``note``.
Intervals are Wilson's (core.sessions.audit.wilson_interval).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import Table

from bhb_viewer.core.sessions.audit import wilson_interval

if TYPE_CHECKING:
    from bhb_viewer.core.sessions.audit import AuditPlan
    from bhb_viewer.core.sessions.verdicts import Session

MIN_PER_BIN = 20
MAX_BINS = 6
AXIS_LABELS = {"g": "g (mag)", "g_r": "g − r (mag)", "snr": "S/N per pixel"}


def adaptive_edges(values: np.ndarray, min_per_bin: int = MIN_PER_BIN, max_bins: int = MAX_BINS) -> np.ndarray:
    """Quantile bin edges with at least ``min_per_bin`` finite values per bin (one bin when too few)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.array([])
    n_bins = int(max(1, min(max_bins, v.size // max(min_per_bin, 1))))
    edges = np.unique(np.quantile(v, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size < 2:
        edges = np.array([v.min(), v.max()])
    return edges


def _rate(k: int, n: int, confidence: float) -> tuple[float, float, float]:
    if n == 0:
        return np.nan, np.nan, np.nan
    lo, hi = wilson_interval(k, n, confidence)
    return k / n, lo, hi


def selection_function(axes: Mapping[str, np.ndarray], accepted: np.ndarray, truth: np.ndarray,
                       confidence: float = 0.95, min_per_bin: int = MIN_PER_BIN, source: str = "labels",
                       completeness: bool = True) -> Table:
    """One row per (axis, bin): purity (and, with ``completeness``, completeness) with Wilson intervals.

    ``accepted`` (bool) is the selection; ``truth`` is 1 (BHB), 0 (not) or -1 (unknown) per star.
    Bins come from the stars with a known truth (:func:`adaptive_edges`).
    """
    accepted = np.asarray(accepted, dtype=bool)
    truth = np.asarray(truth, dtype=np.int64)
    known = truth >= 0
    rows: list[dict[str, Any]] = []
    for axis, values in axes.items():
        v = np.asarray(values, dtype=np.float64)
        edges = adaptive_edges(v[known], min_per_bin)
        for b in range(len(edges) - 1):
            last = b == len(edges) - 2
            inside = known & (v >= edges[b]) & ((v <= edges[b + 1]) if last else (v < edges[b + 1]))
            sel, bhb = inside & accepted, inside & (truth == 1)
            purity = _rate(int((sel & (truth == 1)).sum()), int(sel.sum()), confidence)
            comp = _rate(int((bhb & accepted).sum()), int(bhb.sum()), confidence) if completeness else (np.nan,) * 3
            few = int(inside.sum()) < min_per_bin
            rows.append({"axis": axis, "lo": edges[b], "hi": edges[b + 1], "n": int(inside.sum()),
                         "n_accepted": int(sel.sum()), "purity": purity[0], "purity_lo": purity[1],
                         "purity_hi": purity[2], "n_bhb": int(bhb.sum()), "completeness": comp[0],
                         "completeness_lo": comp[1], "completeness_hi": comp[2],
                         "note": f"fewer than {min_per_bin} stars" if few else ""})
    table = Table(rows=rows, names=["axis", "lo", "hi", "n", "n_accepted", "purity", "purity_lo", "purity_hi", "n_bhb",
                                    "completeness", "completeness_lo", "completeness_hi", "note"]) if rows else Table()
    if rows:
        table["axis"] = table["axis"].astype(str)
        table["note"] = table["note"].astype("<U40")
        for col, desc in (("purity", "BHB share of the accepted stars in the bin"),
                          ("completeness", "accepted share of the BHB stars in the bin"),
                          ("n", "stars with a known truth in the bin")):
            table[col].description = desc
        table["lo"].description = "lower bin edge on the axis (units: mag for g and g_r, none for snr)"
        table["hi"].description = "upper bin edge on the axis"
    table.meta.update({"SOURCE": source, "CONFLEV": confidence, "MINBIN": min_per_bin,
                       "AXES": ",".join(axes), "AXISUNIT": "g: mag; g_r: mag; snr: dimensionless"})
    return table


@dataclass(frozen=True)
class AuditEvidence:
    """What a session holds about its blind audit, read in one go (quick: the session's tables only), so
    the slow part (:func:`audit_selection_function`: the catalogue, the spectra's S/N) can run without it.

    Attributes
    ----------
    session_path, catalog_path : str
        The session file and the list it vets.
    plan : AuditPlan
    scores : dict of str to float
        P(BHB) of the session's model by candidate id.
    truth : dict of str to int
        Each judged audit candidate's blind verdict: 1 BHB, 0 not, -1 unsure or bad data.
    model_version : str or None
    """

    session_path: str
    catalog_path: str
    plan: AuditPlan
    scores: dict[str, float]
    truth: dict[str, int]
    model_version: str | None


def audit_evidence(session: Session, plan: AuditPlan) -> AuditEvidence:
    """The audit's evidence from ``session``: scores of its model and the sample's verdicts since the audit began."""
    from bhb_viewer.core.sessions.verdicts import VerdictKind

    scores = session.scores.load(session.model.name, session.model.version) if session.model else {}
    classes = {VerdictKind.BHB: 1, VerdictKind.UNSURE: -1, VerdictKind.BAD_DATA: -1}
    sample = set(plan.ids)
    truth = {c: classes.get(state.verdict, 0) for c, state in session.verdicts_since(plan.start_seq).items()
             if c in sample and state.verdict is not None}
    return AuditEvidence(str(Path(session.path).resolve()), str(session.catalog.path), plan, dict(scores), truth,
                         session.model.version if session.model else None)


@dataclass(frozen=True)
class AuditSelection:
    """The selection function of an audit: what ``bhb sessions audit --selection-function`` writes and the
    app's Team → Audit results shows.

    Attributes
    ----------
    table : astropy.table.Table
        One row per (source, axis, bin); ``source`` is "blind audit" (purity only) or "labels" (purity
        and completeness, where the list carries a ``label`` column).
    provenance : dict
        Session, catalogue, cut, seed, model version and sources, for the VOTable's INFOs.
    shown : str
        The source a plot shows: the labels' where there are any (completeness too), else the audit's.
    title : str
    """

    table: Table
    provenance: dict[str, Any]
    shown: str
    title: str

    def rows_shown(self) -> Table:
        """The rows of :attr:`shown`."""
        return self.table[self.table["source"] == self.shown]

    def notes(self) -> list[str]:
        """'g_r bin 0.12–0.35: fewer than 20 stars' for every bin with too few stars, of every source."""
        return [f"{row['source']}, {row['axis']} bin {row['lo']:.3g}–{row['hi']:.3g}: {row['note']}"
                for row in self.table if row["note"]]


def audit_selection_function(evidence: AuditEvidence) -> AuditSelection:
    """Purity from the blind verdicts and, where the list has labels, purity and completeness, in bins of
    g, g−r and S/N (S/N from a data set's spectra, or the list's ``snr`` column).

    Parameters
    ----------
    evidence : AuditEvidence
        From :func:`audit_evidence`.

    Returns
    -------
    AuditSelection

    Raises
    ------
    BadInputError
        The list cannot be read.
    """
    from astropy.table import vstack

    from bhb_viewer.core.dataset import is_dataset, open_dataset
    from bhb_viewer.core.readers.candidates import read_candidates
    from bhb_viewer.core.science.trust import median_snr

    plan, source = evidence.plan, evidence.catalog_path
    folder = next((f for f in (Path(source), Path(source).parent) if is_dataset(f)), None)  # a data set's catalog
    snr: np.ndarray | None
    if folder is not None:
        data = open_dataset(folder)
        catalog = data.catalog
        snr = np.concatenate([median_snr(np.asarray(data.spectra[i:i + 512]), np.asarray(data.ivar[i:i + 512]))
                              for i in range(0, len(data), 512)])
    else:
        catalog = read_candidates(source)
        snr = np.asarray(catalog["snr"], float) if "snr" in catalog.colnames else None
    ids = [str(c) for c in catalog["id"]]
    p = np.array([evidence.scores.get(c, np.nan) for c in ids], dtype=float)
    accepted = np.nan_to_num(p, nan=-1.0) >= plan.cut
    g = np.asarray(catalog["g"], float) if "g" in catalog.colnames else np.full(len(ids), np.nan)
    g_r = (np.asarray(catalog["g_r"], float) if "g_r" in catalog.colnames
           else g - np.asarray(catalog["r"], float) if "r" in catalog.colnames else np.full(len(ids), np.nan))
    axes = {"g": g, "g_r": g_r, **({"snr": snr} if snr is not None else {})}
    audit_truth = np.array([evidence.truth.get(c, -1) for c in ids])
    parts = [selection_function(axes, accepted, audit_truth, plan.confidence, source="blind audit", completeness=False)]
    if "label" in catalog.colnames:
        parts.append(selection_function(axes, accepted, np.asarray(catalog["label"], dtype=np.int64), plan.confidence,
                                        source="labels"))
    for part in parts:
        part["source"] = part.meta["SOURCE"]
    table = vstack([t for t in parts if len(t)], metadata_conflicts="silent")
    provenance = {"SESSION": evidence.session_path, "CATALOG": source, "AUDCUT": plan.cut,
                  "AUDSEED": str(plan.seed), "MODEL": evidence.model_version,
                  "SOURCES": ",".join(str(t.meta["SOURCE"]) for t in parts)}
    shown = str(parts[-1].meta["SOURCE"])
    return AuditSelection(table, provenance, shown, f"selection function ({shown}), P(BHB) ≥ {plan.cut}")


def write_votable(table: Table, path: str | os.PathLike, provenance: Mapping[str, Any]) -> None:
    """The selection function as a VOTable: UCDs on the counts and fractions, mag on the bin edges (the S/N rows'
    edges are dimensionless, as ``lo``'s description says), ``provenance`` and the meta as INFOs."""
    from astropy.io.votable import from_table

    out = table.copy()
    out.meta.update({k: v for k, v in provenance.items() if v is not None})
    vot = from_table(out)
    field_by_name = {f.name: f for f in vot.get_first_table().fields}
    for name, ucd, unit in (("lo", "stat.min", "mag"), ("hi", "stat.max", "mag"), ("purity", "stat.fit.goodness", None),
                            ("completeness", "stat.fit.goodness", None), ("n", "meta.number", None),
                            ("n_accepted", "meta.number", None), ("n_bhb", "meta.number", None)):
        field = field_by_name[name]
        field.ucd = ucd
        if unit:
            field.unit = unit  # the S/N rows are dimensionless: the axis column says which
    for key, value in out.meta.items():
        vot.get_first_table().infos.append(_info(key, value))
    vot.to_xml(str(path))


def _info(name: str, value: Any):
    from astropy.io.votable.tree import Info

    return Info(name=name, value=str(value))


def plot(table: Table, path, title: str) -> None:
    """Purity and completeness (with intervals) against each axis, one panel per axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = list(dict.fromkeys(str(a) for a in table["axis"]))
    fig, panels = plt.subplots(1, len(axes), figsize=(3.4 * len(axes), 3.2), sharey=True, squeeze=False)
    for ax, name in zip(panels[0], axes, strict=True):
        rows = table[table["axis"] == name]
        x = 0.5 * (np.asarray(rows["lo"]) + np.asarray(rows["hi"]))
        for col, colour in (("purity", "tab:blue"), ("completeness", "tab:orange")):
            y = np.asarray(rows[col], dtype=float)
            ok = np.isfinite(y)
            if ok.any():
                lo, hi = np.asarray(rows[f"{col}_lo"], float)[ok], np.asarray(rows[f"{col}_hi"], float)[ok]
                err = np.clip(np.vstack([y[ok] - lo, hi - y[ok]]), 0.0, None)  # rounding at p = 0 or 1
                half = 0.5 * (np.asarray(rows["hi"], float) - np.asarray(rows["lo"], float))[ok]
                ax.errorbar(x[ok], y[ok], yerr=err, xerr=half, fmt="o", color=colour, label=col, capsize=2)
        ax.set_xlabel(AXIS_LABELS.get(name, name))
        ax.set_ylim(0, 1.05)
    panels[0][0].set_ylabel("fraction (95 % Wilson)")
    panels[0][0].legend(frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
