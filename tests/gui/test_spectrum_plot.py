from dataclasses import dataclass

import numpy as np
import pytest
from PySide6.QtGui import QImage

from bhb_viewer.core import grid
from bhb_viewer.core.lines import LINES
from bhb_viewer.gui.widgets.spectrum_plot import SEGMENT_MAX_ALPHA, SpectrumPlot, smooth

WAVE = grid.wavelength()


@dataclass
class FakeLine:
    """Stand-in for core.balmer.LineFit: what the close-up reads."""

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
    x, y = plot.flux_curve.getOriginalDataset()
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
    y = plot.flux_curve.getOriginalDataset()[1]
    np.testing.assert_allclose(y[499:502], 1.0)
    assert y[497] == 0 and y[503] == 0
    plot.smooth_width.setValue(0)
    np.testing.assert_array_equal(plot.flux_curve.getOriginalDataset()[1], flux)


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


def test_seven_segments_shaded_in_proportion_to_weight(plot):
    weights = np.array([0.05, 0.1, 0.4, 0.2, 0.1, 0.1, 0.05])
    plot.set_segment_weights(weights)
    assert len(plot.segment_regions) == grid.N_SEGMENTS
    for j, region in enumerate(plot.segment_regions):
        rect = region.rect()
        assert rect.left() == pytest.approx(WAVE[j * grid.SEGMENT_LENGTH])
        assert rect.right() == pytest.approx(WAVE[(j + 1) * grid.SEGMENT_LENGTH])
        assert rect.top() <= 0 and rect.bottom() >= 1  # the whole height of the plot
        assert region.brush().color().alpha() == round(SEGMENT_MAX_ALPHA * weights[j] / 0.4)
    assert plot.show_segments.toolTip().endswith("5%, 10%, 40%, 20%, 10%, 10%, 5%")
    plot.set_segment_weights(None)
    assert all(r.brush().color().alpha() == 0 for r in plot.segment_regions)
    with pytest.raises(ValueError, match="shape"):
        plot.set_segment_weights(np.ones(5))


def test_saliency_on_the_grid_and_its_toggle(plot):
    s = np.linspace(0, 4e-3, grid.NPIX)
    plot.set_saliency(s)
    x, y = plot.saliency_curve.getOriginalDataset()
    assert len(y) == 3522
    np.testing.assert_allclose(x, WAVE)
    np.testing.assert_allclose(y, s / 4e-3)  # relative to its maximum
    assert plot.overlay_view.viewRange()[1] == pytest.approx([0, 1], abs=0.05)
    plot.show_saliency.setChecked(False)
    assert not plot.saliency_curve.isVisible()
    assert not plot.plot.getPlotItem().getAxis("right").isVisible()
    plot.show_saliency.setChecked(True)
    assert plot.saliency_curve.isVisible()
    with pytest.raises(ValueError):
        plot.set_saliency(np.ones(100))


def test_references_are_scaled_to_the_star(plot):
    _, ivar = star()
    template = 10.0 * (WAVE / 5000.0) ** -2
    plot.set_reference_spectra(template / 4.0, template / 2.0)
    plot.set_spectrum(WAVE, template, ivar)
    for curve in plot.reference_curves:
        np.testing.assert_allclose(curve.getOriginalDataset()[1], template)
    assert not plot.reference_curves[0].isVisible()  # off until asked for
    plot.show_references.setChecked(True)
    assert all(c.isVisible() for c in plot.reference_curves)
    plot.set_reference_spectra(None, None)
    assert all(n_points(c) == 0 for c in plot.reference_curves)


def test_line_markers_are_labelled_and_toggle(plot):
    names = sorted(line.name for line in LINES)
    assert sorted(m.label.format for m in plot.line_markers) == names
    positions = sorted(m.value() for m in plot.line_markers)
    assert positions == sorted(line.wavelength for line in LINES)
    plot.set_spectrum(WAVE, *star())
    shown = {m.label.format for m in plot.line_markers if m.isVisible()}
    assert shown == {line.name for line in LINES if WAVE[0] <= line.wavelength <= WAVE[-1]}
    assert "Hδ" in shown and "Ca II K" not in shown  # the grid starts at 4000 Å
    plot.show_lines.setChecked(False)
    assert not any(m.isVisible() for m in plot.line_markers)


def test_balmer_closeup_shows_the_fit_and_its_values(plot):
    flux, ivar = star()
    plot.set_spectrum(WAVE, flux, ivar)
    plot.set_balmer(FakeResult())
    hd = plot.closeup.hdelta
    assert "D0.2 = 25.56 Å" in hd.label.text() and "fm = 0.231" in hd.label.text()
    assert "b = 9.44 Å" in plot.closeup.hgamma.label.text()
    assert "c = 0.980" in plot.closeup.hgamma.label.text()
    assert "BHB" in plot.closeup.summary.text()
    x, _ = hd.fit_curve.getOriginalDataset()
    assert x.min() == pytest.approx(4102.89 - 70) and x.max() == pytest.approx(4102.89 + 70)
    data_x = hd.data_curve.getOriginalDataset()[0]
    assert data_x.min() >= 4032.89 and data_x.max() <= 4172.89


def test_failed_fit_says_why(plot):
    flux, ivar = star()
    plot.set_spectrum(WAVE, flux, ivar)
    plot.set_balmer(FakeResult(d02=np.nan, fm=np.nan, ok=False, reason="line not detected above the noise"))
    assert plot.closeup.hdelta.label.text() == "fit failed: line not detected above the noise"
    assert plot.closeup.summary.text().startswith("fit failed:")
    assert n_points(plot.closeup.hdelta.fit_curve) == 0


def test_real_balmer_result_is_drawn(plot):
    balmer = pytest.importorskip("bhb_viewer.core.balmer")
    flux = 50.0 * (WAVE / 5000.0) ** -2
    for rest in (4102.89, 4341.69):
        flux = flux * (1 - 0.75 * np.exp(-((np.abs(WAVE - rest) / 9.0) ** 1.0)))
    ivar = np.full(WAVE.size, 400.0)
    result = balmer.measure(flux, ivar)
    plot.set_spectrum(WAVE, flux, ivar)
    plot.set_balmer(result)
    assert result.ok, result.reason
    assert plot.closeup.hdelta.label.text().startswith("D0.2 = ")
    assert n_points(plot.closeup.hgamma.fit_curve) > 0


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
    curves = [plot.flux_curve, plot.saliency_curve, *plot.reference_curves,
              plot.closeup.hdelta.data_curve, plot.closeup.hdelta.fit_curve]
    assert all(n_points(c) == 0 for c in curves)
    assert all(r.brush().color().alpha() == 0 for r in plot.segment_regions)
    assert plot.closeup.hdelta.label.text() == "" and plot.closeup.summary.text() == ""


def test_spectra_without_usable_pixels_draw_nothing_and_do_not_fail(plot):
    plot.set_reference_spectra(np.ones(grid.NPIX), np.ones(grid.NPIX))
    plot.set_spectrum(WAVE, np.ones(WAVE.size), np.zeros(WAVE.size))  # all masked
    assert np.isnan(plot.flux_curve.getOriginalDataset()[1]).all()
    plot.set_spectrum(np.zeros(0), np.zeros(0), np.zeros(0))
    assert n_points(plot.flux_curve) == 0
    plot.grab()


def test_grab_is_not_blank(plot):
    plot.set_spectrum(WAVE, *star())
    plot.set_segment_weights(np.full(7, 1 / 7))
    plot.set_balmer(FakeResult())
    image = plot.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.width(), 4)
    assert image.width() == 1000
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 50
