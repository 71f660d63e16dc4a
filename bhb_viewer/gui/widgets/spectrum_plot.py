"""The spectrum panel: flux vs vacuum wavelength with what the model and the classical fit saw.

Every plot item is created once and then only fed new arrays (``setData``), so switching
candidate costs a few milliseconds; nothing here computes science beyond display smoothing and
scaling the reference spectra to the star.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

from bhb_viewer.core import grid
from bhb_viewer.core.lines import LINES
from bhb_viewer.gui.widgets.balmer_closeup import BalmerCloseup

SMOOTHING_KINDS = ("boxcar", "gaussian")
FWHM_PER_SIGMA = 2.3548
FLUX_PEN = pg.mkPen(230, 230, 230, width=1)
REFERENCE_PENS = (pg.mkPen(90, 170, 255), pg.mkPen(255, 170, 60))  # width 1: wider pens take a slow path
REFERENCE_NAMES = ("mean BHB", "mean non-BHB")
SALIENCY_PEN = pg.mkPen(230, 80, 230, width=1)
SEGMENT_RGB = (80, 200, 120)
SEGMENT_MAX_ALPHA = 110  # the most-weighted segment's opacity (of 255); others in proportion
HYDROGEN_PEN = pg.mkPen(255, 100, 100, style=Qt.PenStyle.DashLine)
METAL_PEN = pg.mkPen(170, 170, 170, style=Qt.PenStyle.DashLine)
LABEL_HEIGHTS = (0.97, 0.91, 0.85, 0.79, 0.73)  # cycled along wavelength so neighbouring labels don't overlap


def smooth(flux: np.ndarray, valid: np.ndarray, width: int, kind: str) -> np.ndarray:
    """Mean of the valid pixels under a boxcar (``width`` px) or a Gaussian (FWHM ``width`` px).

    Invalid pixels neither contribute nor get filled: they stay NaN, so gaps remain gaps.
    """
    if width <= 1:
        return np.where(valid, flux, np.nan)
    weight = valid.astype(float)
    signal = np.where(valid, flux, 0.0)
    if kind == "boxcar":
        num = uniform_filter1d(signal, width, mode="nearest")
        den = uniform_filter1d(weight, width, mode="nearest")
    elif kind == "gaussian":
        sigma = width / FWHM_PER_SIGMA
        num = gaussian_filter1d(signal, sigma, mode="nearest")
        den = gaussian_filter1d(weight, sigma, mode="nearest")
    else:
        raise ValueError(f"unknown smoothing {kind!r}; choose one of {SMOOTHING_KINDS}")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(valid & (den > 0), out, np.nan)


def _scale_to(reference: np.ndarray, flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """``reference`` times the inverse-variance least-squares factor that best matches ``flux``."""
    use = (ivar > 0) & np.isfinite(reference) & np.isfinite(flux)
    w = ivar[use]
    den = np.sum(w * reference[use] ** 2)
    factor = np.sum(w * flux[use] * reference[use]) / den if den > 0 else np.nan
    return reference * factor


def _span(wave: np.ndarray) -> tuple[float, float] | None:
    return (float(wave[0]), float(wave[-1])) if wave.size else None


class SpectrumPlot(QWidget):
    """Flux (1e-17 erg/s/cm²/Å) vs vacuum wavelength (Å), with overlays and the Balmer close-up."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid_wave = grid.wavelength()
        self._wave = np.zeros(0)
        self._flux = np.zeros(0)
        self._valid = np.zeros(0, dtype=bool)
        self._ivar = np.zeros(0)
        self._references: tuple[np.ndarray, ...] = ()

        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "wavelength (Å, vacuum)")
        self.plot.setLabel("left", "flux (1e-17 erg s⁻¹ cm⁻² Å⁻¹)")
        item = self.plot.getPlotItem()
        item.setClipToView(True)
        item.disableAutoRange()
        self._follow_data = True  # until the reviewer zooms or pans
        item.getViewBox().sigRangeChangedManually.connect(self._stop_following)
        self.flux_curve = self.plot.plot(pen=FLUX_PEN, connect="finite")
        self.reference_curves = [self.plot.plot(pen=pen, connect="finite") for pen in REFERENCE_PENS]
        # Only the references need a key; it sits bottom-right (the faint red end of a blue star),
        # away from the line labels along the top, and shows only with the references.
        self.legend = item.addLegend(offset=(-10, -10), brush=(0, 0, 0, 170))
        for curve, name in zip(self.reference_curves, REFERENCE_NAMES, strict=True):
            self.legend.addItem(curve, name)
        self.overlay_view = self._make_overlay_view()
        self.segment_regions = self._make_segments()
        self.line_markers = self._make_line_markers()
        self.saliency_curve = self._make_saliency_curve()
        self.closeup = BalmerCloseup()

        controls = self._make_controls()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plot)
        splitter.addWidget(self.closeup)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(splitter, 1)
        self._apply_toggles()

    # -- construction --------------------------------------------------------------------
    def _make_overlay_view(self) -> pg.ViewBox:
        """A view behind the flux, sharing its wavelength axis, with a fixed 0–1 vertical range.

        Segment shading, line markers and saliency live here: a new star's flux range then moves
        only the flux curves, not 30-odd markers and labels (the bulk of a switch's cost).
        """
        item = self.plot.getPlotItem()
        view = pg.ViewBox(enableMouse=False, enableMenu=False)
        view.setZValue(-100)
        item.scene().addItem(view)
        item.showAxis("right")
        item.getAxis("right").linkToView(view)
        item.getAxis("right").setLabel("saliency (÷ its maximum)")
        view.setXLink(item)
        view.disableAutoRange()
        view.setYRange(0.0, 1.0, padding=0.02)

        def follow() -> None:
            view.setGeometry(item.vb.sceneBoundingRect())
            view.linkedViewChanged(item.vb, view.XAxis)

        item.vb.sigResized.connect(follow)
        return view

    def _make_segments(self) -> list[QGraphicsRectItem]:
        edges = [self._grid_wave[j * grid.SEGMENT_LENGTH] for j in range(grid.N_SEGMENTS + 1)]
        regions = []
        for j in range(grid.N_SEGMENTS):
            region = QGraphicsRectItem(QRectF(edges[j], -1.0, edges[j + 1] - edges[j], 3.0))
            region.setPen(QPen(Qt.PenStyle.NoPen))
            region.setBrush(QColor(*SEGMENT_RGB, 0))
            self.overlay_view.addItem(region, ignoreBounds=True)
            regions.append(region)
        return regions

    def _make_line_markers(self) -> list[pg.InfiniteLine]:
        markers = []
        for i, line in enumerate(sorted(LINES, key=lambda item: item.wavelength)):
            marker = pg.InfiniteLine(
                pos=line.wavelength,
                angle=90,
                pen=HYDROGEN_PEN if line.species == "H" else METAL_PEN,
                label=line.name,
                labelOpts={"position": LABEL_HEIGHTS[i % len(LABEL_HEIGHTS)], "color": (220, 220, 220)},
            )
            self.overlay_view.addItem(marker, ignoreBounds=True)
            markers.append(marker)
        return markers

    def _make_saliency_curve(self) -> pg.PlotDataItem:
        curve = pg.PlotDataItem(pen=SALIENCY_PEN)
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        self.overlay_view.addItem(curve)
        return curve

    def _make_controls(self) -> QHBoxLayout:
        self.reset_button = QPushButton("Reset view")
        self.reset_button.clicked.connect(self.reset_view)
        self.smooth_kind = QComboBox()
        self.smooth_kind.addItems(SMOOTHING_KINDS)
        self.smooth_width = QSpinBox()
        self.smooth_width.setRange(0, 101)
        self.smooth_width.setSuffix(" px")
        self.smooth_width.setToolTip("smoothing width in pixels (FWHM for gaussian); 0 = none")
        self.smooth_kind.currentIndexChanged.connect(self._draw_flux)
        self.smooth_width.valueChanged.connect(self._draw_flux)
        self.show_lines = QCheckBox("Lines")
        self.show_segments = QCheckBox("Segment weights")
        self.show_saliency = QCheckBox("Saliency")
        self.show_references = QCheckBox("Mean BHB / non-BHB")
        toggles = (self.show_lines, self.show_segments, self.show_saliency, self.show_references)
        for box in toggles[:3]:
            box.setChecked(True)
        row = QHBoxLayout()
        row.addWidget(self.reset_button)
        row.addWidget(QLabel("Smooth"))
        row.addWidget(self.smooth_kind)
        row.addWidget(self.smooth_width)
        for box in toggles:
            box.toggled.connect(self._apply_toggles)
            row.addWidget(box)
        row.addStretch(1)
        return row

    # -- public API ----------------------------------------------------------------------
    def set_spectrum(self, wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray) -> None:
        """Show a star: 1-D arrays of equal length; pixels with ivar == 0 are drawn as gaps."""
        wave, flux, ivar = (np.asarray(a, dtype=float) for a in (wavelength, flux, ivar))
        if wave.ndim != 1 or wave.shape != flux.shape or wave.shape != ivar.shape:
            raise ValueError(
                f"wavelength, flux and ivar must be 1-D of one length, got {wave.shape}, {flux.shape}, {ivar.shape}"
            )
        same_span = _span(wave) == _span(self._wave)
        self._wave, self._flux, self._ivar = wave, flux, ivar
        self._valid = (ivar > 0) & np.isfinite(flux)
        if not same_span:
            self._apply_toggles()  # markers follow the wavelengths covered
        self._draw_flux()
        self._draw_references()
        self.closeup.set_spectrum(wave, np.where(self._valid, flux, np.nan))
        self._fit_view()
        self._settle()

    def set_segment_weights(self, weights: np.ndarray | None) -> None:
        """Shade the 7 model segments with opacity proportional to their weight (None: no shading)."""
        if weights is None:
            w = np.zeros(grid.N_SEGMENTS)
        else:
            w = np.asarray(weights, dtype=float)
            if w.shape != (grid.N_SEGMENTS,):
                raise ValueError(f"segment weights must have shape ({grid.N_SEGMENTS},), got {w.shape}")
        top = w.max() if w.max() > 0 else 1.0
        for j, region in enumerate(self.segment_regions):
            region.setBrush(QColor(*SEGMENT_RGB, round(SEGMENT_MAX_ALPHA * max(w[j], 0.0) / top)))
        self.show_segments.setToolTip(
            "no segment weights" if weights is None
            else "segment weights, blue to red: " + ", ".join(f"{x:.0%}" for x in w)
        )

    def set_saliency(self, saliency: np.ndarray | None) -> None:
        """Per-pixel saliency on the grid (3522 values; 3521 also accepted), drawn ÷ its maximum on the right axis."""
        if saliency is None:
            self.saliency_curve.setData([], [])
            return
        s = np.asarray(saliency, dtype=float)
        usable = (grid.NPIX, grid.N_SEGMENTS * grid.SEGMENT_LENGTH)
        if s.ndim != 1 or s.size not in usable:
            raise ValueError(f"saliency must be 1-D with {usable[0]} or {usable[1]} values, got shape {s.shape}")
        top = np.nanmax(np.abs(s)) if np.isfinite(s).any() else 0.0
        self.saliency_curve.setData(self._grid_wave[: s.size], s / top if top > 0 else s)

    def set_balmer(self, result) -> None:
        """Draw a ``core.balmer.BalmerResult`` in the Hδ/Hγ close-up (None: nothing measured)."""
        self.closeup.set_result(result)

    def set_reference_spectra(self, mean_bhb: np.ndarray, mean_non_bhb: np.ndarray | None = None) -> None:
        """Mean spectra on the model grid (3522 px) to overlay, scaled to each star shown."""
        refs = []
        for ref in (mean_bhb, mean_non_bhb):
            if ref is None:
                continue
            r = np.asarray(ref, dtype=float)
            if r.shape != (grid.NPIX,):
                raise ValueError(f"reference spectra must have shape ({grid.NPIX},), got {r.shape}")
            refs.append(r)
        self._references = tuple(refs)
        self._draw_references()

    def clear(self) -> None:
        """Empty every plot item; the controls keep their settings."""
        self._wave, self._flux, self._ivar = np.zeros(0), np.zeros(0), np.zeros(0)
        self._valid = np.zeros(0, dtype=bool)
        self._references = ()
        self._draw_flux()
        self._draw_references()
        self.set_segment_weights(None)
        self.set_saliency(None)
        self.closeup.clear()
        self._settle()

    def reset_view(self) -> None:
        """Back to the whole spectrum after zooming or panning."""
        self._follow_data = True
        self._fit_view()

    def _settle(self) -> None:
        """Apply pending view transforms now: pyqtgraph defers them to paint time, where the
        geometry changes they cause schedule a second paint of every candidate."""
        self.plot.getPlotItem().getViewBox().updateMatrix()
        self.overlay_view.updateMatrix()

    def _stop_following(self) -> None:
        self._follow_data = False

    def _fit_view(self) -> None:
        """Set the ranges ourselves rather than by pyqtgraph's auto-range, which decides at paint time
        and so paints every candidate twice. The wavelength zoom a reviewer chose is kept across
        candidates; the flux axis always fits what is visible."""
        if self._wave.size == 0:
            return
        view = self.plot.getPlotItem().getViewBox()
        if self._follow_data:
            view.setXRange(self._wave[0], self._wave[-1], padding=0.01)
        x0, x1 = view.viewRange()[0]
        shown = self.flux_curve.yData
        visible = shown[(self._wave >= x0) & (self._wave <= x1) & np.isfinite(shown)]
        if visible.size:
            view.setYRange(visible.min(), visible.max(), padding=0.05)

    # -- drawing -------------------------------------------------------------------------
    def _draw_flux(self) -> None:
        if self._wave.size == 0:
            self.flux_curve.setData([], [])
            return
        width = self.smooth_width.value()
        shown = smooth(self._flux, self._valid, width, self.smooth_kind.currentText())
        self.flux_curve.setData(self._wave, shown, connect="finite")

    def _draw_references(self) -> None:
        for i, curve in enumerate(self.reference_curves):
            if i >= len(self._references) or self._wave.size == 0:
                curve.setData([], [])
                continue
            ref = np.interp(self._wave, self._grid_wave, self._references[i], left=np.nan, right=np.nan)
            curve.setData(self._wave, _scale_to(ref, self._flux, self._ivar), connect="finite")

    def _apply_toggles(self) -> None:
        # Only lines the spectrum covers: the grid starts at 4000 Å, and markers for Hε, H8 or Ca II
        # H&K would crowd its edge with labels of nothing.
        lo, hi = _span(self._wave) or (-np.inf, np.inf)
        for marker in self.line_markers:
            marker.setVisible(bool(self.show_lines.isChecked() and lo <= marker.value() <= hi))
        for region in self.segment_regions:
            region.setVisible(self.show_segments.isChecked())
        self.saliency_curve.setVisible(self.show_saliency.isChecked())
        self.plot.getPlotItem().showAxis("right", self.show_saliency.isChecked())
        for curve in self.reference_curves:
            curve.setVisible(self.show_references.isChecked())
        self.legend.setVisible(self.show_references.isChecked())
