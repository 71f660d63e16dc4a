"""Measured importance: how much P(BHB) changes when a part of the input is taken away.

Why: the model's own weights are no evidence of what it used. On the shipped model the SE band
weights are 0.19–0.21 for every star, the segment weights sit on segment 1 for every star and the
cross-attention is within a few per cent of uniform, while the panel stretched each to full
contrast. A part matters when removing it moves the score, so that is what is measured here,
the same way for any model that maps inputs to P(BHB):

* a band: the cutout band replaced by its own background (the border's median plus noise of the
  border's scatter);
* a spectral segment (the 7 of BATMM_SPEC) or a sliding window: the stretch replaced by the
  straight continuum between the medians at its two ends, so the lines in it are gone;
* a cutout region: a square patch of every band replaced by the background (occlusion).

Each importance is P(original) − P(perturbed): positive where the part pushes towards BHB.

Faithfulness (:func:`deletion_area`): remove the top-k % of spectral pixels ranked by an
attribution (k = 0, 10, …, 100), re-score, and take the area under P(original class) against k;
a faithful attribution drops the score fastest, so its area is below a random ranking's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bhb_viewer.core.grid import N_SEGMENTS, NPIX, SEGMENT_LENGTH

ScoreFn = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]  # (flux, ivar, cutouts) -> P(BHB)
BORDER = 6  # cutout pixels along each edge that give a band's background
PATCH = 8  # occlusion patch side (pixels)
WINDOW = 100  # sliding-window width (pixels, ≈ 230 Å at 4,000 Å)
STEPS = np.linspace(0.0, 1.0, 11)  # deletion fractions


def _segments() -> list[slice]:
    return [slice(i * SEGMENT_LENGTH, (i + 1) * SEGMENT_LENGTH) for i in range(N_SEGMENTS)]


def continuum_fill(flux: np.ndarray, ivar: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``flux`` with the pixels in ``mask`` (N × NPIX bool) replaced by the straight line between the
    medians of the valid pixels either side of each masked run (its edges where a run meets the end)."""
    out = np.array(flux, dtype=np.float64, copy=True)
    for i in range(len(out)):
        m = mask[i]
        if not m.any():
            continue
        valid = ~m & (ivar[i] > 0) & np.isfinite(out[i])
        x = np.flatnonzero(valid)
        if x.size < 2:  # everything removed: a flat spectrum at the star's median level
            level = np.median(out[i][(ivar[i] > 0) & np.isfinite(out[i])]) if (ivar[i] > 0).any() else 0.0
            out[i][m] = level
            continue
        # the median of 9 valid neighbours around each anchor, so a line core at a run's edge does not set the level
        smooth = np.convolve(out[i][x], np.ones(9) / 9.0, mode="same")
        out[i][m] = np.interp(np.flatnonzero(m), x, smooth)
    return out


def band_background(cutouts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per star and band, a background stamp: the border's median plus Gaussian noise of the border's scatter."""
    c = np.asarray(cutouts, dtype=np.float64)
    border = np.concatenate([c[..., :BORDER, :].reshape(*c.shape[:2], -1),
                             c[..., -BORDER:, :].reshape(*c.shape[:2], -1),
                             c[..., BORDER:-BORDER, :BORDER].reshape(*c.shape[:2], -1),
                             c[..., BORDER:-BORDER, -BORDER:].reshape(*c.shape[:2], -1)], axis=-1)
    level = np.median(border, axis=-1)
    scatter = 1.4826 * np.median(np.abs(border - level[..., None]), axis=-1)
    return level[..., None, None] + scatter[..., None, None] * rng.standard_normal(c.shape)


def band_importance(score: ScoreFn, flux, ivar, cutouts, rng: np.random.Generator) -> np.ndarray:
    """(N, 5): P(original) − P(band b replaced by its background)."""
    base = score(flux, ivar, cutouts)
    background = band_background(cutouts, rng)
    out = np.zeros((len(flux), cutouts.shape[1]))
    for b in range(cutouts.shape[1]):
        c = np.array(cutouts, dtype=np.float32, copy=True)
        c[:, b] = background[:, b]
        out[:, b] = base - score(flux, ivar, c)
    return out


def stretch_importance(score: ScoreFn, flux, ivar, cutouts, stretches: list[slice]) -> np.ndarray:
    """(N, len(stretches)): P(original) − P(each stretch of the spectrum replaced by the continuum)."""
    base = score(flux, ivar, cutouts)
    out = np.zeros((len(flux), len(stretches)))
    for j, s in enumerate(stretches):
        mask = np.zeros(np.shape(flux), dtype=bool)
        mask[:, s] = True
        out[:, j] = base - score(continuum_fill(flux, ivar, mask), ivar, cutouts)
    return out


def segment_importance(score: ScoreFn, flux, ivar, cutouts) -> np.ndarray:
    """(N, 7): the importance of BATMM_SPEC's seven wavelength segments."""
    return stretch_importance(score, flux, ivar, cutouts, _segments())


def window_importance(score: ScoreFn, flux, ivar, cutouts, width: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """(centres (W,), importance (N, W)) of sliding windows of ``width`` pixels, half-overlapping."""
    starts = np.arange(0, NPIX - width + 1, width // 2)
    imp = stretch_importance(score, flux, ivar, cutouts, [slice(s, s + width) for s in starts])
    return starts + width // 2, imp


def occlusion_rows(size: int, patch: int = PATCH) -> int:
    """Rows per star that :func:`occlusion_map` scores for cutouts of ``size`` × ``size`` pixels: the stamp
    itself and one per patch."""
    return 1 + (size // patch) ** 2


def occlusion_map(score: ScoreFn, flux, ivar, cutouts, rng: np.random.Generator, patch: int = PATCH) -> np.ndarray:
    """(N, H/patch, W/patch): P(original) − P(that patch of every band replaced by the background).

    One call of ``score`` on N × :func:`occlusion_rows` rows, each star's block together (the star's
    own stamp first, then its occluded copies in row-major patch order), so a model scores them in
    full batches; a scorer with per-star inputs of its own (a model's magnitudes) repeats them as
    ``np.repeat(mags, occlusion_rows(S, patch), axis=0)`` does. Memory grows as N × rows × the
    cutout: meant for the viewer's one star, or a few.
    """
    c = np.asarray(cutouts, dtype=np.float32)
    n, _, h, w = c.shape
    grid_h, grid_w = h // patch, w // patch
    k = 1 + grid_h * grid_w  # occlusion_rows(h, patch) for the usual square stamp
    background = band_background(c, rng).astype(np.float32)
    stamps = np.repeat(c[:, None], k, axis=1)  # (N, k, bands, H, W)
    for cell in range(grid_h * grid_w):
        i, j = divmod(cell, grid_w)
        rows, cols = slice(i * patch, (i + 1) * patch), slice(j * patch, (j + 1) * patch)
        stamps[:, 1 + cell, :, rows, cols] = background[:, :, rows, cols]
    p = score(np.repeat(flux, k, axis=0), np.repeat(ivar, k, axis=0), stamps.reshape(n * k, *c.shape[1:])).reshape(n, k)
    return (p[:, :1] - p[:, 1:]).reshape(n, grid_h, grid_w)


def pixel_ranking_from_windows(centres: np.ndarray, importance: np.ndarray, width: int = WINDOW) -> np.ndarray:
    """(N, NPIX) per-pixel attribution from window importances (each pixel: the mean of the windows over it)."""
    total = np.zeros((len(importance), NPIX))
    count = np.zeros(NPIX)
    for k, c in enumerate(centres):
        s = slice(c - width // 2, c + width // 2)
        total[:, s] += importance[:, k : k + 1]
        count[s] += 1
    return total / np.maximum(count, 1)


def deletion_curve(score: ScoreFn, flux, ivar, cutouts, attribution: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """(N, len(STEPS)): P(the star's predicted class) as the top fraction of pixels by ``attribution``
    (N × NPIX, higher first) is replaced by the continuum. ``towards`` (N,) is 1 for BHB-called stars."""
    order = np.argsort(-attribution, axis=1, kind="stable")
    out = np.zeros((len(flux), len(STEPS)))
    for k, frac in enumerate(STEPS):
        mask = np.zeros(np.shape(flux), dtype=bool)
        top = order[:, : int(round(frac * NPIX))]
        np.put_along_axis(mask, top, True, axis=1)
        p = score(continuum_fill(flux, ivar, mask), ivar, cutouts)
        out[:, k] = np.where(towards == 1, p, 1.0 - p)
    return out


def image_deletion_curve(score: ScoreFn, flux, ivar, cutouts, attribution: np.ndarray, towards: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    """As :func:`deletion_curve` over the cutout's pixels (all bands at once) ranked by an (N, H, W) map,
    removed pixels replaced by the background."""
    n, _, h, w = cutouts.shape
    order = np.argsort(-attribution.reshape(n, -1), axis=1, kind="stable")
    background = band_background(cutouts, rng)
    out = np.zeros((n, len(STEPS)))
    for k, frac in enumerate(STEPS):
        mask = np.zeros((n, h * w), dtype=bool)
        np.put_along_axis(mask, order[:, : int(round(frac * h * w))], True, axis=1)
        c = np.where(mask.reshape(n, 1, h, w), background, cutouts).astype(np.float32)
        p = score(flux, ivar, c)
        out[:, k] = np.where(towards == 1, p, 1.0 - p)
    return out


def deletion_area(curve: np.ndarray) -> float:
    """Mean over stars of the area under a deletion curve (0–1 on both axes, trapezoids)."""
    return float(np.mean(np.trapezoid(curve, STEPS, axis=1)))


def concentration(maps: np.ndarray, centre: int = 8) -> np.ndarray:
    """Share of each (N, H, W) map within the central ``centre``×``centre`` pixels, over the uniform share."""
    m = np.clip(np.asarray(maps, dtype=np.float64), 0.0, None)
    _, h, w = m.shape
    rows, cols = slice(h // 2 - centre // 2, h // 2 + centre // 2), slice(w // 2 - centre // 2, w // 2 + centre // 2)
    share = m[:, rows, cols].sum(axis=(1, 2)) / np.maximum(m.sum(axis=(1, 2)), 1e-30)
    return share / (centre * centre / (h * w))
