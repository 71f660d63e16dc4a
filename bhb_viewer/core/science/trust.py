"""When a score can't be trusted: short flags with their reasons, for every scored star.

A network answers for any input, and confidently: a galaxy at z = 0.089 scored P(BHB) 0.67 with
clean quality columns. So every score carries a ``flags`` column of short words, ``;``-separated:

* ``ood:…`` — not a star like the training set's: ``poor-fit`` (the best engine template's χ²_ν
  above :data:`CHI2_LIMIT`), ``emission`` (bins far above template and continuum), ``velocity``
  (the cross-correlation peak at the ±1,000 km/s search limit, beyond stellar velocities),
  ``grid-edge`` (best template on the bank's Teff or low-log g edge: cooler, hotter or more
  extended than any training star), ``embedding`` (far from the training set in the model's own
  embedding, core of :mod:`bhb_viewer.ml.embedding_stats`);
* ``sky:…`` — outside the training sky: ``colour`` (u−g or g−r), ``g``, ``snr`` (below the range
  only: a cleaner spectrum than any training star's is no reason for doubt), ``params`` (fitted
  Teff, log g or [Fe/H]) outside the ranges the checkpoint's ``training_sky.json`` records;
* ``gappy:F`` — a fraction F of the window's pixels is invalid (flagged below
  core.readers.quality.MIN_VALID_FRACTION valid);
* ``balmer:…`` — the classical Balmer fit failed (``no-line``, ``shallow``, ``limit``, ``bound``,
  ``continuum``); the full reason is the ``balmer_reason`` column.

``ood:`` and ``sky:`` flags mark a score as out of distribution (:func:`is_ood`): a model-accepted
export leaves such a star out unless a person called it BHB.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bhb_viewer.core.readers.quality import MIN_VALID_FRACTION, valid_fraction
from bhb_viewer.core.science.stellar_fit import MAX_RV_KMS, fit_spectra

CHI2_LIMIT = 3.0  # χ²_ν of the best template; the simulated sky's 99.9th percentile is ≈ 1.8
EMISSION_MIN_BINS = 3
VELOCITY_LIMIT_KMS = 0.95 * MAX_RV_KMS
EMBEDDING_LIMIT = 1.0  # embedding_distance is in units of the training stars' 99.9th percentile
RANGE_MARGIN = 0.1  # of a training range's width, added on either side
TRAINING_SKY_FILE = "training_sky.json"
FLAGS_DTYPE = "<U160"
OOD_PREFIXES = ("ood:", "sky:")
SKY_QUANTITIES = ("u_g", "g_r", "g", "snr", "teff_fit", "logg_fit", "feh_fit")
WORDS = {
    "ood:poor-fit": "no star template fits it (χ²_ν above {chi2:g})",
    "ood:emission": "it has emission lines",
    "ood:velocity": "its velocity is beyond a star's (≥ {velocity:,.0f} km/s)",
    "ood:grid-edge": "its best star template lies at the edge of the library (too cool, hot or extended)",
    "ood:embedding": "the model has seen nothing like it (far from the training set in its embedding)",
    "sky:colour": "its colours lie outside the training sky's",
    "sky:g": "its g magnitude lies outside the training sky's",
    "sky:snr": "its S/N is below the training sky's",
    "sky:params": "its fitted Teff, log g or [Fe/H] lie outside the training sky's",
}
BALMER_WORDS = (("not detected", "no-line"), ("shallower", "shallow"), ("search limit", "limit"),
                ("bound", "bound"), ("continuum", "continuum"), ("valid", "few-pixels"))


@dataclass(frozen=True)
class TrainingSky:
    """The ranges a checkpoint's training stars span, and whether it has embedding statistics."""

    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    embedding: bool = False  # whether the checkpoint has embedding statistics (embedding_distance)
    n_stars: int = 0
    source: str = ""

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / TRAINING_SKY_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> TrainingSky | None:
        """The checkpoint's training-sky record, or None for a checkpoint written before it existed."""
        path = Path(folder) / TRAINING_SKY_FILE
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        return cls({k: (float(v[0]), float(v[1])) for k, v in raw.get("ranges", {}).items()},
                   bool(raw.get("embedding", False)), int(raw.get("n_stars", 0)), str(raw.get("source", "")))


def training_ranges(values: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Each quantity's 0.1–99.9 % range over the training stars, widened by :data:`RANGE_MARGIN`."""
    out = {}
    for key, v in values.items():
        v = np.asarray(v, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size < 10:
            continue
        lo, hi = np.percentile(v, [0.1, 99.9])
        pad = RANGE_MARGIN * (hi - lo)
        out[key] = (float(lo - pad), float(hi + pad))
    return out


def sky_quantities(fit: Mapping[str, np.ndarray], mags: np.ndarray | None, snr: np.ndarray) -> dict[str, np.ndarray]:
    """The quantities the training sky is described by, from a fit, (N, 10 or 15) magnitudes and S/N."""
    n = len(snr)
    m = np.full((n, 10), np.nan) if mags is None else np.asarray(mags, dtype=np.float64)
    return {"u_g": m[:, 0] - m[:, 1], "g_r": m[:, 1] - m[:, 2], "g": m[:, 1], "snr": np.asarray(snr, np.float64),
            **{k: np.asarray(fit[k], np.float64) for k in ("teff_fit", "logg_fit", "feh_fit")}}


def median_snr(flux: np.ndarray, ivar: np.ndarray, step: int = 4) -> np.ndarray:
    """Median per-pixel S/N over each spectrum's valid pixels (NaN without any), from every ``step``-th pixel."""
    f, iv = np.asarray(flux, np.float64)[:, ::step], np.asarray(ivar, np.float64)[:, ::step]
    ok = np.isfinite(f) & np.isfinite(iv) & (iv > 0)
    snr = np.where(ok, f * np.sqrt(np.where(ok, iv, 0.0)), np.nan)
    with np.errstate(all="ignore"):
        out = np.nanmedian(snr, axis=1) if snr.shape[1] else np.full(len(snr), np.nan)
    return np.where(ok.any(axis=1), out, np.nan)


def _balmer_word(reason: str) -> str:
    for needle, word in BALMER_WORDS:
        if needle in reason:
            return word
    return "failed"


def flags(columns: Mapping[str, np.ndarray], sky: TrainingSky | None, quantities: Mapping[str, np.ndarray] | None = None
          ) -> np.ndarray:
    """The ``flags`` string of every row, from the fit, quality, Balmer and embedding columns present.

    ``quantities`` (:func:`sky_quantities`) are compared with the training sky's ranges when both
    are known; a column that is absent contributes nothing.
    """
    n = len(next(iter(columns.values())))
    words: list[list[str]] = [[] for _ in range(n)]

    def add(mask: np.ndarray, word: str | np.ndarray) -> None:
        for i in np.flatnonzero(mask):
            words[i].append(word if isinstance(word, str) else str(word[i]))

    def col(name: str) -> np.ndarray | None:
        return np.asarray(columns[name]) if name in columns else None

    if (chi2 := col("chi2_fit")) is not None:
        add(np.nan_to_num(chi2, nan=0.0) > CHI2_LIMIT, "ood:poor-fit")
    if (emission := col("emission_bins")) is not None:
        add(emission >= EMISSION_MIN_BINS, "ood:emission")
    if (rv := col("rv_fit")) is not None:
        add(np.abs(np.nan_to_num(rv)) >= VELOCITY_LIMIT_KMS, "ood:velocity")
    if (edge := col("fit_edge")) is not None:
        add(edge.astype(bool), "ood:grid-edge")
    if (dist := col("embedding_distance")) is not None:
        add(np.nan_to_num(dist, nan=0.0) > EMBEDDING_LIMIT, "ood:embedding")
    if sky is not None and quantities is not None:
        for word, keys in (("sky:colour", ("u_g", "g_r")), ("sky:g", ("g",)), ("sky:snr", ("snr",)),
                           ("sky:params", ("teff_fit", "logg_fit", "feh_fit"))):
            outside = np.zeros(n, bool)
            for key in keys:
                if key in sky.ranges and key in quantities:
                    v = np.asarray(quantities[key], np.float64)
                    lo, hi = sky.ranges[key]
                    outside |= np.isfinite(v) & ((v < lo) | ((v > hi) if key != "snr" else False))
            add(outside, word)
    if (valid := col("valid_fraction")) is not None:
        gappy = np.nan_to_num(valid, nan=1.0) < MIN_VALID_FRACTION
        add(gappy, np.char.add("gappy:", np.char.mod("%.2f", 1.0 - np.nan_to_num(valid, nan=1.0))))
    if (ok := col("balmer_ok")) is not None and (reason := col("balmer_reason")) is not None:
        add(~ok.astype(bool), np.array(["balmer:" + _balmer_word(str(r)) for r in reason]))
    return np.array([";".join(w) for w in words], dtype=FLAGS_DTYPE)


def is_ood(flag_strings: np.ndarray | list[str]) -> np.ndarray:
    """Rows whose flags say the score is out of distribution (any ``ood:`` or ``sky:`` word)."""
    s = np.asarray(flag_strings, dtype=str)
    out = np.zeros(s.shape, bool)
    for prefix in OOD_PREFIXES:
        out |= np.char.find(s, prefix) >= 0
    return out


def explain(flag_string: str) -> list[str]:
    """The flags of one star in words, for the verdict panel and the CLI."""
    out = []
    for word in filter(None, str(flag_string).split(";")):
        if word in WORDS:
            out.append(WORDS[word].format(chi2=CHI2_LIMIT, velocity=VELOCITY_LIMIT_KMS))
        elif word.startswith("gappy:"):
            out.append(f"{float(word.split(':')[1]):.0%} of the spectrum's pixels are missing")
        elif word.startswith("balmer:"):
            out.append(f"the Balmer-line fit failed ({word.split(':')[1]})")
        else:
            out.append(word)
    return out


def measure(
    flux: np.ndarray, ivar: np.ndarray, mags: np.ndarray | None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The second opinion's columns (fit, valid fraction) and the sky quantities of spectra on the grid."""
    fit = fit_spectra(flux, ivar)
    fit["valid_fraction"] = np.atleast_1d(valid_fraction(ivar)).astype(np.float64)
    return fit, sky_quantities(fit, mags, median_snr(flux, ivar))
