"""How far each candidate's score can be trusted: valid window pixels and resolution, per row.

The rule is core.readers.quality's: a score made on a spectrum with fewer than ``MIN_VALID_FRACTION`` of
the window's pixels valid is unreliable, and a resolving power far from SDSS's is flagged. This
module only gathers, per source row, what a list knows of it: the ``valid_fraction`` and
``resolution`` columns of a data set (or of the table made from a spectrum file), the meta of a
spectrum fetched from SDSS, and, for a data set without the columns, the fraction counted from
its inverse variances in the background.
The table, the verdict panel and the export read the result from here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent
from bhb_viewer.core.readers import quality
from bhb_viewer.core.science import trust
from bhb_viewer.review.candidate_source import CandidateSource
from bhb_viewer.review.rows import CandidateRows

log = logging.getLogger(__name__)

__all__ = ["EXPORT_COLUMNS", "Quality", "QualityBatch", "SpectrumQuality", "quality_task"]

QUALITY_CHUNK = 2048  # rows of inverse variance read per step of the background count
EXPORT_COLUMNS = ("valid_fraction", "p_bhb_unreliable")


@dataclass(frozen=True)
class Quality:
    """What the verdict panel says about one candidate's spectrum.

    Attributes
    ----------
    valid_fraction : float
        Valid window pixels / 3522; NaN when not known.
    unreliable : bool
        A score made on this spectrum is unreliable (too few valid pixels).
    flags : tuple of str
        One warning per problem (core.readers.quality's wording): few valid pixels, a resolution far from SDSS's.
    """

    valid_fraction: float
    unreliable: bool
    flags: tuple[str, ...]


@dataclass
class QualityBatch:
    """Valid fractions counted from the inverse variances of some source rows."""

    rows: np.ndarray
    valid_fraction: np.ndarray


def quality_task(source: CandidateSource, rows: np.ndarray):
    """Count the valid window pixels of ``rows`` (a data set whose catalog does not carry them).

    Parameters
    ----------
    source : CandidateSource
        A list with an inverse-variance array.
    rows : ndarray of int
        Source rows to count.

    Returns
    -------
    callable
        ``fn(cancel, progress)`` for a runner, yielding :class:`QualityBatch` a chunk at a time.
    """

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[QualityBatch]:
        ivar = source.ivar
        if ivar is None:
            return
        for start in range(0, len(rows), QUALITY_CHUNK):
            cancel.check()
            chunk = rows[start : start + QUALITY_CHUNK]
            fractions = np.atleast_1d(quality.valid_fraction(np.asarray(ivar[chunk])))
            progress(ProgressEvent("quality", start + len(chunk), len(rows), "valid pixels"))
            yield QualityBatch(chunk, np.asarray(fractions, dtype=np.float64))

    return fn


class SpectrumQuality:
    """Per-row valid fraction and resolution of one list; the rows' ``valid_fraction`` and
    ``unreliable`` columns follow it.

    Parameters
    ----------
    rows : CandidateRows
        The list's columns.
    """

    def __init__(self, rows: CandidateRows) -> None:
        self.rows = rows
        self.resolution = np.zeros(0)
        self.upper_limit = np.zeros(0, dtype=bool)
        self.meta: dict[int, dict[str, Any]] = {}  # spectrum meta of rows fetched since the list opened

    def bind(self, source: CandidateSource) -> np.ndarray:
        """Take what ``source``'s catalog knows (fetched spectra of an earlier list are forgotten).

        Parameters
        ----------
        source : CandidateSource

        Returns
        -------
        ndarray of int
            Source rows whose valid fraction is still unknown but can be counted from ``source.ivar``.
        """
        n = len(source)
        self.meta = {}
        self.resolution = _catalog_column(source, "resolution", n)
        self.upper_limit = _catalog_column(source, "resolution_is_upper_limit", n) == 1
        fractions = _catalog_column(source, "valid_fraction", n)
        self.rows.set_valid_fractions(np.arange(n), fractions)
        if source.ivar is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(np.isnan(fractions))

    def add(self, batch: QualityBatch) -> None:
        """Valid fractions counted in the background."""
        self.rows.set_valid_fractions(batch.rows, batch.valid_fraction)

    def set_meta(self, row: int, meta: dict[str, Any]) -> None:
        """A spectrum arrived for ``row`` (fetched from SDSS): its valid fraction and resolution now hold.

        Parameters
        ----------
        row : int
        meta : dict
            ``GridSpectrum.meta`` (``valid_fraction``, ``resolution``, ``flags``, ...).
        """
        self.meta[row] = meta
        fraction = meta.get("valid_fraction")
        self.rows.set_valid_fractions(np.array([row]), np.array([np.nan if fraction is None else fraction]))

    def of(self, row: int) -> Quality:
        """The valid fraction, the unreliable mark and the warnings of source ``row``.

        Parameters
        ----------
        row : int

        Returns
        -------
        Quality
        """
        fraction = float(self.rows.column("valid_fraction")[row])
        meta = self.meta.get(row)
        if meta is None:
            resolution = float(self.resolution[row])
            meta = {"resolution": resolution, "resolution_source": "catalog",
                    "resolution_is_upper_limit": bool(self.upper_limit[row])} if np.isfinite(resolution) else {}
        meta = {**meta, "valid_fraction": fraction if np.isfinite(fraction) else None}
        warnings = (*quality.quality_flags(meta), *trust.explain(self.rows.column("flags")[row]))
        return Quality(fraction, bool(self.rows.column("unreliable")[row]), warnings)

    def export_columns(self) -> dict[str, np.ndarray]:
        """``valid_fraction`` (NaN: unknown) and ``p_bhb_unreliable`` per catalog row, for the export."""
        return {"valid_fraction": self.rows.column("valid_fraction").copy(),
                "p_bhb_unreliable": self.rows.column("unreliable").copy()}


def _catalog_column(source: CandidateSource, name: str, n: int) -> np.ndarray:
    """A float column of the catalog (NaN where masked), or all NaN when the catalog lacks it."""
    if name not in source.catalog.colnames:
        return np.full(n, np.nan)
    try:
        values = np.ma.filled(np.ma.asarray(source.catalog[name], dtype=np.float64), np.nan)
    except (TypeError, ValueError):
        log.warning("catalog column %r of %s is not numeric: ignored", name, source.origin)
        return np.full(n, np.nan)
    return np.asarray(values, dtype=np.float64)
