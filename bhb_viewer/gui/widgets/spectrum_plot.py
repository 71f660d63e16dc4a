"""The spectrum panel: flux vs vacuum wavelength with what the model and the classical fit saw.

Every plot item is created once and then only fed new arrays (``setData``), so switching
candidate costs a few milliseconds; nothing here computes science beyond display smoothing,
the error band from the inverse variance and scaling the reference spectra to the star.

The plot's height is shared out so that nothing hides the spectrum: the flux fills the middle,
the line labels have a band along the top (laid out in rows so that no two overlap) and the
saliency a band along the bottom. The curves are decimated to the view's pixel width (min/max per
pixel column, so no line is lost). A reviewer can switch between the model's 4000–9000 Å grid
and the file's full range where the file gives one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

from bhb_viewer.core import grid
from bhb_viewer.core.science.lines import LINES, Line
from bhb_viewer.gui.widgets.balmer_closeup import BalmerCloseup
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

SMOOTHING_KINDS = ("boxcar", "gaussian")
RANGES = ("model grid 4000–9000 Å", "file's full range")
FWHM_PER_SIGMA = 2.3548
GAUSS_TRUNCATE = 4.0  # scipy's default: the kernel reaches 4 σ each side
FLUX_PEN = pg.mkPen(230, 230, 230, width=1)
ERROR_BRUSH = QBrush(QColor(150, 190, 255, 70))
REFERENCE_PENS = (pg.mkPen(90, 170, 255), pg.mkPen(255, 170, 60))  # width 1: wider pens take a slow path
REFERENCE_NAMES = ("mean BHB", "mean non-BHB")
SALIENCY_PEN = pg.mkPen(230, 80, 230, width=1)
SEGMENT_MAX_ALPHA = 110  # a segment's opacity (of 255) at full strength on the fixed scale (importance_scale)
# Solid, faint marker lines: dashed pens are stroked dash by dash, on every repaint of every star.
HYDROGEN_PEN = pg.mkPen(255, 110, 110, 150, width=1)
METAL_PEN = pg.mkPen(170, 170, 170, 120, width=1)
LABEL_COLOUR = (225, 225, 225)
LABEL_FILL = (0, 0, 0, 150)
# The plot's height is shared out (the overlay view's fixed 0–1 range): saliency along the bottom,
# the flux in the middle, the line labels in rows of one text height along the top.
SALIENCY_BAND = 0.15  # of the height
LABEL_ROWS = 4  # at most, and the band they take at most:
LABEL_BAND = 0.3  # of the height
LABEL_GAP_PX = 6  # the least space between two labels in one row
LABEL_MARGIN_PX = 1  # inside a label's dark fill (Qt's default of 4 makes rows needlessly tall)
DECIMATE_SAMPLES_PER_PX = 1.0  # pyqtgraph's "peak" then draws a min and a max per pixel column


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


def smoothed_sigma(ivar: np.ndarray, valid: np.ndarray, width: int, kind: str) -> np.ndarray:
    """1σ error of :func:`smooth`'s output from the inverse variance (NaN where no valid pixel).

    The smoothed flux is Σ kᵢ fᵢ / Σ kᵢ over valid pixels, so its variance is Σ kᵢ² σᵢ² / (Σ kᵢ)²,
    with the same kernel and edge handling as the smoothing itself.
    """
    with np.errstate(divide="ignore"):
        var = np.where(valid, 1.0 / np.where(valid, ivar, 1.0), 0.0)
    if width <= 1:
        return np.where(valid, np.sqrt(var), np.nan)
    if kind == "boxcar":
        kernel = np.ones(width)
    elif kind == "gaussian":
        sigma = width / FWHM_PER_SIGMA
        half = int(GAUSS_TRUNCATE * sigma + 0.5)
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    else:
        raise ValueError(f"unknown smoothing {kind!r}; choose one of {SMOOTHING_KINDS}")
    pad = len(kernel) // 2
    weight = np.pad(valid.astype(float), (pad, len(kernel) - 1 - pad), mode="edge")
    spread = np.pad(var, (pad, len(kernel) - 1 - pad), mode="edge")
    den = np.convolve(weight, kernel[::-1], mode="valid")
    num = np.convolve(spread, (kernel**2)[::-1], mode="valid")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(num) / den
    return np.where(valid & (den > 0), out, np.nan)


def decimate(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ``factor`` samples as one: the first x, the least ``lo`` and the greatest ``hi`` (NaN if all NaN).

    What a pixel column of the screen can show of them; ``factor`` ≤ 1 returns the arrays as they are.
    """
    if factor <= 1 or x.size < 2 * factor:
        return x, lo, hi
    n = x.size // factor * factor
    with warnings.catch_warnings():  # an all-NaN pixel column is a gap, not a problem
        warnings.simplefilter("ignore", RuntimeWarning)
        tail_lo, tail_hi = (np.nanmin(lo[n:]), np.nanmax(hi[n:])) if n < x.size else (None, None)
        out_lo = np.nanmin(lo[:n].reshape(-1, factor), axis=1)
        out_hi = np.nanmax(hi[:n].reshape(-1, factor), axis=1)
    out_x = x[:n:factor]
    if tail_lo is not None:
        out_x, out_lo, out_hi = np.append(out_x, x[n]), np.append(out_lo, tail_lo), np.append(out_hi, tail_hi)
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


def layout_labels(
    centres_px: np.ndarray, widths_px: np.ndarray, priority: np.ndarray, rows: int, gap: float = LABEL_GAP_PX
) -> np.ndarray:
    """A row (0 = top) for each label so that no two in one row overlap; −1 where none fits.

    Labels are placed in ``priority`` order (lower first), each in the first row where its extent
    ``centre ± width/2`` keeps ``gap`` pixels from every label already there.
    """
    placed: list[list[tuple[float, float]]] = [[] for _ in range(rows)]
    out = np.full(len(centres_px), -1)
    for i in np.argsort(priority, kind="stable"):
        left, right = centres_px[i] - widths_px[i] / 2, centres_px[i] + widths_px[i] / 2
        for row in range(rows):
            if all(right + gap <= a or left - gap >= b for a, b in placed[row]):
                placed[row].append((left, right))
                out[i] = row
                break
    return out


def _priority(line: Line) -> float:
    """Hydrogen first (what a BHB is judged on), then the rest; bluer first within each group."""
    return (0 if line.species == "H" else 1e5) + line.wavelength


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

    sigSaliencyWanted = Signal(bool)  # whether the saliency is on screen (the explanation job may skip it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid_wave = grid.wavelength()
        self._grid_arrays = (np.zeros(0), np.zeros(0), np.zeros(0))  # wave, flux, ivar on the model grid
        self._full_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the file's own range
        self._wave = np.zeros(0)  # what is drawn: one of the two above
        self._flux = np.zeros(0)
        self._valid = np.zeros(0, dtype=bool)
        self._ivar = np.zeros(0)
        self._shown = np.zeros(0)  # the (smoothed) flux as drawn, before decimation
        self._sigma = np.zeros(0)  # its 1σ error
        self._references: tuple[np.ndarray, ...] = ()

        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "wavelength (Å, vacuum)")
        self.plot.setLabel("left", "flux (1e-17 erg s⁻¹ cm⁻² Å⁻¹)")
        item = self.plot.getPlotItem()
        item.setClipToView(True)
        item.disableAutoRange()
        self._follow_data = True  # until the reviewer zooms or pans
        view = item.getViewBox()
        view.sigRangeChangedManually.connect(self._stop_following)
        view.sigXRangeChanged.connect(self._x_range_changed)
        view.sigResized.connect(self._resized)
        self.error_band = QGraphicsPathItem()
        self.error_band.setPen(QPen(Qt.PenStyle.NoPen))
        self.error_band.setBrush(ERROR_BRUSH)
        self.error_band.setZValue(-1)
        item.addItem(self.error_band, ignoreBounds=True)
        self.flux_curve = _decimated(self.plot.plot(pen=FLUX_PEN, connect="finite"))
        self.reference_curves = [_decimated(self.plot.plot(pen=pen, connect="finite")) for pen in REFERENCE_PENS]
        # Only the references need a key; it sits bottom-right (the faint red end of a blue star),
        # away from the line labels along the top, and shows only with the references.
        self.legend = item.addLegend(offset=(-10, -10), brush=(0, 0, 0, 170))
        for curve, name in zip(self.reference_curves, REFERENCE_NAMES, strict=True):
            self.legend.addItem(curve, name)
        self.overlay_view = self._make_overlay_view()
        self.segment_regions = self._make_segments()
        self.lines = tuple(sorted(LINES, key=lambda line: line.wavelength))
        self.line_markers = self._make_line_markers()
        self.line_labels = self._make_line_labels()
        self.saliency_curve = self._make_saliency_curve()
        self.closeup = BalmerCloseup()
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)

        controls = self._make_controls()
        self.readout = QLabel("")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # never widens the window
        self.readout.setToolTip("cursor: wavelength, flux ± 1σ, and the nearest marked line")
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Range"))
        bottom.addWidget(self.range_choice)
        bottom.addWidget(self.readout, 1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(2)
        left_layout.addWidget(self.plot, 1)
        left_layout.addLayout(bottom)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)  # plot | close-ups (the window remembers it)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.closeup)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.splitter, 1)
        self._apply_toggles()

    # -- construction --------------------------------------------------------------------
    def _make_overlay_view(self) -> pg.ViewBox:
        """A view behind the flux, sharing its wavelength axis, with a fixed 0–1 vertical range.

        Segment shading, line markers, labels and saliency live here: a new star's flux range then
        moves only the flux curves, not 30-odd markers and labels (the bulk of a switch's cost).
        """
        item = self.plot.getPlotItem()
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

    def _make_segments(self) -> list[QGraphicsRectItem]:
        edges = [self._grid_wave[j * grid.SEGMENT_LENGTH] for j in range(grid.N_SEGMENTS + 1)]
        regions = []
        for j in range(grid.N_SEGMENTS):
            region = QGraphicsRectItem(QRectF(edges[j], -1.0, edges[j + 1] - edges[j], 3.0))
            region.setPen(QPen(Qt.PenStyle.NoPen))
            region.setBrush(QColor(*TOWARDS_RGB, 0))
            self.overlay_view.addItem(region, ignoreBounds=True)
            regions.append(region)
        return regions

    def _make_line_markers(self) -> list[pg.InfiniteLine]:
        markers = []
        for line in self.lines:
            pen = HYDROGEN_PEN if line.species == "H" else METAL_PEN
            marker = pg.InfiniteLine(pos=line.wavelength, angle=90, pen=pen)
            self.overlay_view.addItem(marker, ignoreBounds=True)
            markers.append(marker)
        return markers

    def _make_line_labels(self) -> list[pg.TextItem]:
        """One label per line, on a dark fill so it reads over shading; rows are set by ``_layout_labels``."""
        labels = []
        for line in self.lines:
            label = pg.TextItem(line.name, color=LABEL_COLOUR, fill=LABEL_FILL, anchor=(0.5, 0.5))
            label.textItem.document().setDocumentMargin(LABEL_MARGIN_PX)
            label.updateTextPos()
            # The text never changes: painted once into a pixmap, then copied on every repaint.
            label.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            label.setPos(line.wavelength, 1.0)
            self.overlay_view.addItem(label, ignoreBounds=True)
            labels.append(label)
        return labels

    def _make_saliency_curve(self) -> pg.PlotDataItem:
        curve = _decimated(pg.PlotDataItem(pen=SALIENCY_PEN))
        curve.setClipToView(True)
        self.overlay_view.addItem(curve)
        return curve

    def _make_controls(self) -> QHBoxLayout:
        self.reset_button = QPushButton("Reset view")
        self.reset_button.clicked.connect(self.reset_view)
        self.range_choice = QComboBox()
        self.range_choice.addItems(RANGES)
        self.range_choice.setToolTip("the model's wavelength grid, or all the file covers (spectrum files only)")
        self.range_choice.currentIndexChanged.connect(self._range_changed)
        self.smooth_kind = QComboBox()
        self.smooth_kind.addItems(SMOOTHING_KINDS)
        self.smooth_width = QSpinBox()
        self.smooth_width.setRange(0, 101)
        self.smooth_width.setSuffix(" px")
        self.smooth_width.setToolTip("smoothing width in pixels (FWHM for gaussian); 0 = none")
        self.smooth_kind.currentIndexChanged.connect(self._draw_flux)
        self.smooth_width.valueChanged.connect(self._draw_flux)
        self.show_lines = QCheckBox("Lines")
        self.show_errors = QCheckBox("Errors")
        self.show_errors.setToolTip("±1σ band from the inverse variance (of the smoothed flux when smoothing)")
        self.show_segments = QCheckBox("Segments")
        self.show_saliency = QCheckBox("Saliency")
        self.show_references = QCheckBox("Means")
        self.show_references.setToolTip("mean BHB and mean non-BHB spectra of a labelled data set, scaled to the star")
        toggles = (self.show_lines, self.show_errors, self.show_segments, self.show_saliency, self.show_references)
        for box in toggles[:4]:
            box.setChecked(True)
        self.show_saliency.toggled.connect(self.sigSaliencyWanted)
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
    @property
    def wants_saliency(self) -> bool:
        """Whether the saliency would be drawn (False: the explanation may skip its backward pass)."""
        return self.show_saliency.isChecked()

    @property
    def full_range(self) -> bool:
        """Whether the file's full range is drawn (chosen, and the star has one)."""
        return self.range_choice.currentIndex() == 1 and self._full_arrays is not None

    def set_spectrum(
        self,
        wavelength: np.ndarray,
        flux: np.ndarray,
        ivar: np.ndarray,
        full: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Show a star: 1-D arrays of equal length; pixels with ivar == 0 are drawn as gaps.

        ``full`` is the same star over the file's whole range (wavelength, flux, ivar), where the
        file gives more than the model's grid; the range box switches between the two.
        """
        arrays = _checked(wavelength, flux, ivar)
        self._full_arrays = None if full is None else _checked(*full)
        self._grid_arrays = arrays
        self.range_choice.setEnabled(self._full_arrays is not None)
        self.range_choice.setToolTip(
            "the model's wavelength grid, or all the file covers" if self._full_arrays is not None
            else "this star has only the model's grid (a data set keeps no more)"
        )
        self._use_arrays()
        self.closeup.set_spectrum(arrays[0], np.where((arrays[2] > 0) & np.isfinite(arrays[1]), arrays[1], np.nan))
        self._settle()

    def set_segment_weights(self, weights: np.ndarray | None) -> None:
        """Shade the 7 segments by the model's own segment weights as departures from the uniform 1/7
        (blue above, grey below), on the fixed scale of ``importance_scale`` (None: no shading).

        Why not in proportion to the largest: on the shipped model every star puts ≈ 1 on segment 1,
        which at full contrast reads as a finding about the star; against 1/7 it reads as what it is.
        """
        if weights is None:
            for region in self.segment_regions:
                region.setBrush(QColor(*TOWARDS_RGB, 0))
            self.show_segments.setToolTip("no segment weights")
            return
        w = np.asarray(weights, dtype=float)
        if w.shape != (grid.N_SEGMENTS,):
            raise ValueError(f"segment weights must have shape ({grid.N_SEGMENTS},), got {w.shape}")
        departure, flat = uniform_departure(w)
        strength = departure_strength(departure)
        for j, region in enumerate(self.segment_regions):
            rgb = ABOVE_RGB if departure[j] >= 0 else BELOW_RGB
            region.setBrush(QColor(*rgb, 0 if flat else round(SEGMENT_MAX_ALPHA * strength[j])))
        self.show_segments.setToolTip(
            f"model's internal segment weights against uniform (1/{grid.N_SEGMENTS}), blue above, grey below"
            + (f" — flat (all within {FLAT_MARGIN:.0%}), not drawn" if flat else "")
            + "; blue to red: " + ", ".join(f"{x:.0%}" for x in w / max(w.sum(), 1e-30))
        )

    def set_segment_importance(self, importance: np.ndarray) -> None:
        """Shade the 7 segments by measured importance (ΔP(BHB) when the segment is replaced by the
        continuum): green towards BHB, red away, opacity on the fixed scale of ``importance_scale``
        (|ΔP| of 0.5 is the most opaque), never rescaled to the largest; the tooltip gives the values."""
        v = np.asarray(importance, dtype=float)
        if v.shape != (grid.N_SEGMENTS,):
            raise ValueError(f"segment importance must have shape ({grid.N_SEGMENTS},), got {v.shape}")
        strength = measured_strength(v)
        for j, region in enumerate(self.segment_regions):
            rgb = TOWARDS_RGB if v[j] >= 0 else AWAY_RGB
            region.setBrush(QColor(*rgb, round(SEGMENT_MAX_ALPHA * strength[j])))
        self.show_segments.setToolTip("measured: ΔP(BHB) when each segment is replaced by the continuum, "
                                      "blue to red: " + ", ".join(f"{x:+.2f}" for x in v))

    def set_saliency(self, saliency: np.ndarray | None) -> None:
        """Per-pixel saliency on the grid (3522 values; 3521 also accepted), ÷ its maximum, in its band
        along the bottom of the plot (right axis), under the flux and never over it."""
        if saliency is None:
            self.saliency_curve.setData([], [])
            return
        s = np.asarray(saliency, dtype=float)
        usable = (grid.NPIX, grid.N_SEGMENTS * grid.SEGMENT_LENGTH)
        if s.ndim != 1 or s.size not in usable:
            raise ValueError(f"saliency must be 1-D with {usable[0]} or {usable[1]} values, got shape {s.shape}")
        top = np.nanmax(np.abs(s)) if np.isfinite(s).any() else 0.0
        self.saliency_curve.setData(self._grid_wave[: s.size], SALIENCY_BAND * (s / top if top > 0 else s))

    def saliency_values(self) -> np.ndarray | None:
        """The saliency as drawn, ÷ its maximum (0–1), or None."""
        y = self.saliency_curve.getOriginalDataset()[1]
        return None if y is None or not len(y) else y / SALIENCY_BAND

    def set_balmer(self, result) -> None:
        """Draw a ``core.science.balmer.BalmerResult`` in the Hδ/Hγ close-up (None: nothing measured)."""
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
        self._grid_arrays = (np.zeros(0), np.zeros(0), np.zeros(0))
        self._full_arrays = None
        self._references = ()
        self._use_arrays()
        self.set_segment_weights(None)
        self.set_saliency(None)
        self.closeup.clear()
        self.readout.setText("")
        self._settle()

    def reset_view(self) -> None:
        """Back to the whole spectrum after zooming or panning."""
        self._follow_data = True
        self._fit_view()

    def readout_at(self, wavelength: float) -> str:
        """What the cursor readout says at ``wavelength``: λ, flux ± 1σ as drawn, the nearest line."""
        if self._wave.size == 0:
            return ""
        i = int(np.clip(np.searchsorted(self._wave, wavelength), 1, self._wave.size - 1))
        i -= int(abs(self._wave[i - 1] - wavelength) <= abs(self._wave[i] - wavelength))
        lam, value = self._wave[i], self._shown[i]
        if np.isfinite(value):
            sigma = self._sigma[i]
            flux = f"flux {value:.4g}" + (f" ± {sigma:.2g}" if np.isfinite(sigma) else "")
        else:
            flux = "masked pixel"
        near = min(self.lines, key=lambda line: abs(line.wavelength - lam))
        offset = lam - near.wavelength
        return f"λ {lam:.1f} Å   {flux}   nearest {near.name} {near.wavelength:.1f} Å (Δλ {offset:+.1f} Å)"

    def visible_labels(self) -> list[pg.TextItem]:
        return [label for label in self.line_labels if label.isVisible()]

    # -- view ----------------------------------------------------------------------------
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
        candidates; the flux axis fits what is visible into the middle of the plot, between the
        saliency band below and the label rows above."""
        if self._wave.size == 0:
            return
        view = self.plot.getPlotItem().getViewBox()
        if self._follow_data:
            view.setXRange(self._wave[0], self._wave[-1], padding=0.01)
        x0, x1 = view.viewRange()[0]
        visible = self._shown[(self._wave >= x0) & (self._wave <= x1) & np.isfinite(self._shown)]
        if visible.size:
            lo, hi = float(visible.min()), float(visible.max())
            span = (hi - lo) or max(abs(hi), 1.0)
            top_band = self._label_band() if self.show_lines.isChecked() else 0.0
            total = span / (1.0 - SALIENCY_BAND - top_band - 0.04)
            view.setYRange(lo - (SALIENCY_BAND + 0.02) * total, hi + (top_band + 0.02) * total, padding=0)

    def _x_range_changed(self, *_args) -> None:
        """A zoom, pan or resize: the band's decimation and the labels' rows depend on the pixels."""
        self._draw_band()
        self._layout_labels()

    def _resized(self) -> None:
        self._x_range_changed()
        self._fit_view()  # the label rows' share of the height depends on it

    def _view_width_px(self) -> float:
        return max(1.0, self.plot.getPlotItem().getViewBox().width())

    def _decimation(self) -> int:
        """Samples per screen pixel column at the current zoom (≥ 1)."""
        if self._wave.size < 2:
            return 1
        x0, x1 = self.plot.getPlotItem().getViewBox().viewRange()[0]
        per_sample = (self._wave[-1] - self._wave[0]) / (self._wave.size - 1)
        return max(1, int((x1 - x0) / per_sample / self._view_width_px()))

    def _label_rows(self) -> list[float]:
        """Heights (0–1 of the plot) of the label rows: one text height apart, as many as fit the band."""
        height = max(1.0, self.plot.getPlotItem().getViewBox().height())
        step = (self.line_labels[0].textItem.boundingRect().height() + 1) / height
        n = max(1, min(LABEL_ROWS, int(LABEL_BAND / step)))
        return [1.0 - (k + 0.5) * step for k in range(n)]

    def _label_band(self) -> float:
        """The fraction of the plot's height the label rows take (the flux stays below it)."""
        rows = self._label_rows()
        return min(LABEL_BAND, 1.0 - rows[-1] + (1.0 - rows[0]))

    def _layout_labels(self) -> None:
        """Put each visible line's label in the first top row where it overlaps no other label."""
        x0, x1 = self.plot.getPlotItem().getViewBox().viewRange()[0]
        width = self._view_width_px()
        span = _span(self._wave) or (-np.inf, np.inf)
        wanted = [
            i for i, line in enumerate(self.lines)
            if self.show_lines.isChecked() and span[0] <= line.wavelength <= span[1] and x0 <= line.wavelength <= x1
        ]
        for label in self.line_labels:
            label.setVisible(False)
        if not wanted or x1 <= x0:
            return
        per_px = width / (x1 - x0)
        widths = np.array([self.line_labels[i].textItem.boundingRect().width() for i in wanted])
        # centred on its line, but kept inside the plot (a label at the edge would be cut)
        centres = np.clip([(self.lines[i].wavelength - x0) * per_px for i in wanted], widths / 2, width - widths / 2)
        heights = self._label_rows()
        rows = layout_labels(centres, widths, np.array([_priority(self.lines[i]) for i in wanted]), len(heights))
        for i, centre, row in zip(wanted, centres, rows, strict=True):
            if row >= 0:
                label = self.line_labels[i]
                label.setPos(x0 + centre / per_px, heights[row])
                label.setVisible(True)

    def _mouse_moved(self, pos: QPointF) -> None:
        view = self.plot.getPlotItem().getViewBox()
        if not view.sceneBoundingRect().contains(pos):
            return
        self.readout.setText(self.readout_at(view.mapSceneToView(pos).x()))

    # -- drawing -------------------------------------------------------------------------
    def _range_changed(self) -> None:
        self._follow_data = True
        self._use_arrays()
        self._settle()

    def _use_arrays(self) -> None:
        """Draw the grid or the full-range arrays, whichever the range box and the star allow."""
        wave, flux, ivar = self._full_arrays if self.full_range else self._grid_arrays
        same_span = _span(wave) == _span(self._wave)
        self._wave, self._flux, self._ivar = wave, flux, ivar
        self._valid = (ivar > 0) & np.isfinite(flux)
        self._draw_flux()
        self._draw_references()
        if not same_span:
            self._apply_toggles()  # markers follow the wavelengths covered
        self._fit_view()

    def _draw_flux(self) -> None:
        width, kind = self.smooth_width.value(), self.smooth_kind.currentText()
        if self._wave.size == 0:
            self._shown = self._sigma = np.zeros(0)
            self.flux_curve.setData([], [])
        else:
            self._shown = smooth(self._flux, self._valid, width, kind)
            self._sigma = smoothed_sigma(self._ivar, self._valid, width, kind)
            self.flux_curve.setData(self._wave, self._shown, connect="finite")
        self._draw_band()

    def _draw_band(self) -> None:
        if not self.show_errors.isChecked() or self._wave.size == 0:
            self.error_band.setPath(QPainterPath())
            return
        x, lo, hi = decimate(self._wave, self._shown - self._sigma, self._shown + self._sigma, self._decimation())
        self.error_band.setPath(band_path(x, lo, hi))

    def _draw_references(self) -> None:
        shown = self.show_references.isChecked()
        for i, curve in enumerate(self.reference_curves):
            if not shown or i >= len(self._references) or self._wave.size == 0:
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
        self._layout_labels()
        for region in self.segment_regions:
            region.setVisible(self.show_segments.isChecked())
        self.saliency_curve.setVisible(self.show_saliency.isChecked())
        self.plot.getPlotItem().showAxis("right", self.show_saliency.isChecked())
        for curve in self.reference_curves:
            curve.setVisible(self.show_references.isChecked())
        self.legend.setVisible(self.show_references.isChecked())
        self._draw_references()
        self._draw_band()


def _decimated(curve: pg.PlotDataItem) -> pg.PlotDataItem:
    """``curve`` drawn with about one min and one max per pixel column of the view (pyqtgraph's own
    automatic factor keeps ~5 samples per pixel: 3,522 points for a 700-px plot)."""
    curve.opts["autoDownsampleFactor"] = DECIMATE_SAMPLES_PER_PX
    curve.setDownsampling(auto=True, method="peak")
    return curve


def _checked(wavelength, flux, ivar) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    wave, flux, ivar = (np.asarray(a, dtype=float) for a in (wavelength, flux, ivar))
    if wave.ndim != 1 or wave.shape != flux.shape or wave.shape != ivar.shape:
        raise ValueError(
            f"wavelength, flux and ivar must be 1-D of one length, got {wave.shape}, {flux.shape}, {ivar.shape}"
        )
    return wave, flux, ivar
