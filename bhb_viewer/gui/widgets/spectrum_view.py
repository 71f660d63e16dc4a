"""The spectrum plot's axes: who sets the ranges, and how the height and the pixels are shared out.

The height is shared so that nothing hides the spectrum: the saliency has a band along the
bottom, the flux the middle and the line labels rows along the top. The overlays live in a second
view with a fixed 0–1 height that shares the wavelength axis, so a new star's flux range moves
only the flux curves. Curves are decimated to the view's pixel width (a min and a max per pixel
column, so no line is lost).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

SALIENCY_BAND = 0.15  # of the plot's height, along the bottom
DECIMATE_SAMPLES_PER_PX = 1.0  # pyqtgraph's "peak" then draws a min and a max per pixel column
EDGE_GAP = 0.02  # of the height, between the flux and each band


def decimated(curve: pg.PlotDataItem) -> pg.PlotDataItem:
    """``curve`` drawn with about one min and one max per pixel column of the view (pyqtgraph's own
    automatic factor keeps ~5 samples per pixel: 3,522 points for a 700-px plot)."""
    curve.opts["autoDownsampleFactor"] = DECIMATE_SAMPLES_PER_PX
    curve.setDownsampling(auto=True, method="peak")
    return curve


class PlotView:
    """The flux view's ranges, set here rather than by pyqtgraph's auto-range, which decides at paint
    time and so paints every candidate twice; and the overlay view beside it.

    The wavelength zoom a reviewer chose is kept across candidates until :meth:`follow_data`.
    """

    def __init__(self, item: pg.PlotItem) -> None:
        self.item = item
        self.flux_view: pg.ViewBox = item.getViewBox()
        self.following = True  # until the reviewer zooms or pans
        self.flux_view.sigRangeChangedManually.connect(self._stop_following)
        self.overlay = self._make_overlay()

    def _make_overlay(self) -> pg.ViewBox:
        """A view behind the flux, sharing its wavelength axis, with a fixed 0–1 vertical range.

        Segment shading, line markers, labels and saliency live here: a new star's flux range then
        moves only the flux curves, not 30-odd markers and labels (the bulk of a switch's cost).
        """
        item = self.item
        view = pg.ViewBox(enableMouse=False, enableMenu=False)
        view.setZValue(-100)
        item.scene().addItem(view)
        item.showAxis("right")
        axis = item.getAxis("right")
        axis.linkToView(view)
        axis.setLabel("saliency (÷ its maximum)")
        axis.setTicks([[(0.0, "0"), (SALIENCY_BAND / 2, "0.5"), (SALIENCY_BAND, "1")]])
        view.setXLink(item)
        view.disableAutoRange()
        view.setYRange(0.0, 1.0, padding=0)

        def follow() -> None:
            view.setGeometry(item.vb.sceneBoundingRect())
            view.linkedViewChanged(item.vb, view.XAxis)

        item.vb.sigResized.connect(follow)
        return view

    def _stop_following(self) -> None:
        self.following = False

    def follow_data(self) -> None:
        """Fit the wavelength range to the next spectrum again (after a reset or a range switch)."""
        self.following = True

    def settle(self) -> None:
        """Apply pending view transforms now: pyqtgraph defers them to paint time, where the
        geometry changes they cause schedule a second paint of every candidate."""
        self.flux_view.updateMatrix()
        self.overlay.updateMatrix()

    def x_range(self) -> tuple[float, float]:
        x0, x1 = self.flux_view.viewRange()[0]
        return float(x0), float(x1)

    def width_px(self) -> float:
        return max(1.0, self.flux_view.width())

    def height_px(self) -> float:
        return max(1.0, self.flux_view.height())

    def decimation(self, wave: np.ndarray) -> int:
        """Samples of ``wave`` per screen pixel column at the current zoom (≥ 1)."""
        if wave.size < 2:
            return 1
        x0, x1 = self.x_range()
        per_sample = (wave[-1] - wave[0]) / (wave.size - 1)
        return max(1, int((x1 - x0) / per_sample / self.width_px()))

    def fit(self, wave: np.ndarray, shown: np.ndarray, top_band: float) -> None:
        """Fit the flux visible in the wavelength range into the middle of the plot, between the
        saliency band below and ``top_band`` (the label rows' share of the height) above."""
        if wave.size == 0:
            return
        if self.following:
            self.flux_view.setXRange(wave[0], wave[-1], padding=0.01)
        x0, x1 = self.x_range()
        visible = shown[(wave >= x0) & (wave <= x1) & np.isfinite(shown)]
        if visible.size:
            lo, hi = float(visible.min()), float(visible.max())
            span = (hi - lo) or max(abs(hi), 1.0)
            total = span / (1.0 - SALIENCY_BAND - top_band - 2 * EDGE_GAP)
            self.flux_view.setYRange(lo - (SALIENCY_BAND + EDGE_GAP) * total, hi + (top_band + EDGE_GAP) * total,
                                     padding=0)
