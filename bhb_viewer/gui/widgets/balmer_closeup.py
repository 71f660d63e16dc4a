"""Close-up of Hδ and Hγ with the classical fit drawn over the data and its D0.2, fm, b, c.

The fit is computed by the caller (``bhb_viewer.core.balmer.measure``); this widget only draws a
``BalmerResult``, so the numbers a reviewer reads are exactly the ones in the catalogue.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

N_MODEL_POINTS = 300  # samples of the fitted profile across its window: smooth at any zoom
DATA_PEN = pg.mkPen(220, 220, 220, width=1)
FIT_PEN = pg.mkPen(255, 90, 60, width=2)
REST_PEN = pg.mkPen(150, 150, 150, style=pg.QtCore.Qt.PenStyle.DashLine)


def _fmt(value: float, digits: int, unit: str = "") -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}f}{unit}"


class _LinePanel:
    """One line's small plot (data, fitted model, rest wavelength) and the label under it."""

    def __init__(self, title: str) -> None:
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setTitle(title, size="9pt")
        self.plot.setLabel("bottom", "λ (Å, vacuum)")
        self.plot.setMinimumHeight(120)
        self.plot.getPlotItem().disableAutoRange()
        # The close-up is about line shape; a flux axis re-ticked on every candidate costs more
        # than it tells (the main plot has the flux scale).
        self.plot.hideAxis("left")
        self.data_curve = self.plot.plot(pen=DATA_PEN, connect="finite")
        self.fit_curve = self.plot.plot(pen=FIT_PEN)
        self.rest_line = pg.InfiniteLine(angle=90, pen=REST_PEN)
        self.rest_line.hide()
        self.plot.addItem(self.rest_line, ignoreBounds=True)
        self.label = QLabel()
        self.label.setWordWrap(True)

    def show(self, wave: np.ndarray, flux: np.ndarray, fit, text: str) -> None:
        """Draw the data inside the fit's window and, when the fit succeeded, its model."""
        lo, hi = fit.window()
        i0, i1 = np.searchsorted(wave, (lo, hi))
        y = flux[i0:i1]
        self.data_curve.setData(wave[i0:i1], y, connect="finite")
        if fit.ok:
            x = np.linspace(lo, hi, N_MODEL_POINTS)
            model = fit.model(x)
            self.fit_curve.setData(x, model)
            y = np.concatenate([y, model])
        else:
            self.fit_curve.setData([], [])
        self.rest_line.setValue(fit.rest)
        self.rest_line.show()
        # Explicit ranges: auto-range would settle at paint time and cost a second paint.
        view = self.plot.getPlotItem().getViewBox()
        view.setXRange(lo, hi, padding=0)
        y = y[np.isfinite(y)]
        if y.size:
            view.setYRange(y.min(), y.max(), padding=0.05)
        view.updateMatrix()  # settle transforms now, not at paint time (which costs a second paint)
        self.label.setText(text)

    def clear(self) -> None:
        self.data_curve.setData([], [])
        self.fit_curve.setData([], [])
        self.rest_line.hide()
        self.label.setText("")


class BalmerCloseup(QWidget):
    """Hδ and Hγ panels; ``set_spectrum`` gives the data, ``set_result`` the fit to draw."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hdelta = _LinePanel("Hδ")
        self.hgamma = _LinePanel("Hγ")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for panel in (self.hdelta, self.hgamma):
            layout.addWidget(panel.plot, 1)
            layout.addWidget(panel.label)
        layout.addWidget(self.summary)
        self._wave = np.zeros(0)
        self._flux = np.zeros(0)
        self._result = None

    def set_spectrum(self, wavelength: np.ndarray, flux: np.ndarray) -> None:
        """The star's spectrum (masked pixels already NaN); redraws the current fit over it."""
        self._wave, self._flux = wavelength, flux
        self._redraw()

    def set_result(self, result) -> None:
        """A ``core.balmer.BalmerResult`` (or None: nothing measured for this star)."""
        self._result = result
        self._redraw()

    def clear(self) -> None:
        self._wave, self._flux, self._result = np.zeros(0), np.zeros(0), None
        self._redraw()

    def _redraw(self) -> None:
        r = self._result
        if r is None or self._wave.size == 0:
            self.hdelta.clear()
            self.hgamma.clear()
            self.summary.setText("" if r is None else "no spectrum")
            return
        hd_text = (
            f"D0.2 = {_fmt(r.d02, 2, ' Å')}   fm = {_fmt(r.fm, 3)}"
            if r.hdelta.ok
            else f"fit failed: {r.hdelta.reason}"
        )
        hg_text = (
            f"b = {_fmt(r.b_hg, 2, ' Å')}   c = {_fmt(r.c_hg, 3)}"
            if r.hgamma.ok
            else f"fit failed: {r.hgamma.reason}"
        )
        self.hdelta.show(self._wave, self._flux, r.hdelta, hd_text)
        self.hgamma.show(self._wave, self._flux, r.hgamma, hg_text)
        if not r.ok:
            self.summary.setText(f"fit failed: {r.reason}")
        elif r.classical_bhb:
            self.summary.setText("classical: BHB (passes the Xue 2011 cuts)")
        else:
            self.summary.setText("classical: not BHB (fails the Xue 2011 cuts)")
