"""Close-up of Hδ and Hγ with the classical fit drawn over the data and its D0.2, fm, b, c.

The fit is computed by the caller (``bhb_viewer.core.balmer.measure``); this widget only draws a
``BalmerResult``, so the numbers a reviewer reads are exactly the ones in the catalogue. Each
panel shows the window the fit uses (``core.balmer``), fixed, so a new star moves only the
flux axis and the fit costs one curve update.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from bhb_viewer.core.balmer import HALF_WINDOW, HDELTA, HGAMMA

N_MODEL_POINTS = 300  # samples of the fitted profile across its window: smooth at any zoom
DATA_PEN = pg.mkPen(220, 220, 220, width=1)
FIT_PEN = pg.mkPen(255, 90, 60, width=2)
REST_PEN = pg.mkPen(150, 150, 150, style=pg.QtCore.Qt.PenStyle.DashLine)


def _fmt(value: float, digits: int, unit: str = "") -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}f}{unit}"


class _LinePanel:
    """One line's small plot (data, fitted model, rest wavelength) and the label under it."""

    def __init__(self, title: str, rest: float) -> None:
        self.lo, self.hi = rest - HALF_WINDOW, rest + HALF_WINDOW
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setTitle(title, size="9pt")
        self.plot.setLabel("bottom", "λ (Å, vacuum)")
        self.plot.setMinimumHeight(120)
        # The close-up is about line shape; a flux axis re-ticked on every candidate costs more
        # than it tells (the main plot has the flux scale).
        self.plot.hideAxis("left")
        self.view = self.plot.getPlotItem().getViewBox()
        self.view.disableAutoRange()
        self.view.setXRange(self.lo, self.hi, padding=0)
        self.data_curve = self.plot.plot(pen=DATA_PEN, connect="finite")
        self.fit_curve = self.plot.plot(pen=FIT_PEN)
        self.plot.addItem(pg.InfiniteLine(rest, angle=90, pen=REST_PEN), ignoreBounds=True)
        self.label = QLabel()
        # Two lines always: a label that grew on a long failure reason would re-lay the plots.
        self.label.setWordWrap(True)
        self.label.setFixedHeight(2 * self.label.fontMetrics().lineSpacing() + 4)

    def show_data(self, wave: np.ndarray, flux: np.ndarray) -> None:
        i0, i1 = np.searchsorted(wave, (self.lo, self.hi))
        y = flux[i0:i1]
        self.data_curve.setData(wave[i0:i1], y, connect="finite")
        y = y[np.isfinite(y)]
        if y.size:
            self.view.setYRange(y.min(), y.max(), padding=0.08)
        # Apply the new transform now: pyqtgraph would do it at paint time and then paint twice.
        self.view.updateMatrix()

    def show_fit(self, fit, text: str) -> None:
        if fit is not None and fit.ok:
            x = np.linspace(self.lo, self.hi, N_MODEL_POINTS)
            self.fit_curve.setData(x, fit.model(x))
        else:
            self.fit_curve.setData([], [])
        self.label.setText(text)


class BalmerCloseup(QWidget):
    """Hδ and Hγ panels; ``set_spectrum`` gives the data, ``set_result`` the fit drawn over it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hdelta = _LinePanel("Hδ", HDELTA)
        self.hgamma = _LinePanel("Hγ", HGAMMA)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setFixedHeight(self.hdelta.label.height())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for panel in (self.hdelta, self.hgamma):
            layout.addWidget(panel.plot, 1)
            layout.addWidget(panel.label)
        layout.addWidget(self.summary)

    def set_spectrum(self, wavelength: np.ndarray, flux: np.ndarray) -> None:
        """A new star (masked pixels already NaN); its fit comes with the next ``set_result``."""
        for panel in (self.hdelta, self.hgamma):
            panel.show_data(wavelength, flux)
        self.set_result(None)

    def set_result(self, result) -> None:
        """A ``core.balmer.BalmerResult`` for the star shown (None: not measured, nothing drawn)."""
        if result is None:
            self.hdelta.show_fit(None, "")
            self.hgamma.show_fit(None, "")
            self.summary.setText("")
            return
        hd, hg = result.hdelta, result.hgamma
        self.hdelta.show_fit(
            hd,
            f"D0.2 = {_fmt(result.d02, 2, ' Å')}   fm = {_fmt(result.fm, 3)}" if hd.ok else f"fit failed: {hd.reason}"
        )
        self.hgamma.show_fit(
            hg,
            f"b = {_fmt(result.b_hg, 2, ' Å')}   c = {_fmt(result.c_hg, 3)}" if hg.ok else f"fit failed: {hg.reason}"
        )
        if not result.ok:
            self.summary.setText(f"fit failed: {result.reason}")
        elif result.classical_bhb:
            self.summary.setText("classical: BHB (passes the Xue 2011 cuts)")
        else:
            self.summary.setText("classical: not BHB (fails the Xue 2011 cuts)")

    def clear(self) -> None:
        for panel in (self.hdelta, self.hgamma):
            panel.data_curve.setData([], [])
        self.set_result(None)
