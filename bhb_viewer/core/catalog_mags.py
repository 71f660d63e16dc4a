"""A candidate table's u,g,r,i,z magnitudes and their errors, as one (N, 10) array for the model.

The Balmer jump that tells a BHB star from an A dwarf or a blue straggler lies below the
spectra's 4,000 Å (SDSS spectra start near 3,800 Å, the model's grid at 4,000 Å), but u−g measures
it; so a model that reads colours takes them from the catalogue. Catalogues name the columns in two
ways: this project's (``u``…``z`` with ``u_err``…``z_err``, what the simulator writes) and SDSS's
(``psfMag_u``… with ``psfMagErr_u``…). A band a table lacks, or a value no survey gives (SDSS's
-9999 and friends, masked cells), is NaN: the features built from it say "missing" rather than
inventing a colour.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from bhb_viewer.core.grid import BANDS

MAG_COLUMNS = (*BANDS, *(f"{b}_err" for b in BANDS))  # the array's columns, in order
N_MAG_COLUMNS = len(MAG_COLUMNS)
SDSS_NAMES = {**{b: f"psfMag_{b}" for b in BANDS}, **{f"{b}_err": f"psfMagErr_{b}" for b in BANDS}}
MAG_RANGE = (0.0, 40.0)  # a magnitude outside is a catalogue's "no measurement" code, not a star


def column_for(colnames: list[str], name: str) -> str | None:
    """The table column holding ``name`` (one of MAG_COLUMNS) under either naming, or None."""
    for candidate in (name, SDSS_NAMES[name]):
        if candidate in colnames:
            return candidate
    return None


def missing_magnitude_columns(table: Table) -> list[str]:
    """MAG_COLUMNS the table has under neither naming (empty when it has them all)."""
    return [name for name in MAG_COLUMNS if column_for(table.colnames, name) is None]


def catalog_magnitudes(table: Table) -> np.ndarray:
    """(N, 10) float64: u,g,r,i,z then their errors, NaN where the table has no such column or no value.

    Parameters
    ----------
    table : Table
        A candidate table (a data set's catalogue, a catalogue file).

    Returns
    -------
    ndarray
        One row per table row, columns in :data:`MAG_COLUMNS` order.
    """
    out = np.full((len(table), N_MAG_COLUMNS), np.nan)
    for j, name in enumerate(MAG_COLUMNS):
        column = column_for(table.colnames, name)
        if column is not None:
            out[:, j] = _floats(table[column])
    mags, errors = out[:, : len(BANDS)], out[:, len(BANDS) :]
    mags[(mags <= MAG_RANGE[0]) | (mags >= MAG_RANGE[1])] = np.nan
    errors[~(errors > 0)] = np.nan
    return out


def fill_missing_bands(mags: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``mags`` with each band it lacks (magnitude NaN) taken, magnitude and error together, from ``fallback``.

    A magnitude is never paired with another source's error; used where a candidate list lacks
    magnitudes its data set's catalogue has.
    """
    mags, fallback = np.asarray(mags, dtype=np.float64), np.asarray(fallback, dtype=np.float64)
    take = np.tile(np.isnan(mags[:, : len(BANDS)]), 2)
    return np.where(take, fallback, mags)


def _floats(column) -> np.ndarray:
    """A table column as float64 with masked cells, non-numbers and infinities NaN."""
    try:
        data = np.ma.masked_array(column, dtype=np.float64).filled(np.nan)
    except (TypeError, ValueError):
        return np.full(len(column), np.nan)
    return np.where(np.isfinite(data), data, np.nan)


def filled_bands(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per row, the letters of the bands ``after`` has and ``before`` lacked (e.g. ``"gri"``), for provenance."""
    gained = np.isnan(np.asarray(before)[:, : len(BANDS)]) & ~np.isnan(np.asarray(after)[:, : len(BANDS)])
    return np.array(["".join(b for b, g in zip(BANDS, row, strict=True) if g) for row in gained], dtype=f"<U{len(BANDS)}")
