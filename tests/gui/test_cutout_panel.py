import numpy as np
import pytest
from PySide6.QtGui import QImage

from bhb_viewer.core.cutouts import stretch
from bhb_viewer.core.grid import BANDS
from bhb_viewer.gui.widgets.cutout_panel import ATTENTION_RGB, CutoutPanel, best_columns, heat_layer

S = 32


def make_cube(seed=0):
    """A star at the centre of every band (brighter in g, r) on noisy sky, nanomaggies."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:S, :S]
    psf = np.exp(-((xx - (S - 1) / 2) ** 2 + (yy - (S - 1) / 2) ** 2) / (2 * 1.5**2))
    amp = np.array([2.0, 10.0, 8.0, 6.0, 4.0])
    return (amp[:, None, None] * psf + rng.normal(0, 0.05, (5, S, S))).astype(np.float32)


@pytest.fixture
def panel(qtbot):
    widget = CutoutPanel()
    qtbot.addWidget(widget)
    widget.resize(700, 420)
    widget.show()
    return widget


def grey(panel, i):
    """The grey level view i shows, 0–1 (all three channels equal without a heat map)."""
    rgb = panel.displayed(i)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    return rgb[..., 0] / 255.0


def test_each_band_shows_the_core_stretch_of_its_plane(panel):
    cube = make_cube()
    panel.set_cube(cube)
    for i in range(len(BANDS)):
        np.testing.assert_allclose(grey(panel, i), stretch(cube[i], "asinh"), atol=0.5 / 255 + 1e-6)
        assert tuple(panel.views[i].image.levels) == (0, 255)
    rgb = panel.displayed(5)
    assert rgb.shape == (S, S, 3) and rgb.dtype == np.uint8
    centre = rgb[S // 2, S // 2].astype(int)
    assert centre.sum() > rgb[0, 0].astype(int).sum()  # the star is brighter than the sky
    assert centre[2] > centre[0]  # brighter in g than in i: blue (g → B, i → R)


def test_stretch_choice_changes_every_band(panel):
    cube = make_cube()
    panel.set_cube(cube)
    shown = {}
    for kind in ("linear", "asinh", "zscale"):
        panel.stretch_choice.setCurrentText(kind)
        for i in range(len(BANDS)):
            np.testing.assert_allclose(grey(panel, i), stretch(cube[i], kind), atol=0.5 / 255 + 1e-6)
        shown[kind] = grey(panel, 1)
    assert not np.allclose(shown["linear"], shown["asinh"])
    assert not np.allclose(shown["asinh"], shown["zscale"])
    # Linear min-max: the sky sits near the bottom; asinh lifts it.
    assert np.median(shown["linear"]) < np.median(shown["asinh"])


def test_masked_pixels_are_black(panel):
    cube = make_cube()
    mask = np.zeros(cube.shape, bool)
    mask[:, :4, :] = True
    cube[:, :4, :] = 1e4  # junk under the mask must not set the stretch limits
    panel.set_cube(cube, mask)
    for i in range(len(BANDS)):
        shown = grey(panel, i)
        assert (shown[:4] == 0).all()
        assert shown[4:].max() == 1.0


def test_attention_heat_map_blends_over_every_view(panel):
    panel.set_cube(make_cube())
    plain = [panel.displayed(i).copy() for i in range(6)]
    attention = np.zeros((4, 4))
    attention[0, 3] = 2.0  # one hot cell: the patch of rows 0–7, columns 24–31
    panel.opacity.setValue(100)
    panel.set_attention(attention)
    hot = (slice(0, S // 4), slice(3 * S // 4, S))
    for i in range(6):
        shown = panel.displayed(i)
        np.testing.assert_array_equal(shown[hot], np.broadcast_to(ATTENTION_RGB[255].round(), shown[hot].shape))
        untouched = np.ones((S, S), bool)
        untouched[hot] = False
        np.testing.assert_array_equal(shown[untouched], plain[i][untouched])  # zero attention: image as is
    panel.opacity.setValue(50)
    half = panel.displayed(2)[hot].astype(float)
    np.testing.assert_allclose(half, 0.5 * plain[2][hot] + 0.5 * ATTENTION_RGB[255], atol=1)
    panel.show_attention.setChecked(False)
    assert all((panel.displayed(i) == plain[i]).all() for i in range(6))
    panel.show_attention.setChecked(True)
    panel.set_attention(None)
    assert all((panel.displayed(i) == plain[i]).all() for i in range(6))
    with pytest.raises(ValueError):
        panel.set_attention(np.ones(5))


def test_heat_layer_spreads_cells_over_patches():
    colour, weight = heat_layer(np.array([[0.0, 1.0], [2.0, 4.0]]), 6)
    assert weight.shape == (6, 6) and colour.shape == (6, 6, 3)
    np.testing.assert_allclose(weight[:3, :3], 0.0)
    np.testing.assert_allclose(weight[3:, 3:], 1.0)
    np.testing.assert_allclose(weight[:3, 3:], 0.25)


def test_band_weight_bars_sum_to_one(panel):
    weights = np.array([0.32, 0.2, 0.18, 0.16, 0.14]) * 3.0  # not normalised on input
    panel.set_band_weights(weights)
    heights = np.asarray(panel.bar_item.opts["height"])
    assert heights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(heights, weights / weights.sum())
    assert [label.toPlainText() for label in panel.bar_labels] == ["32%", "20%", "18%", "16%", "14%"]
    ticks = panel.bars.getAxis("bottom")._tickLevels[0]
    assert [t[1] for t in ticks] == list(BANDS)
    panel.set_band_weights(None)
    assert np.asarray(panel.bar_item.opts["height"]).sum() == 0
    with pytest.raises(ValueError):
        panel.set_band_weights(np.ones(3))


def test_zoom_is_shared_by_all_views(panel):
    panel.set_cube(make_cube())
    panel.zoom_choice.setCurrentText("4×")
    for v in panel.views:
        xr, yr = v.view.viewRange()
        assert np.mean(xr) == pytest.approx(S / 2) and np.mean(yr) == pytest.approx(S / 2)
        # the aspect lock may widen one axis; the narrower one spans S/4
        assert min(np.diff(xr)[0], np.diff(yr)[0]) == pytest.approx(S / 4, rel=0.01)
    moved = panel.views[3].view  # a reviewer pans the i band: every view follows
    moved.setRange(xRange=(2, 10), yRange=(2, 10), padding=0)
    moved.sigRangeChangedManually.emit([True, True])
    for v in panel.views:
        xr, yr = v.view.viewRange()
        assert (np.mean(xr), np.mean(yr)) == (pytest.approx(6), pytest.approx(6))
    panel.reset_button.click()
    xr, yr = panel.views[5].view.viewRange()
    assert min(np.diff(xr)[0], np.diff(yr)[0]) == pytest.approx(S, rel=0.01)


def test_bad_cube_shapes_are_refused(panel):
    with pytest.raises(ValueError, match="5×S×S"):
        panel.set_cube(np.zeros((3, S, S)))
    with pytest.raises(ValueError, match="mask"):
        panel.set_cube(make_cube(), np.zeros((5, 4, 4), bool))


def test_clear_empties_everything(panel):
    panel.set_cube(make_cube())
    panel.set_attention(np.ones((4, 4)))
    panel.set_band_weights(np.ones(5))
    panel.clear()
    assert all(panel.displayed(i) is None for i in range(6))
    assert np.asarray(panel.bar_item.opts["height"]).sum() == 0
    assert all(label.toPlainText() == "" for label in panel.bar_labels)


def test_grab_is_not_blank(panel):
    panel.set_cube(make_cube())
    panel.set_attention(np.random.default_rng(1).random((8, 8)))
    panel.set_band_weights(np.ones(5))
    image = panel.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.width(), 4)
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 50


def test_images_rearrange_to_fill_the_space(panel, qtbot):
    assert best_columns(1000, 250) == 6  # a wide strip: one row
    assert best_columns(450, 350) == 3
    assert best_columns(300, 600) == 2
    panel.resize(1400, 260)
    qtbot.waitUntil(lambda: panel.columns == 6)
    panel.resize(500, 500)
    qtbot.waitUntil(lambda: panel.columns in (2, 3))
    panel.set_cube(make_cube())
    assert panel.displayed(5) is not None
