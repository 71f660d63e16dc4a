"""The line under the spectrum plot that says what is under the cursor: λ, the flux ± 1σ as drawn
(smoothed, if smoothing is on) and the nearest marked line, so a reviewer can read a feature's
wavelength and its offset from the line it might be without zooming in."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QLabel, QSizePolicy

from bhb_viewer.core.science.lines import Line
from bhb_viewer.gui.widgets.spectrum_curves import FluxCurves


class CursorReadout(QLabel):
    """Follows the mouse over ``plot``'s flux view; reads the values from ``curves``."""

    def __init__(self, plot: pg.PlotWidget, curves: FluxCurves, lines: Sequence[Line]) -> None:
        super().__init__("")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # never widens the window
        self.setToolTip("cursor: wavelength, flux ± 1σ, and the nearest marked line")
        self._view = plot.getPlotItem().getViewBox()
        self._curves = curves
        self._lines = lines
        plot.scene().sigMouseMoved.connect(self._mouse_moved)

    def text_at(self, wavelength: float) -> str:
        """What the readout says at ``wavelength`` (empty without a spectrum)."""
        at = self._curves.value_at(wavelength)
        if at is None:
            return ""
        lam, value, sigma = at
        if np.isfinite(value):
            flux = f"flux {value:.4g}" + (f" ± {sigma:.2g}" if np.isfinite(sigma) else "")
        else:
            flux = "masked pixel"
        near = min(self._lines, key=lambda line: abs(line.wavelength - lam))
        offset = lam - near.wavelength
        return f"λ {lam:.1f} Å   {flux}   nearest {near.name} {near.wavelength:.1f} Å (Δλ {offset:+.1f} Å)"

    def _mouse_moved(self, pos: QPointF) -> None:
        if self._view.sceneBoundingRect().contains(pos):
            self.setText(self.text_at(self._view.mapSceneToView(pos).x()))
