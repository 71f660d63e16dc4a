"""The spectrum panel: flux vs vacuum wavelength with what the model and the classical fit saw.

The widget lays out the controls and composes one helper per concern: the axes and ranges
(``spectrum_view``), the star's curves (``spectrum_curves``), the line markers and their labels
(``spectrum_lines``), the model's segment shading and saliency (``spectrum_importance``), the
cursor readout (``spectrum_readout``) and the Balmer close-up. A reviewer can switch between the
model's 4000–9000 Å grid and the file's full range where the file gives one.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from bhb_viewer.core import grid
from bhb_viewer.gui.widgets.balmer_closeup import BalmerCloseup
from bhb_viewer.gui.widgets.spectrum_curves import FluxCurves, wave_span
from bhb_viewer.gui.widgets.spectrum_importance import SaliencyTrace, SegmentShading
from bhb_viewer.gui.widgets.spectrum_lines import LineMarks
from bhb_viewer.gui.widgets.spectrum_readout import CursorReadout
from bhb_viewer.gui.widgets.spectrum_smoothing import SMOOTHING_KINDS
from bhb_viewer.gui.widgets.spectrum_view import PlotView

RANGES = ("model grid 4000–9000 Å", "file's full range")
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]  # wavelength, flux, ivar


class SpectrumPlot(QWidget):
    """Flux (1e-17 erg/s/cm²/Å) vs vacuum wavelength (Å), with overlays and the Balmer close-up."""

    sigSaliencyWanted = Signal(bool)  # whether the saliency is on screen (the explanation job may skip it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid_wave = grid.wavelength()
        self._grid_arrays: Arrays = (np.zeros(0), np.zeros(0), np.zeros(0))  # the star on the model grid
        self._full_arrays: Arrays | None = None  # the file's own range, where it gives one

        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "wavelength (Å, vacuum)")
        self.plot.setLabel("left", "flux (1e-17 erg s⁻¹ cm⁻² Å⁻¹)")
        item = self.plot.getPlotItem()
        item.setClipToView(True)
        item.disableAutoRange()
        self.view = PlotView(item)
        self.view.flux_view.sigXRangeChanged.connect(self._x_range_changed)
        self.view.flux_view.sigResized.connect(self._resized)
        self.curves = FluxCurves(item, grid_wave)
        self.segments = SegmentShading(self.view.overlay, grid_wave)
        self.line_marks = LineMarks(self.view.overlay)
        self.saliency = SaliencyTrace(self.view.overlay, grid_wave)
        self.closeup = BalmerCloseup()
        self.readout = CursorReadout(self.plot, self.curves, self.line_marks.lines)

        controls = self._make_controls()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self._make_splitter(), 1)
        self._apply_toggles()

    # -- construction --------------------------------------------------------------------
    def _make_splitter(self) -> QSplitter:
        """The plot with its range box and cursor readout | the close-ups (the window remembers the split)."""
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
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.closeup)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        return self.splitter

    def _make_controls(self) -> QHBoxLayout:
        """Reset, smoothing and the overlay toggles in a row above the plot; the range box (made here,
        placed under the plot) switches between the model grid and the file's range."""
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
        row = QHBoxLayout()
        for widget in (self.reset_button, QLabel("Smooth"), self.smooth_kind, self.smooth_width, *self._make_toggles()):
            row.addWidget(widget)
        row.addStretch(1)
        return row

    def _make_toggles(self) -> tuple[QCheckBox, ...]:
        """The overlay switches, all but the means on at the start."""
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
        for box in toggles:
            box.toggled.connect(self._apply_toggles)
        return toggles

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
        self, wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, full: Arrays | None = None
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
        self.view.settle()

    def set_segment_weights(self, weights: np.ndarray | None) -> None:
        """Shade the 7 segments by the model's own segment weights against the uniform 1/7 (None: no
        shading); see ``SegmentShading.set_weights`` for why not against the largest."""
        tip = self.segments.clear() if weights is None else self.segments.set_weights(weights)
        self.show_segments.setToolTip(tip)

    def set_segment_importance(self, importance: np.ndarray) -> None:
        """Shade the 7 segments by measured importance (ΔP(BHB) when the segment is replaced by the
        continuum) on the fixed scale of ``importance_scale``; the tooltip gives the values."""
        self.show_segments.setToolTip(self.segments.set_importance(importance))

    def set_saliency(self, saliency: np.ndarray | None) -> None:
        """Per-pixel saliency on the grid (3522 values; 3521 also accepted), ÷ its maximum, in its band
        along the bottom of the plot (right axis), under the flux and never over it."""
        self.saliency.set(saliency)

    def saliency_values(self) -> np.ndarray | None:
        """The saliency as drawn, ÷ its maximum (0–1), or None."""
        return self.saliency.values()

    def set_balmer(self, result) -> None:
        """Draw a ``core.science.balmer.BalmerResult`` in the Hδ/Hγ close-up (None: nothing measured)."""
        self.closeup.set_result(result)

    def set_reference_spectra(self, mean_bhb: np.ndarray | None, mean_non_bhb: np.ndarray | None = None) -> None:
        """Mean spectra on the model grid (3522 px) to overlay, scaled to each star shown."""
        refs = []
        for ref in (mean_bhb, mean_non_bhb):
            if ref is None:
                continue
            r = np.asarray(ref, dtype=float)
            if r.shape != (grid.NPIX,):
                raise ValueError(f"reference spectra must have shape ({grid.NPIX},), got {r.shape}")
            refs.append(r)
        self.curves.references = tuple(refs)
        self.curves.draw_references(self.show_references.isChecked())

    def clear(self) -> None:
        """Empty every plot item; the controls keep their settings."""
        self._grid_arrays = (np.zeros(0), np.zeros(0), np.zeros(0))
        self._full_arrays = None
        self.curves.references = ()
        self._use_arrays()
        self.set_segment_weights(None)
        self.set_saliency(None)
        self.closeup.clear()
        self.readout.setText("")
        self.view.settle()

    def reset_view(self) -> None:
        """Back to the whole spectrum after zooming or panning."""
        self.view.follow_data()
        self._fit_view()

    def label_band(self) -> float:
        """The share of the plot's height the line labels take when shown (the flux stays below it)."""
        return self.line_marks.band(self.view.height_px()) if self.show_lines.isChecked() else 0.0

    # -- keeping the helpers in step -------------------------------------------------------
    def _fit_view(self) -> None:
        self.view.fit(self.curves.wave, self.curves.shown, self.label_band())

    def _x_range_changed(self, *_args) -> None:
        """A zoom, pan or resize: the band's decimation and the labels' rows depend on the pixels."""
        self._draw_band()
        self._layout_labels()

    def _layout_labels(self) -> None:
        self.line_marks.layout(self.view.x_range(), self.view.width_px(), self.view.height_px())

    def _resized(self) -> None:
        self._x_range_changed()
        self._fit_view()  # the label rows' share of the height depends on it

    def _range_changed(self) -> None:
        self.view.follow_data()
        self._use_arrays()
        self.view.settle()

    def _use_arrays(self) -> None:
        """Draw the grid or the full-range arrays, whichever the range box and the star allow."""
        wave, flux, ivar = (self._full_arrays if self.full_range else None) or self._grid_arrays
        same_span = wave_span(wave) == wave_span(self.curves.wave)
        self.curves.set_arrays(wave, flux, ivar)
        self._draw_flux()
        self.curves.draw_references(self.show_references.isChecked())
        if not same_span:
            self._apply_toggles()  # markers follow the wavelengths covered
        self._fit_view()

    def _draw_flux(self) -> None:
        self.curves.draw_flux(self.smooth_width.value(), self.smooth_kind.currentText())
        self._draw_band()

    def _draw_band(self) -> None:
        self.curves.draw_band(self.show_errors.isChecked(), self.view.decimation(self.curves.wave))

    def _apply_toggles(self) -> None:
        self.line_marks.show(self.show_lines.isChecked(), wave_span(self.curves.wave))
        self._layout_labels()
        self.segments.set_visible(self.show_segments.isChecked())
        self.saliency.curve.setVisible(self.show_saliency.isChecked())
        self.plot.getPlotItem().showAxis("right", self.show_saliency.isChecked())
        self.curves.draw_references(self.show_references.isChecked())
        self._draw_band()


def _checked(wavelength, flux, ivar) -> Arrays:
    wave, flux, ivar = (np.asarray(a, dtype=float) for a in (wavelength, flux, ivar))
    if wave.ndim != 1 or wave.shape != flux.shape or wave.shape != ivar.shape:
        raise ValueError(
            f"wavelength, flux and ivar must be 1-D of one length, got {wave.shape}, {flux.shape}, {ivar.shape}"
        )
    return wave, flux, ivar
