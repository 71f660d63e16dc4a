"""A candidate table's u,g,r,i,z magnitudes, their errors and extinctions, as one (N, 15) array for the model.

The Balmer jump that tells a BHB star from an A dwarf or a blue straggler lies below the
spectra's 4,000 Å (SDSS spectra start near 3,800 Å, the model's grid at 4,000 Å), but u−g measures
it; so a model that reads colours takes them from the catalogue. Catalogues name the columns in two
ways: this project's (``u``…``z`` with ``u_err``…``z_err``, what the simulator writes) and SDSS's
(``psfMag_u``… with ``psfMagErr_u``…). A band a table lacks, or a value no survey gives (SDSS's
-9999 and friends, masked cells), is NaN: the features built from it say "missing" rather than
inventing a colour.

Reddening moves u−g by as much as gravity does (E(u−g) ≈ 1.36 E(B−V) against ~0.13 mag between a
BHB star and an A dwarf), so the array also carries each band's extinction where the table gives it:
SDSS's ``extinction_u``… or an ``ebv`` column (a dust map's E(B−V)) times SDSS's coefficients; 0
when the table says its magnitudes are already corrected (``extinction_corrected`` in its meta).
A model that reads colours decides whether to use it (``ml.photometry.ColourScaler``).
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from bhb_viewer.core.grid import BANDS

MAG_COLUMNS = (*BANDS, *(f"{b}_err" for b in BANDS))  # the array's first columns, in order
EXTINCTION_COLUMNS = tuple(f"extinction_{b}" for b in BANDS)  # then A_b in mag (SDSS's names)
N_MAG_COLUMNS = len(MAG_COLUMNS) + len(EXTINCTION_COLUMNS)
N_PHOTOMETRY_COLUMNS = len(MAG_COLUMNS)  # magnitudes and errors alone (e.g. synthesised from a spectrum)
# A_b / E(B−V) of the SDSS pipeline's extinction_b (Schlegel, Finkbeiner & Davis 1998, Table 6, R_V = 3.1)
SDSS_EXTINCTION_PER_EBV = {"u": 5.155, "g": 3.793, "r": 2.751, "i": 2.086, "z": 1.479}
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
    """(N, 15) float64: u,g,r,i,z, their errors, then their extinctions, NaN where the table has no such
    column or no value (see the module doc for the extinction).

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
    nb = len(BANDS)
    mags, errors = out[:, :nb], out[:, nb : 2 * nb]
    mags[(mags <= MAG_RANGE[0]) | (mags >= MAG_RANGE[1])] = np.nan
    errors[~(errors > 0)] = np.nan
    out[:, 2 * nb :] = catalog_extinction(table)
    return out


def catalog_extinction(table: Table) -> np.ndarray:
    """(N, 5) A_u…A_z in mag: the table's ``extinction_*`` columns, else its ``ebv`` times SDSS's
    coefficients, 0 where its meta says the magnitudes are corrected, NaN where unknown."""
    out = np.full((len(table), len(BANDS)), np.nan)
    if table.meta.get("extinction_corrected", False):
        return np.zeros_like(out)
    ebv = _floats(table["ebv"]) if "ebv" in table.colnames else np.full(len(table), np.nan)
    for j, (b, column) in enumerate(zip(BANDS, EXTINCTION_COLUMNS, strict=True)):
        out[:, j] = _floats(table[column]) if column in table.colnames else SDSS_EXTINCTION_PER_EBV[b] * ebv
    out[~(out >= 0)] = np.nan  # a negative extinction is a catalogue's "no value" code
    return out


def dereddened_bands(mags: np.ndarray) -> np.ndarray:
    """(N, 5) u…z of a (N, 15) array with each band's extinction removed where the row has one (as
    observed where it has none); a (N, 10) array, which carries no extinction, as observed."""
    mags = np.asarray(mags, dtype=np.float64)
    bands = mags[:, : len(BANDS)]
    if mags.shape[1] < N_MAG_COLUMNS:
        return bands
    extinction = mags[:, 2 * len(BANDS) :]
    return bands - np.where(np.isfinite(extinction), extinction, 0.0)


def fill_missing_bands(mags: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``mags`` with each band it lacks (magnitude NaN) taken, magnitude and error together, from ``fallback``.

    A magnitude is never paired with another source's error; used where a candidate list lacks
    magnitudes its data set's catalogue (or a spectrum) has. Extinctions, where both arrays carry
    them, are filled wherever ``mags`` lacks one: the dust in front of a star is the star's own.
    """
    mags, fallback = np.asarray(mags, dtype=np.float64), np.asarray(fallback, dtype=np.float64)
    nb, out = len(BANDS), mags.copy()
    take = np.tile(np.isnan(mags[:, :nb]), 2)
    out[:, : 2 * nb] = np.where(take, fallback[:, : 2 * nb], mags[:, : 2 * nb])
    if mags.shape[1] > 2 * nb and fallback.shape[1] > 2 * nb:
        out[:, 2 * nb :] = np.where(np.isnan(mags[:, 2 * nb :]), fallback[:, 2 * nb :], mags[:, 2 * nb :])
    return out


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
    return np.array(
        ["".join(b for b, g in zip(BANDS, row, strict=True) if g) for row in gained], dtype=f"<U{len(BANDS)}"
    )
