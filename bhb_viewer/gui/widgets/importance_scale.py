"""One scale for the overlays that say what mattered to the score: the spectrum's segment shading, the
band strip and the cutout overlay, so a colour and a strength mean the same thing on all three.

* **Measured importance** (ΔP(BHB) when a part of the input is taken away, ``ml.importance``) is green
  where the part pushes towards BHB and red where it pushes away, its strength |ΔP| on a fixed scale,
  never stretched to the star's largest: a weak star's overlay stays faint.
* **The model's own weights** (the SE band weights, the segment weights) are shares that sum to 1. On
  the shipped model they are 0.17–0.23 against 1/5, the same for every star (bands), or ≈ 1 on one
  segment for every star (docs/results/faithfulness.md). Stretched to full contrast either looks like a
  finding; so they are drawn as departures from the uniform share 1/n, on a fixed symmetric scale
  (full strength at 0 or at twice uniform), and called flat when every one is within the margin.
"""

from __future__ import annotations

import numpy as np

TOWARDS_RGB = (80, 200, 120)  # measured: taking the part away lowers P(BHB), so it pushes towards BHB
AWAY_RGB = (220, 80, 80)  # measured: taking it away raises P(BHB)
ABOVE_RGB = (90, 170, 255)  # model's weight above the uniform share (not a direction: the model's emphasis)
BELOW_RGB = (150, 150, 150)  # model's weight below the uniform share
FULL_DELTA = 0.5  # measured |ΔP| drawn at full strength
FULL_DEPARTURE = 1.0  # a weight departing from 1/n by 100 % of 1/n (0, or 2/n) is drawn at full strength
FLAT_MARGIN = 0.10  # model weights all within 10 % of 1/n are "flat"


def measured_strength(delta: np.ndarray) -> np.ndarray:
    """|ΔP| ÷ :data:`FULL_DELTA`, clipped to [0, 1]; NaN (not measured) is 0."""
    return np.clip(np.abs(np.nan_to_num(np.asarray(delta, dtype=float))) / FULL_DELTA, 0.0, 1.0)


def uniform_departure(weights: np.ndarray) -> tuple[np.ndarray, bool]:
    """(each weight's share ÷ (1/n) − 1, whether all are within :data:`FLAT_MARGIN` of 0).

    The weights are renormalised to sum 1 first; all-zero or non-finite weights count as uniform.
    """
    w = np.nan_to_num(np.asarray(weights, dtype=float), nan=0.0)
    total = w.sum()
    if not np.isfinite(total) or total <= 0:
        return np.zeros_like(w), True
    departure = w * len(w) / total - 1.0
    return departure, bool(np.abs(departure).max() < FLAT_MARGIN)


def departure_strength(departure: np.ndarray) -> np.ndarray:
    """|departure| ÷ :data:`FULL_DEPARTURE`, clipped to [0, 1]."""
    return np.clip(np.abs(np.asarray(departure, dtype=float)) / FULL_DEPARTURE, 0.0, 1.0)
