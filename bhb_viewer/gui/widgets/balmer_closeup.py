"""Close-up of Hδ and Hγ with the classical fit drawn over the data and its D0.2, fm, b, c.

The fit is computed by the caller (``bhb_viewer.core.science.balmer.measure``); this widget only draws a
``BalmerResult``, so the numbers a reviewer reads are exactly the ones in the catalogue. Each
panel shows the window the fit uses (``core.science.balmer``), fixed, so its wavelength axis never
changes. The panels are plain widgets painted with QPainter: a new star costs two short paths,
not two pyqtgraph scenes with their view ranges, axes and items (which took a third of a
candidate switch).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen, QTransform
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from bhb_viewer.core.science.balmer import HALF_WINDOW, HDELTA, HGAMMA

__all__ = ["N_MODEL_POINTS", "BalmerCloseup", "LinePanel"]

N_MODEL_POINTS = 300  # samples of the fitted profile across its window: smooth at any size
Y_PADDING = 0.08  # of the data's range, above and below
TICK_STEPS = (50.0, 100.0)  # Å between labelled wavelength ticks: the finest whose labels fit
TICK_LABEL_PX = 44  # room one tick label needs
BACKGROUND = QColor(0, 0, 0)
AXIS_COLOUR = QColor(150, 150, 150)
TEXT_COLOUR = QColor(220, 220, 220)
DATA_PEN = QPen(QColor(220, 220, 220), 1)
FIT_PEN = QPen(QColor(255, 90, 60), 2)
REST_PEN = QPen(QColor(150, 150, 150), 1, Qt.PenStyle.DashLine)


def _fmt(value: float, digits: int, unit: str = "") -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}f}{unit}"


def _path(x: np.ndarray, y: np.ndarray) -> QPainterPath:
    """A polyline through the finite points, broken at NaN (masked pixels stay gaps)."""
    return pg.arrayToQPath(np.asarray(x, float), np.asarray(y, float), connect="finite")


class LinePanel(QWidget):
    """One line's small plot: data, fitted model, rest wavelength, a wavelength axis, and its label below.

    ``data`` and ``fit`` hold the (wavelength, flux) arrays drawn, for whoever needs to know.
    """

    def __init__(self, title: str, rest: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title, self.rest = title, rest
        self.lo, self.hi = rest - HALF_WINDOW, rest + HALF_WINDOW
        self.data: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self.fit: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self._y_range = (0.0, 1.0)
        self._data_path = QPainterPath()
        self._fit_path = QPainterPath()
        self.setMinimumSize(170, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.label = QLabel()
        # Two lines always: a label that grew on a long failure reason would re-lay the plots.
        self.label.setWordWrap(True)
        self.label.setFixedHeight(2 * self.label.fontMetrics().lineSpacing() + 4)

    def sizeHint(self) -> QSize:
        return QSize(260, 200)

    def show_data(self, wave: np.ndarray, flux: np.ndarray) -> None:
        i0, i1 = np.searchsorted(wave, (self.lo, self.hi))
        x, y = np.asarray(wave[i0:i1], float), np.asarray(flux[i0:i1], float)
        self.data = (x, y)
        finite = y[np.isfinite(y)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            pad = Y_PADDING * ((hi - lo) or max(abs(hi), 1.0))
            self._y_range = (lo - pad, hi + pad)
        self._data_path = _path(x, y)
        self.update()

    def show_fit(self, fit, text: str) -> None:
        if fit is not None and fit.ok:
            x = np.linspace(self.lo, self.hi, N_MODEL_POINTS)
            self.fit = (x, np.asarray(fit.model(x), float))
        else:
            self.fit = (np.zeros(0), np.zeros(0))
        self._fit_path = _path(*self.fit)
        self.label.setText(text)
        self.update()

    def clear(self) -> None:
        self.data = (np.zeros(0), np.zeros(0))
        self._data_path = QPainterPath()
        self.show_fit(None, "")

    # -- painting ------------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        """Where the curves go, in widget pixels: below the title, above the wavelength axis."""
        line = self.fontMetrics().height()
        return QRectF(6, line + 4, max(1.0, self.width() - 12), max(1.0, self.height() - 3 * line - 10))

    def to_pixels(self) -> QTransform:
        """Data (Å, flux) → widget pixels."""
        rect = self.plot_rect()
        y0, y1 = self._y_range
        sx = rect.width() / (self.hi - self.lo)
        sy = -rect.height() / (y1 - y0 if y1 > y0 else 1.0)
        return QTransform(sx, 0, 0, sy, rect.left() - sx * self.lo, rect.bottom() - sy * y0)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        rect = self.plot_rect()
        line = self.fontMetrics().height()
        painter.setPen(TEXT_COLOUR)
        painter.drawText(QRectF(0, 2, self.width(), line), Qt.AlignmentFlag.AlignCenter, self.title)
        transform = self.to_pixels()
        painter.setClipRect(rect)
        rest_x = transform.map(QPointF(self.rest, 0)).x()
        painter.setPen(REST_PEN)
        painter.drawLine(QPointF(rest_x, rect.top()), QPointF(rest_x, rect.bottom()))
        for path, pen in ((self._data_path, DATA_PEN), (self._fit_path, FIT_PEN)):
            if not path.isEmpty():
                painter.setPen(pen)
                painter.drawPath(transform.map(path))
        painter.setClipping(False)
        self._paint_axis(painter, rect, transform, line)
        painter.end()

    def _paint_axis(self, painter: QPainter, rect: QRectF, transform: QTransform, line: int) -> None:
        painter.setPen(AXIS_COLOUR)
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        per_angstrom = rect.width() / (self.hi - self.lo)
        step = next((s for s in TICK_STEPS if s * per_angstrom >= TICK_LABEL_PX), TICK_STEPS[-1])
        for tick in np.arange(math.ceil(self.lo / step) * step, self.hi, step):
            x = transform.map(QPointF(tick, 0)).x()
            painter.drawLine(QPointF(x, rect.bottom()), QPointF(x, rect.bottom() + 4))
            painter.drawText(QRectF(x - 30, rect.bottom() + 4, 60, line), Qt.AlignmentFlag.AlignCenter, f"{tick:.0f}")
        painter.drawText(QRectF(0, rect.bottom() + 4 + line, self.width(), line), Qt.AlignmentFlag.AlignCenter,
                         "λ (Å, vacuum)")


class BalmerCloseup(QWidget):
    """Hδ and Hγ panels; ``set_spectrum`` gives the data, ``set_result`` the fit drawn over it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hdelta = LinePanel("Hδ", HDELTA)
        self.hgamma = LinePanel("Hγ", HGAMMA)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setFixedHeight(self.hdelta.label.height())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for panel in (self.hdelta, self.hgamma):
            layout.addWidget(panel, 1)
            layout.addWidget(panel.label)
        layout.addWidget(self.summary)

    def set_spectrum(self, wavelength: np.ndarray, flux: np.ndarray) -> None:
        """A new star (masked pixels already NaN); its fit comes with the next ``set_result``."""
        for panel in (self.hdelta, self.hgamma):
            panel.show_data(wavelength, flux)
        self.set_result(None)

    def set_result(self, result) -> None:
        """A ``core.science.balmer.BalmerResult`` for the star shown (None: not measured, nothing drawn)."""
        if result is None:
            self.hdelta.show_fit(None, "")
            self.hgamma.show_fit(None, "")
            self.summary.setText("")
            return
        hd, hg = result.hdelta, result.hgamma
        hd_text = f"D0.2 = {_fmt(result.d02, 2, ' Å')}   fm = {_fmt(result.fm, 3)}"
        hg_text = f"b = {_fmt(result.b_hg, 2, ' Å')}   c = {_fmt(result.c_hg, 3)}"
        self.hdelta.show_fit(hd, hd_text if hd.ok else f"fit failed: {hd.reason}")
        self.hgamma.show_fit(hg, hg_text if hg.ok else f"fit failed: {hg.reason}")
        if not result.ok:
            self.summary.setText(f"fit failed: {result.reason}")
        elif result.classical_bhb:
            self.summary.setText("classical: BHB (passes the Xue 2011 cuts)")
        else:
            self.summary.setText("classical: not BHB (fails the Xue 2011 cuts)")

    def clear(self) -> None:
        for panel in (self.hdelta, self.hgamma):
            panel.clear()
        self.set_result(None)
