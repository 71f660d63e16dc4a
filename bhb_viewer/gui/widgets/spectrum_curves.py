"""The star on the spectrum plot: its (smoothed) flux, the ±1σ band, and the mean spectra scaled to it.

Every plot item is created once and then only fed new arrays (``setData``), so switching
candidate costs a few milliseconds. Nothing here computes science beyond display smoothing, the
error band from the inverse variance and scaling the reference spectra to the star.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from bhb_viewer.gui.widgets.spectrum_smoothing import smooth, smoothed_sigma
from bhb_viewer.gui.widgets.spectrum_view import decimated

FLUX_PEN = pg.mkPen(230, 230, 230, width=1)
ERROR_BRUSH = QBrush(QColor(150, 190, 255, 70))
REFERENCE_PENS = (pg.mkPen(90, 170, 255), pg.mkPen(255, 170, 60))  # width 1: wider pens take a slow path
REFERENCE_NAMES = ("mean BHB", "mean non-BHB")


def decimate(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ``factor`` samples as one: the first x, the least ``lo`` and the greatest ``hi`` (NaN if all NaN).

    What a pixel column of the screen can show of them; ``factor`` ≤ 1 returns the arrays as they are.
    """
    if factor <= 1 or x.size < 2 * factor:
        return x, lo, hi
    n = x.size // factor * factor
    with warnings.catch_warnings():  # an all-NaN pixel column is a gap, not a problem
        warnings.simplefilter("ignore", RuntimeWarning)
        out_lo = np.nanmin(lo[:n].reshape(-1, factor), axis=1)
        out_hi = np.nanmax(hi[:n].reshape(-1, factor), axis=1)
        out_x = x[:n:factor]
        if n < x.size:  # the last, partial column
            out_x, out_lo, out_hi = (np.append(out_x, x[n]), np.append(out_lo, np.nanmin(lo[n:])),
                                     np.append(out_hi, np.nanmax(hi[n:])))
    return out_x, out_lo, out_hi


def band_path(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> QPainterPath:
    """A filled region between ``lo`` and ``hi``, one polygon per run of finite values (gaps stay open)."""
    path = QPainterPath()
    ok = np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return path
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for a, b in zip(starts, stops, strict=True):
        xs = np.concatenate((x[a:b], x[a:b][::-1]))
        ys = np.concatenate((hi[a:b], lo[a:b][::-1]))
        path.addPath(pg.arrayToQPath(xs, ys, connect="all"))
        path.closeSubpath()
    return path


def wave_span(wave: np.ndarray) -> tuple[float, float] | None:
    """The first and last wavelength, or None for an empty spectrum."""
    return (float(wave[0]), float(wave[-1])) if wave.size else None


def _scale_to(reference: np.ndarray, flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """``reference`` times the inverse-variance least-squares factor that best matches ``flux``."""
    use = (ivar > 0) & np.isfinite(reference) & np.isfinite(flux)
    w = ivar[use]
    den = np.sum(w * reference[use] ** 2)
    factor = np.sum(w * flux[use] * reference[use]) / den if den > 0 else np.nan
    return reference * factor


class FluxCurves:
    """The curves of one star and the arrays they draw (``wave``, ``flux``, ``ivar``; ``shown`` and
    ``sigma``: the smoothed flux as drawn and its 1σ error, before decimation).

    Parameters
    ----------
    item
        The plot the curves go in.
    grid_wave
        The model grid's wavelengths, on which the reference spectra are given.
    """

    def __init__(self, item: pg.PlotItem, grid_wave: np.ndarray) -> None:
        self._grid_wave = grid_wave
        self.wave = self.flux = self.ivar = self.shown = self.sigma = np.zeros(0)
        self.valid = np.zeros(0, dtype=bool)
        self.references: tuple[np.ndarray, ...] = ()  # mean spectra on the model grid
        self.error_band = QGraphicsPathItem()
        self.error_band.setPen(QPen(Qt.PenStyle.NoPen))
        self.error_band.setBrush(ERROR_BRUSH)
        self.error_band.setZValue(-1)
        item.addItem(self.error_band, ignoreBounds=True)
        self.flux_curve = decimated(item.plot(pen=FLUX_PEN, connect="finite"))
        self.reference_curves = [decimated(item.plot(pen=pen, connect="finite")) for pen in REFERENCE_PENS]
        # Only the references need a key; it sits bottom-right (the faint red end of a blue star),
        # away from the line labels along the top, and shows only with the references.
        self.legend = item.addLegend(offset=(-10, -10), brush=(0, 0, 0, 170))
        for curve, name in zip(self.reference_curves, REFERENCE_NAMES, strict=True):
            self.legend.addItem(curve, name)

    def set_arrays(self, wave: np.ndarray, flux: np.ndarray, ivar: np.ndarray) -> None:
        """The star to draw: 1-D arrays of one length; pixels with ivar == 0 or NaN flux are gaps."""
        self.wave, self.flux, self.ivar = wave, flux, ivar
        self.valid = (ivar > 0) & np.isfinite(flux)

    def draw_flux(self, width: int, kind: str) -> None:
        """Smooth the flux (``spectrum_smoothing.smooth``) and draw it; the band follows at :meth:`draw_band`."""
        if self.wave.size == 0:
            self.shown = self.sigma = np.zeros(0)
            self.flux_curve.setData([], [])
            return
        self.shown = smooth(self.flux, self.valid, width, kind)
        self.sigma = smoothed_sigma(self.ivar, self.valid, width, kind)
        self.flux_curve.setData(self.wave, self.shown, connect="finite")

    def draw_band(self, on: bool, decimation: int) -> None:
        """The ±1σ band, ``decimation`` samples to a pixel column (it is a path: pyqtgraph won't thin it)."""
        if not on or self.wave.size == 0:
            self.error_band.setPath(QPainterPath())
            return
        x, lo, hi = decimate(self.wave, self.shown - self.sigma, self.shown + self.sigma, decimation)
        self.error_band.setPath(band_path(x, lo, hi))

    def draw_references(self, on: bool) -> None:
        """The mean spectra, interpolated to the drawn wavelengths and scaled to the star (off: not computed)."""
        for i, curve in enumerate(self.reference_curves):
            curve.setVisible(on)
            if not on or i >= len(self.references) or self.wave.size == 0:
                curve.setData([], [])
                continue
            ref = np.interp(self.wave, self._grid_wave, self.references[i], left=np.nan, right=np.nan)
            curve.setData(self.wave, _scale_to(ref, self.flux, self.ivar), connect="finite")
        self.legend.setVisible(on)

    def value_at(self, wavelength: float) -> tuple[float, float, float] | None:
        """(λ, flux as drawn, its 1σ) at the drawn pixel nearest ``wavelength``; None without a spectrum."""
        if self.wave.size == 0:
            return None
        i = int(np.clip(np.searchsorted(self.wave, wavelength), 1, self.wave.size - 1))
        i -= int(abs(self.wave[i - 1] - wavelength) <= abs(self.wave[i] - wavelength))
        return float(self.wave[i]), float(self.shown[i]), float(self.sigma[i])
