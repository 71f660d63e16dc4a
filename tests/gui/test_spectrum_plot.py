from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage

from bhb_viewer.core import grid
from bhb_viewer.core.science.lines import LINES
from bhb_viewer.gui.widgets.importance_scale import ABOVE_RGB, BELOW_RGB
from bhb_viewer.gui.widgets.spectrum_curves import band_path, decimate
from bhb_viewer.gui.widgets.spectrum_importance import SEGMENT_MAX_ALPHA
from bhb_viewer.gui.widgets.spectrum_lines import layout_labels
from bhb_viewer.gui.widgets.spectrum_plot import SpectrumPlot
from bhb_viewer.gui.widgets.spectrum_smoothing import smooth, smoothed_sigma
from bhb_viewer.gui.widgets.spectrum_view import SALIENCY_BAND

WAVE = grid.wavelength()


@dataclass
class FakeLine:
    """Stand-in for core.science.balmer.LineFit: what the close-up reads."""

    rest: float
    ok: bool = True
    reason: str = ""

    def window(self):
        return self.rest - 70.0, self.rest + 70.0

    def model(self, wave):
        return 10.0 * (1.0 - 0.7 * np.exp(-np.abs(np.asarray(wave) - self.rest) / 9.0))


@dataclass
class FakeResult:
    d02: float = 25.56
    fm: float = 0.231
    b_hg: float = 9.44
    c_hg: float = 0.98
    ok: bool = True
    reason: str = ""
    classical_bhb: bool = True

    def __post_init__(self):
        self.hdelta = FakeLine(4102.89, self.ok, self.reason)
        self.hgamma = FakeLine(4341.69)


def n_points(curve):
    y = curve.getOriginalDataset()[1]
    return 0 if y is None else len(y)


def star(seed=0):
    rng = np.random.default_rng(seed)
    flux = 10.0 * (WAVE / 5000.0) ** -2 + rng.normal(0, 0.1, WAVE.size)
    ivar = np.full(WAVE.size, 100.0)
    ivar[100:110] = 0.0
    return flux, ivar


@pytest.fixture
def plot(qtbot):
    widget = SpectrumPlot()
    qtbot.addWidget(widget)
    widget.resize(1000, 400)
    widget.show()
    return widget


def test_curve_holds_the_spectrum_with_gaps_at_masked_pixels(plot):
    flux, ivar = star()
    plot.set_spectrum(WAVE, flux, ivar)
    x, y = plot.curves.flux_curve.getOriginalDataset()
    np.testing.assert_array_equal(x, WAVE)
    good = ivar > 0
    np.testing.assert_allclose(y[good], flux[good])
    assert np.isnan(y[~good]).all()


def test_mismatched_arrays_are_refused(plot):
    with pytest.raises(ValueError, match="one length"):
        plot.set_spectrum(WAVE, np.ones(10), np.ones(10))


def test_smoothing_spinbox_redraws_with_a_boxcar_of_that_width(plot):
    flux = np.zeros(WAVE.size)
    flux[500] = 3.0
    plot.set_spectrum(WAVE, flux, np.ones(WAVE.size))
    plot.smooth_kind.setCurrentText("boxcar")
    plot.smooth_width.setValue(3)
    y = plot.curves.flux_curve.getOriginalDataset()[1]
    np.testing.assert_allclose(y[499:502], 1.0)
    assert y[497] == 0 and y[503] == 0
    plot.smooth_width.setValue(0)
    np.testing.assert_array_equal(plot.curves.flux_curve.getOriginalDataset()[1], flux)


def test_gaussian_smoothing_keeps_flux_and_ignores_masked_pixels():
    flux = np.full(200, 5.0)
    valid = np.ones(200, bool)
    flux[50], valid[50] = 1e6, False  # a masked cosmic ray must not leak into its neighbours
    out = smooth(flux, valid, 7, "gaussian")
    np.testing.assert_allclose(out[valid], 5.0)
    assert np.isnan(out[50])
    spike = np.zeros(200)
    spike[100] = 1.0
    wide = smooth(spike, np.ones(200, bool), 9, "gaussian")
    assert wide.sum() == pytest.approx(1.0, rel=1e-6) and wide[100] < 0.2
    with pytest.raises(ValueError, match="unknown smoothing"):
        smooth(flux, valid, 3, "median")


def test_model_segment_weights_are_drawn_as_departures_from_uniform(plot):
    """Issue 21: the model's own weights against 1/7 on a fixed scale, never stretched to the largest."""
    # sums to 1: departures 0, -50 %, +50 %, +100 %, 0, -100 %, 0
    weights = np.array([1.0, 0.5, 1.5, 2.0, 1.0, 0.0, 1.0]) / 7
    plot.set_segment_weights(weights)
    assert len(plot.segments.regions) == grid.N_SEGMENTS
    colours = [r.brush().color() for r in plot.segments.regions]
    for j, region in enumerate(plot.segments.regions):
        rect = region.rect()
        assert rect.left() == pytest.approx(WAVE[j * grid.SEGMENT_LENGTH])
        assert rect.right() == pytest.approx(WAVE[(j + 1) * grid.SEGMENT_LENGTH])
        assert rect.top() <= 0 and rect.bottom() >= 1  # the whole height of the plot
    assert [c.alpha() for c in colours] == [0, round(SEGMENT_MAX_ALPHA / 2), round(SEGMENT_MAX_ALPHA / 2),
                                            SEGMENT_MAX_ALPHA, 0, SEGMENT_MAX_ALPHA, 0]
    assert colours[2].getRgb()[:3] == ABOVE_RGB and colours[1].getRgb()[:3] == BELOW_RGB
    assert "internal" in plot.show_segments.toolTip() and "flat" not in plot.show_segments.toolTip()
    # the shipped model's saturated weights: all on segment 1, drawn at full, the rest at full below
    plot.set_segment_weights(np.array([0.9995, 0.0005, 0, 0, 0, 0, 0]))
    assert [r.brush().color().alpha() for r in plot.segments.regions] == [SEGMENT_MAX_ALPHA] * 7
    # within 10 % of uniform everywhere: flat, nothing drawn, and said so
    plot.set_segment_weights(np.array([1.05, 0.95, 1.0, 1.0, 1.08, 0.92, 1.0]) / 7)
    assert all(r.brush().color().alpha() == 0 for r in plot.segments.regions)
    assert "flat" in plot.show_segments.toolTip()
    plot.set_segment_weights(None)
    assert all(r.brush().color().alpha() == 0 for r in plot.segments.regions)
    with pytest.raises(ValueError, match="shape"):
        plot.set_segment_weights(np.ones(5))


def test_saliency_on_the_grid_and_its_toggle(plot):
    s = np.linspace(0, 4e-3, grid.NPIX)
    plot.set_saliency(s)
    x, y = plot.saliency.curve.getOriginalDataset()
    assert len(y) == 3522
    np.testing.assert_allclose(x, WAVE)
    np.testing.assert_allclose(plot.saliency_values(), s / 4e-3)  # relative to its maximum
    assert plot.view.overlay.viewRange()[1] == pytest.approx([0, 1], abs=0.05)
    assert y.max() == pytest.approx(SALIENCY_BAND)  # in its band along the bottom
    plot.show_saliency.setChecked(False)
    assert not plot.saliency.curve.isVisible()
    assert not plot.plot.getPlotItem().getAxis("right").isVisible()
    plot.show_saliency.setChecked(True)
    assert plot.saliency.curve.isVisible()
    with pytest.raises(ValueError):
        plot.set_saliency(np.ones(100))


def test_references_are_scaled_to_the_star(plot):
    _, ivar = star()
    template = 10.0 * (WAVE / 5000.0) ** -2
    plot.set_reference_spectra(template / 4.0, template / 2.0)
    plot.set_spectrum(WAVE, template, ivar)
    assert not plot.curves.reference_curves[0].isVisible()  # off until asked for: not even computed
    assert all(n_points(c) == 0 for c in plot.curves.reference_curves)
    plot.show_references.setChecked(True)
    assert all(c.isVisible() for c in plot.curves.reference_curves)
    for curve in plot.curves.reference_curves:
        np.testing.assert_allclose(curve.getOriginalDataset()[1], template)
    plot.set_reference_spectra(None, None)
    assert all(n_points(c) == 0 for c in plot.curves.reference_curves)


def test_line_markers_are_labelled_and_toggle(plot):
    names = sorted(line.name for line in LINES)
    assert sorted(label.textItem.toPlainText() for label in plot.line_marks.labels) == names
    positions = sorted(m.value() for m in plot.line_marks.markers)
    assert positions == sorted(line.wavelength for line in LINES)
    plot.set_spectrum(WAVE, *star())
    shown = {line.name for line, m in zip(plot.line_marks.lines, plot.line_marks.markers, strict=True) if m.isVisible()}
    assert shown == {line.name for line in LINES if WAVE[0] <= line.wavelength <= WAVE[-1]}
    assert "Hδ" in shown and "Ca II K" not in shown  # the grid starts at 4000 Å
    plot.show_lines.setChecked(False)
    assert not any(m.isVisible() for m in plot.line_marks.markers)
    assert not plot.line_marks.visible_labels()


def scene_rects(plot):
    return {label.textItem.toPlainText(): label.sceneBoundingRect() for label in plot.line_marks.visible_labels()}


@pytest.mark.parametrize("width", [1000, 520])
def test_line_labels_never_overlap(plot, qtbot, width):
    plot.resize(width, 400)
    qtbot.wait(20)
    plot.set_spectrum(WAVE, *star())
    rects = scene_rects(plot)
    assert {"Hδ", "Hγ", "Hβ", "Hα"} <= set(rects)  # hydrogen is labelled first, so always
    names = list(rects)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not rects[a].intersects(rects[b]), f"{a} overlaps {b}"
    if width == 1000:
        assert "Ca I 4227" in rects  # the one that collided with Hγ
    plot_top = plot.plot.getPlotItem().getViewBox().sceneBoundingRect().top()
    assert all(r.top() >= plot_top - 1 for r in rects.values())
    view = plot.plot.getPlotItem().getViewBox()  # zooming in frees room: more labels, still apart
    view.setXRange(4050, 4500, padding=0)
    view.sigRangeChangedManually.emit([True, False])
    qtbot.wait(20)
    rects = scene_rects(plot)
    assert {"Hδ", "Hγ", "Ca I 4227", "He I 4472", "Mg II 4481"} <= set(rects)
    names = list(rects)
    assert not any(rects[a].intersects(rects[b]) for i, a in enumerate(names) for b in names[i + 1 :])


def test_layout_labels_puts_colliding_ones_on_other_rows():
    rows = layout_labels(np.array([100.0, 110.0, 300.0, 105.0]), np.array([40.0, 40.0, 40.0, 40.0]),
                         priority=np.array([0, 1, 2, 3]), rows=2)
    assert rows.tolist() == [0, 1, 0, -1]  # the fourth finds no room: hidden rather than overlapping


def test_flux_keeps_clear_of_the_label_and_saliency_bands(plot):
    flux, ivar = star()
    plot.set_spectrum(WAVE, flux, ivar)
    y0, y1 = plot.plot.getPlotItem().getViewBox().viewRange()[1]
    good = flux[ivar > 0]
    assert (good.min() - y0) / (y1 - y0) >= SALIENCY_BAND  # above the saliency band
    assert (y1 - good.max()) / (y1 - y0) >= plot.label_band()  # below the label rows
    lowest = min(label.sceneBoundingRect().bottom() for label in plot.line_marks.visible_labels())
    view = plot.plot.getPlotItem().getViewBox()
    assert view.mapViewToScene(pg.Point(WAVE[0], good.max())).y() > lowest


def test_error_band_is_one_sigma_from_ivar_with_gaps(plot):
    flux, ivar = star()
    ivar[2000:2010] = 0.0
    plot.set_spectrum(WAVE, flux, ivar)
    sigma = smoothed_sigma(ivar, ivar > 0, 0, "boxcar")
    np.testing.assert_allclose(sigma[ivar > 0], 0.1)  # ivar 100 → σ 0.1
    path = plot.curves.error_band.path()
    assert not path.isEmpty()
    polygons = path.toSubpathPolygons()
    assert len(polygons) == 3  # masked at 100–109 and 2000–2009: three runs
    heights = [p.boundingRect().height() for p in polygons]
    assert min(heights) >= 0.2  # at least 2σ tall
    plot.show_errors.setChecked(False)
    assert plot.curves.error_band.path().isEmpty()


def test_smoothed_sigma_matches_the_noise_of_the_smoothed_flux():
    rng = np.random.default_rng(3)
    n, width = 20000, 9
    valid = rng.random(n) > 0.1
    ivar = np.where(valid, rng.uniform(1, 4, n), 0.0)
    sigma = smoothed_sigma(ivar, valid, width, "boxcar")
    trials = np.array([smooth(rng.normal(0, 1 / np.sqrt(np.where(valid, ivar, 1))), valid, width, "boxcar")
                       for _ in range(200)])
    inner = slice(width, n - width)
    measured = np.nanstd(trials[:, inner], axis=0)
    ok = np.isfinite(sigma[inner])
    np.testing.assert_allclose(np.median(measured[ok] / sigma[inner][ok]), 1.0, atol=0.03)
    gauss = smoothed_sigma(np.full(500, 4.0), np.ones(500, bool), 7, "gaussian")
    trials = np.array([smooth(rng.normal(0, 0.5, 500), np.ones(500, bool), 7, "gaussian") for _ in range(400)])
    np.testing.assert_allclose(np.std(trials[:, 50:-50], axis=0).mean(), gauss[250], rtol=0.05)


def test_decimation_keeps_every_extreme():
    x = np.arange(100.0)
    lo = np.zeros(100)
    hi = np.zeros(100)
    hi[37], lo[62] = 5.0, -4.0
    lo[10:32] = hi[10:32] = np.nan
    dx, dlo, dhi = decimate(x, lo, hi, 8)
    assert len(dx) == 13 and np.nanmax(dhi) == 5.0 and np.nanmin(dlo) == -4.0
    assert np.isfinite(dhi[1]) and np.isnan(dhi[3])  # a partly masked column keeps its pixels; a masked one is a gap
    assert decimate(x, lo, hi, 1)[0] is x
    assert band_path(x, lo, hi).toSubpathPolygons()  # NaNs split the band, no error


def test_curves_are_decimated_to_the_pixel_width(plot):
    plot.set_spectrum(WAVE, *star())
    drawn = plot.curves.flux_curve.curve.getData()[0]
    width = plot.plot.getPlotItem().getViewBox().width()
    assert len(drawn) <= 2.5 * width < WAVE.size  # peak decimation: a min and a max per pixel column or so
    assert plot.curves.flux_curve.getOriginalDataset()[0].size == WAVE.size  # the data itself is whole


def test_cursor_readout_gives_wavelength_flux_and_nearest_line(plot, qtbot):
    flux, ivar = star()
    plot.set_spectrum(WAVE, flux, ivar)
    i = int(np.argmin(np.abs(WAVE - 4105.0)))
    text = plot.readout.text_at(4105.0)
    assert f"λ {WAVE[i]:.1f} Å" in text and f"flux {flux[i]:.4g} ± 0.1" in text
    assert "nearest Hδ 4102.9 Å" in text
    assert "masked pixel" in plot.readout.text_at(WAVE[105])
    view = plot.plot.getPlotItem().getViewBox()  # through the mouse: the scene's move signal
    scene_pos = view.mapViewToScene(pg.Point(6564.0, 0.0))
    scene_pos.setY(view.sceneBoundingRect().center().y())
    plot.plot.scene().sigMouseMoved.emit(scene_pos)
    assert "nearest Hα 6564.6 Å" in plot.readout.text()


def test_full_range_toggle_shows_the_files_range_and_its_lines(plot):
    wide = 10 ** (3.5563 + 1e-4 * np.arange(4600))  # 3600–10,400 Å, as BOSS
    full_flux = 10.0 * (wide / 5000.0) ** -2
    full_ivar = np.full(wide.size, 100.0)
    flux, ivar = star()
    plot.set_spectrum(WAVE, flux, ivar)
    assert not plot.range_choice.isEnabled()  # a data set's star: the grid only
    plot.set_spectrum(WAVE, flux, ivar, full=(wide, full_flux, full_ivar))
    assert plot.range_choice.isEnabled() and not plot.full_range
    assert plot.curves.flux_curve.getOriginalDataset()[0].size == WAVE.size  # the grid by default
    plot.range_choice.setCurrentIndex(1)
    assert plot.full_range
    x = plot.curves.flux_curve.getOriginalDataset()[0]
    assert x[0] == pytest.approx(3600, abs=1) and x[-1] == pytest.approx(wide[-1])
    lo, hi = plot.plot.getPlotItem().getViewBox().viewRange()[0]
    assert lo < 3650 and hi > 10300
    labelled = {label.textItem.toPlainText() for label in plot.line_marks.visible_labels()}
    shown = {line.name for line, m in zip(plot.line_marks.lines, plot.line_marks.markers, strict=True) if m.isVisible()}
    assert {"Ca II K", "Ca II H", "Hε", "H8"} <= shown
    assert {"Hε", "H8", "Hδ"} <= labelled
    plot.set_spectrum(WAVE, flux, ivar)  # the next star has no file range: back to the grid
    assert not plot.range_choice.isEnabled() and not plot.full_range
    assert plot.curves.flux_curve.getOriginalDataset()[0].size == WAVE.size


def test_saliency_flag_follows_the_toggle(plot, qtbot):
    assert plot.wants_saliency
    with qtbot.waitSignal(plot.sigSaliencyWanted) as blocker:
        plot.show_saliency.setChecked(False)
    assert blocker.args == [False] and not plot.wants_saliency


def test_balmer_closeup_shows_the_fit_and_its_values(plot):
    flux, ivar = star()
    plot.set_spectrum(WAVE, flux, ivar)
    plot.set_balmer(FakeResult())
    hd = plot.closeup.hdelta
    assert "D0.2 = 25.56 Å" in hd.label.text() and "fm = 0.231" in hd.label.text()
    assert "b = 9.44 Å" in plot.closeup.hgamma.label.text()
    assert "c = 0.980" in plot.closeup.hgamma.label.text()
    assert "BHB" in plot.closeup.summary.text()
    x, _ = hd.fit
    assert x.min() == pytest.approx(4102.89 - 70) and x.max() == pytest.approx(4102.89 + 70)
    data_x = hd.data[0]
    assert data_x.min() >= 4032.89 and data_x.max() <= 4172.89


def test_failed_fit_says_why(plot):
    flux, ivar = star()
    plot.set_spectrum(WAVE, flux, ivar)
    plot.set_balmer(FakeResult(d02=np.nan, fm=np.nan, ok=False, reason="line not detected above the noise"))
    assert plot.closeup.hdelta.label.text() == "fit failed: line not detected above the noise"
    assert plot.closeup.summary.text().startswith("fit failed:")
    assert len(plot.closeup.hdelta.fit[0]) == 0


def test_real_balmer_result_is_drawn(plot):
    balmer = pytest.importorskip("bhb_viewer.core.science.balmer")
    flux = 50.0 * (WAVE / 5000.0) ** -2
    for rest in (4102.89, 4341.69):
        flux = flux * (1 - 0.75 * np.exp(-((np.abs(WAVE - rest) / 9.0) ** 1.0)))
    ivar = np.full(WAVE.size, 400.0)
    result = balmer.measure(flux, ivar)
    plot.set_spectrum(WAVE, flux, ivar)
    plot.set_balmer(result)
    assert result.ok, result.reason
    assert plot.closeup.hdelta.label.text().startswith("D0.2 = ")
    assert len(plot.closeup.hgamma.fit[0]) > 0


def test_zoom_is_kept_across_candidates_until_reset(plot):
    plot.set_spectrum(WAVE, *star(0))
    view = plot.plot.getPlotItem().getViewBox()
    view.setXRange(4050, 4400, padding=0)
    view.sigRangeChangedManually.emit([True, True])  # what a mouse zoom says
    plot.set_spectrum(WAVE, *star(1))
    assert view.viewRange()[0] == pytest.approx([4050, 4400])
    plot.reset_button.click()
    lo, hi = view.viewRange()[0]
    assert lo <= WAVE[0] and hi >= WAVE[-1]


def test_clear_empties_everything(plot):
    plot.set_spectrum(WAVE, *star())
    plot.set_segment_weights(np.full(7, 1 / 7))
    plot.set_saliency(np.ones(grid.NPIX))
    plot.set_reference_spectra(np.ones(grid.NPIX), np.ones(grid.NPIX))
    plot.set_balmer(FakeResult())
    plot.clear()
    curves = [plot.curves.flux_curve, plot.saliency.curve, *plot.curves.reference_curves]
    assert all(n_points(c) == 0 for c in curves)
    assert len(plot.closeup.hdelta.data[0]) == 0 and len(plot.closeup.hdelta.fit[0]) == 0
    assert all(r.brush().color().alpha() == 0 for r in plot.segments.regions)
    assert plot.closeup.hdelta.label.text() == "" and plot.closeup.summary.text() == ""


def test_spectra_without_usable_pixels_draw_nothing_and_do_not_fail(plot):
    plot.set_reference_spectra(np.ones(grid.NPIX), np.ones(grid.NPIX))
    plot.set_spectrum(WAVE, np.ones(WAVE.size), np.zeros(WAVE.size))  # all masked
    assert np.isnan(plot.curves.flux_curve.getOriginalDataset()[1]).all()
    plot.set_spectrum(np.zeros(0), np.zeros(0), np.zeros(0))
    assert n_points(plot.curves.flux_curve) == 0
    plot.grab()


def test_grab_is_not_blank(plot):
    plot.set_spectrum(WAVE, *star())
    plot.set_segment_weights(np.full(7, 1 / 7))
    plot.set_balmer(FakeResult())
    image = plot.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.width(), 4)
    assert image.width() == 1000
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 50


def test_closeup_draws_data_and_fit_where_they_are(plot, qtbot):
    """The close-up is painted directly: the fitted profile's red is found at its line centre's depth."""
    result = FakeResult()
    flux = result.hdelta.model(WAVE)  # the data follow the fitted profile, so both share the panel's range
    plot.set_spectrum(WAVE, flux, np.full(WAVE.size, 100.0))
    plot.set_balmer(result)
    panel = plot.closeup.hdelta
    panel.resize(220, 200)
    image = panel.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.width(), 4)[..., 2::-1]
    centre = panel.to_pixels().map(pg.Point(4102.89, 3.0))  # FakeLine's model at its centre: 10 × 0.3
    red = pixels[:, int(centre.x()) - 1 : int(centre.x()) + 2].astype(int)
    rows = np.flatnonzero(((red[..., 0] > 200) & (red[..., 1] < 140)).any(axis=1))
    assert rows.size and abs(rows.max() - centre.y()) < 5  # the V of the profile reaches down to its centre


def test_measured_segment_importance_is_signed_on_a_fixed_scale(plot):
    """Issue 21: segments shaded by what removing them does to P(BHB), not by the model's saturated weights."""
    plot.set_segment_importance(np.array([0.5, -0.25, 0.0, 0.05, 1.0, 0.0, 0.0]))
    colours = [r.brush().color() for r in plot.segments.regions]
    assert colours[0].alpha() == colours[4].alpha() > 0  # 0.5 and 1.0 both at full opacity
    assert colours[1].red() > colours[1].green() and colours[1].alpha() == round(colours[0].alpha() / 2)
    assert colours[2].alpha() == 0 and 0 < colours[3].alpha() < colours[1].alpha()
    assert "+0.50, -0.25" in plot.show_segments.toolTip()
