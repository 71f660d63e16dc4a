"""What the model looked at, drawn on the spectrum plot: shaded segments and the per-pixel saliency.

Both live in the plot's overlay view (0–1 high, sharing the wavelength axis): the 7 segments shade
its whole height, the saliency has its band along the bottom, under the flux and never over it.
Opacities follow the fixed scale of ``importance_scale``, never rescaled to the largest value.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from bhb_viewer.core import grid
from bhb_viewer.gui.widgets.importance_scale import (
    ABOVE_RGB,
    AWAY_RGB,
    BELOW_RGB,
    FLAT_MARGIN,
    TOWARDS_RGB,
    departure_strength,
    measured_strength,
    uniform_departure,
)
from bhb_viewer.gui.widgets.spectrum_view import SALIENCY_BAND, decimated

SEGMENT_MAX_ALPHA = 110  # a segment's opacity (of 255) at full strength on the fixed scale (importance_scale)
SALIENCY_PEN = pg.mkPen(230, 80, 230, width=1)
NO_WEIGHTS = "no segment weights"


def _segment_values(values: np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.shape != (grid.N_SEGMENTS,):
        raise ValueError(f"{what} must have shape ({grid.N_SEGMENTS},), got {v.shape}")
    return v


class SegmentShading:
    """The 7 segments of the model grid, each shaded over the plot's whole height.

    The setters return what the shading shows, for the segments toggle's tooltip.
    """

    def __init__(self, overlay: pg.ViewBox, grid_wave: np.ndarray) -> None:
        edges = [grid_wave[j * grid.SEGMENT_LENGTH] for j in range(grid.N_SEGMENTS + 1)]
        self.regions: list[QGraphicsRectItem] = []
        for j in range(grid.N_SEGMENTS):
            region = QGraphicsRectItem(QRectF(edges[j], -1.0, edges[j + 1] - edges[j], 3.0))
            region.setPen(QPen(Qt.PenStyle.NoPen))
            region.setBrush(QColor(*TOWARDS_RGB, 0))
            overlay.addItem(region, ignoreBounds=True)
            self.regions.append(region)

    def set_visible(self, on: bool) -> None:
        for region in self.regions:
            region.setVisible(on)

    def clear(self) -> str:
        for region in self.regions:
            region.setBrush(QColor(*TOWARDS_RGB, 0))
        return NO_WEIGHTS

    def set_weights(self, weights: np.ndarray) -> str:
        """Shade by the model's own segment weights as departures from the uniform 1/7 (blue above,
        grey below).

        Why not in proportion to the largest: on the shipped model every star puts ≈ 1 on segment 1,
        which at full contrast reads as a finding about the star; against 1/7 it reads as what it is.
        """
        w = _segment_values(weights, "segment weights")
        departure, flat = uniform_departure(w)
        strength = departure_strength(departure)
        for j, region in enumerate(self.regions):
            rgb = ABOVE_RGB if departure[j] >= 0 else BELOW_RGB
            region.setBrush(QColor(*rgb, 0 if flat else round(SEGMENT_MAX_ALPHA * strength[j])))
        return (f"model's internal segment weights against uniform (1/{grid.N_SEGMENTS}), blue above, grey below"
                + (f" — flat (all within {FLAT_MARGIN:.0%}), not drawn" if flat else "")
                + "; blue to red: " + ", ".join(f"{x:.0%}" for x in w / max(w.sum(), 1e-30)))

    def set_importance(self, importance: np.ndarray) -> str:
        """Shade by measured importance (ΔP(BHB) when the segment is replaced by the continuum): green
        towards BHB, red away; |ΔP| of 0.5 is the most opaque."""
        v = _segment_values(importance, "segment importance")
        strength = measured_strength(v)
        for j, region in enumerate(self.regions):
            rgb = TOWARDS_RGB if v[j] >= 0 else AWAY_RGB
            region.setBrush(QColor(*rgb, round(SEGMENT_MAX_ALPHA * strength[j])))
        return ("measured: ΔP(BHB) when each segment is replaced by the continuum, "
                "blue to red: " + ", ".join(f"{x:+.2f}" for x in v))


class SaliencyTrace:
    """Per-pixel saliency on the model grid, ÷ its maximum, in its band along the bottom of the plot."""

    def __init__(self, overlay: pg.ViewBox, grid_wave: np.ndarray) -> None:
        self._grid_wave = grid_wave
        self.curve = decimated(pg.PlotDataItem(pen=SALIENCY_PEN))
        self.curve.setClipToView(True)
        overlay.addItem(self.curve)

    def set(self, saliency: np.ndarray | None) -> None:
        """3522 values (3521, the segments' pixels, also accepted); None draws nothing."""
        if saliency is None:
            self.curve.setData([], [])
            return
        s = np.asarray(saliency, dtype=float)
        usable = (grid.NPIX, grid.N_SEGMENTS * grid.SEGMENT_LENGTH)
        if s.ndim != 1 or s.size not in usable:
            raise ValueError(f"saliency must be 1-D with {usable[0]} or {usable[1]} values, got shape {s.shape}")
        top = np.nanmax(np.abs(s)) if np.isfinite(s).any() else 0.0
        self.curve.setData(self._grid_wave[: s.size], SALIENCY_BAND * (s / top if top > 0 else s))

    def values(self) -> np.ndarray | None:
        """The saliency as drawn, ÷ its maximum (0–1), or None."""
        y = self.curve.getOriginalDataset()[1]
        return None if y is None or not len(y) else y / SALIENCY_BAND
