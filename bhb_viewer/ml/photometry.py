"""The photometry features a model with ``Arch.photometry`` reads: catalogue colours, never magnitudes.

Input is the (N, 15) array of :func:`bhb_viewer.core.readers.catalog_mags.catalog_magnitudes` (u,g,r,i,z,
their errors, their extinctions, NaN where missing; (N, 10) without extinctions is read too). Output
is (N, 12) float32:

* the four colours u−g, g−r, r−i, i−z, standardised with the training split's mean and standard
  deviation (0 where either band is missing); a ``dereddened`` scaler first removes the extinction
  where the row has it (reddening moves u−g as much as gravity does; a row without extinction keeps
  its observed colours), an older one reads observed colours as it was trained;
* a 0/1 "present" flag per colour, so a missing colour never reads as an average one;
* each colour's error sqrt(e1² + e2²), a band without an error counting :data:`DEFAULT_ERROR`
  (0 where the colour is missing), capped at :data:`MAX_ERROR`.

An apparent magnitude is never a feature: brightness says how far away a star is, not what it is,
and a model that learned it would learn the survey's selection instead (shifting all five
magnitudes by the same amount leaves the features unchanged, tested). Numpy only, like the rest
of the preprocessing: data-loader workers run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.readers.catalog_mags import (
    N_MAG_COLUMNS,
    N_PHOTOMETRY_COLUMNS,
    catalog_magnitudes,
    dereddened_bands,
    missing_magnitude_columns,
)

COLOURS = tuple(f"{a}-{b}" for a, b in pairwise(BANDS))  # u-g, g-r, r-i, i-z
N_COLOURS = len(COLOURS)
N_FEATURES = 3 * N_COLOURS  # standardised colours, present flags, errors
DEFAULT_ERROR = 0.05  # mag: a band given without an error
MAX_ERROR = 1.0  # mag: a colour this uncertain says nothing more by being worse
SCORING_BANDS = ("g", "r")  # a candidate without a cutout is scored from spectrum + colours only with these


@dataclass
class ColourScaler:
    """Colours to features with the training split's colour statistics (carried in the checkpoint)."""

    mean: np.ndarray  # (4,)
    std: np.ndarray  # (4,)
    dereddened: bool = False  # colours corrected with the catalogue's extinction where it has one

    @classmethod
    def fit(cls, mags: np.ndarray, dereddened: bool = True) -> ColourScaler:
        """Mean and standard deviation of each colour over the rows that have it (mean 0, sd 1 when none do)."""
        mean, std = present_mean_std(*_colours(mags, dereddened))
        return cls(mean, std, dereddened)

    def features(self, mags: np.ndarray) -> np.ndarray:
        """(N, 15) or (N, 10) magnitudes -> (N, 12) float32 features (see the module doc)."""
        colours, present = _colours(mags, self.dereddened)
        errors = np.asarray(mags, dtype=np.float64)[:, len(BANDS) : 2 * len(BANDS)]
        errors = np.where(np.isfinite(errors) & (errors > 0), errors, DEFAULT_ERROR)
        colour_err = np.minimum(np.hypot(errors[:, :-1], errors[:, 1:]), MAX_ERROR)
        scaled = (colours - self.mean) / self.std
        return np.concatenate([np.where(present, scaled, 0), present, np.where(present, colour_err, 0)],
                              axis=1).astype(np.float32)

    def to_config(self) -> dict[str, Any]:
        return {"features": "colours", "colours": list(COLOURS), "colour_mean": self.mean.tolist(),
                "colour_std": self.std.tolist(), "default_error": DEFAULT_ERROR, "max_error": MAX_ERROR,
                "dereddened": self.dereddened}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ColourScaler:
        """Rebuild from ``to_config()``'s dict; refuses (ValueError) other colours or bad statistics."""
        if config.get("features") != "colours" or tuple(config.get("colours", ())) != COLOURS:
            raise ValueError(f"photometry features {config.get('features')!r} of {config.get('colours')} are not "
                             f"this program's colours {list(COLOURS)}")
        mean, std = np.asarray(config["colour_mean"], np.float32), np.asarray(config["colour_std"], np.float32)
        if mean.shape != (N_COLOURS,) or std.shape != (N_COLOURS,) or not (std > 0).all():
            raise ValueError(f"colour statistics must be {N_COLOURS} means and positive stds, got {mean} and {std}")
        return cls(mean, std, bool(config.get("dereddened", False)))  # older checkpoints read observed colours


def present_mean_std(values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, float32 mean and standard deviation over the rows where ``present`` (0 and 1 where none
    is; a standard deviation under 1e-6 reads 1), for standardising features that may be missing."""
    count = np.maximum(present.sum(axis=0), 1)
    mean = np.where(present, values, 0).sum(axis=0) / count
    std = np.sqrt(np.where(present, (values - mean) ** 2, 0).sum(axis=0) / count)
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def colour_columns(bands: tuple[str, ...]) -> list[int]:
    """The feature columns (value, flag and error) of every colour that uses one of ``bands``:
    zeroing them is what the features of magnitudes lacking those bands look like."""
    hit = [k for k, colour in enumerate(COLOURS) if set(colour.split("-")) & set(bands)]
    return [k + part * N_COLOURS for part in range(3) for k in hit]


def has_colours(mags: np.ndarray | None, n: int) -> np.ndarray:
    """Per row: whether it has the SCORING_BANDS magnitudes (enough to score it from spectrum + colours)."""
    if mags is None:
        return np.zeros(n, bool)
    mags = np.asarray(mags, dtype=np.float64)
    return np.isfinite(mags[:, [BANDS.index(b) for b in SCORING_BANDS]]).all(axis=1)


def no_magnitudes(n: int) -> np.ndarray:
    """(n, 15) NaN: magnitudes of rows that have none."""
    return np.full((n, N_MAG_COLUMNS), np.nan)


def dataset_magnitudes(dataset: Any) -> np.ndarray:
    """A data set's catalogue magnitudes (N, 15) for training; ValueError naming the data set and the
    columns when its catalogue lacks any (a photometry model learns from every band)."""
    missing = missing_magnitude_columns(dataset.catalog)
    if missing:
        raise ValueError(f"data set {Path(dataset.path).name} ({dataset.path}) has no catalogue column(s) "
                         f"{', '.join(missing)}: a model with photometry trains on u,g,r,i,z and their errors")
    return catalog_magnitudes(dataset.catalog)


def _colours(mags: np.ndarray, dereddened: bool) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) adjacent-band colours and (N, 4) float 0/1 flags of where both bands are present."""
    mags = np.asarray(mags, dtype=np.float64)
    if mags.ndim != 2 or mags.shape[1] not in (N_MAG_COLUMNS, N_PHOTOMETRY_COLUMNS):
        raise ValueError(f"magnitudes must be N×{N_MAG_COLUMNS} (u,g,r,i,z, their errors and extinctions) or "
                         f"N×{N_PHOTOMETRY_COLUMNS} (without extinctions), got {mags.shape}")
    bands = dereddened_bands(mags) if dereddened else mags[:, : len(BANDS)]
    colours = bands[:, :-1] - bands[:, 1:]
    present = np.isfinite(colours)
    return np.where(present, colours, 0.0), present.astype(np.float64)
