import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.readers.cutouts import stretch
from bhb_viewer.gui.widgets.cutout_panel import (
    ATTENTION_RGB,
    DIVERGING_RGB,
    TARGET_COLOUR,
    CutoutPanel,
    attention_departure,
    best_columns,
    heat_layer,
    occlusion_layer,
)
from bhb_viewer.gui.widgets.importance_scale import ABOVE_RGB, AWAY_RGB, BELOW_RGB, TOWARDS_RGB

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


def choose(panel, overlay):
    """Pick the cutout overlay by its key ("occlusion" or "attention")."""
    panel.overlay_choice.setCurrentIndex(panel.overlay_choice.findData(overlay))


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
    choose(panel, "attention")
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
    panel.show_overlay.setChecked(False)
    assert all((panel.displayed(i) == plain[i]).all() for i in range(6))
    panel.show_overlay.setChecked(True)
    panel.set_attention(None)
    assert all((panel.displayed(i) == plain[i]).all() for i in range(6))
    with pytest.raises(ValueError):
        panel.set_attention(np.ones(5))


def test_heat_layer_spreads_cells_over_patches_on_a_fixed_scale_against_uniform():
    colour, weight = heat_layer(np.array([[0.0, 1.0], [2.0, 4.0]]), 6)  # mean 1.75
    assert weight.shape == (6, 6) and colour.shape == (6, 6, 3)
    np.testing.assert_allclose(weight[:3, :], 0.0)  # below uniform: nothing
    np.testing.assert_allclose(weight[3:, :3], 2.0 / 1.75 - 1.0, rtol=1e-6)
    np.testing.assert_allclose(weight[3:, 3:], 1.0)  # 2.3× uniform: full colour


def test_an_attention_map_within_ten_percent_of_uniform_draws_nothing(panel):
    """Issue 21: a near-uniform map stretched to its own maximum showed bright spots on blank sky."""
    nearly_flat = np.full((4, 4), 1.0)
    nearly_flat[0, 0] = 1.08  # the peak 7.5 % above the mean: flat
    _, weight = heat_layer(nearly_flat, 8)
    assert weight.max() == 0.0
    departure, flat = attention_departure(nearly_flat)
    assert flat and departure.max() < 0.1
    choose(panel, "attention")
    panel.set_cube(make_cube())
    panel.set_attention(nearly_flat)
    assert "flat" in panel.mosaic.scale_text
    peaked = np.full((4, 4), 1.0)
    peaked[1, 1] = 3.0
    panel.set_attention(peaked)
    assert "÷ uniform" in panel.mosaic.scale_text and heat_layer(peaked, 8)[1].max() == 1.0


def test_band_weight_bars_sum_to_one(panel):
    weights = np.array([0.32, 0.2, 0.18, 0.16, 0.14]) * 3.0  # not normalised on input
    panel.set_band_weights(weights)
    # share ÷ 1/5 − 1, full at ±1
    np.testing.assert_allclose(panel.bars.heights(), [0.6, 0.0, -0.1, -0.2, -0.3], atol=1e-9)
    assert panel.bars.texts == ["+60%", "+0%", "-10%", "-20%", "-30%"]
    assert panel.bars.colours[0].getRgb()[:3] == ABOVE_RGB and panel.bars.colours[4].getRgb()[:3] == BELOW_RGB
    assert panel.bars.labels == BANDS and "vs 1/5" in panel.bars.title and "flat" not in panel.bars.title
    panel.set_band_weights(np.array([0.187, 0.214, 0.2, 0.2, 0.199]))  # the shipped model's: flat
    assert panel.bars.title.endswith("flat") and np.abs(panel.bars.heights()).max() < 0.1
    panel.set_band_weights(None)
    assert not panel.bars.heights().any()
    with pytest.raises(ValueError):
        panel.set_band_weights(np.ones(3))


def pixels(widget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.width(), 4)
    return raw[..., 2::-1].astype(int)  # BGRA in memory → RGB


def test_six_tiles_painted_from_one_image_row_0_at_the_bottom(panel):
    cube = make_cube()
    cube[:, 0, :] = 50.0  # a bright bottom row (row 0)
    panel.set_cube(cube)
    panel.show_target.setChecked(False)
    picture = pixels(panel.mosaic)
    for i, rect in enumerate(panel.mosaic.tile_rects()):
        shown = panel.displayed(i)
        inset = rect.width() / S / 2  # half a cutout pixel inside the edge
        x = int(rect.center().x()) + 1
        column = min(S - 1, int((x - rect.left()) / rect.width() * S))
        np.testing.assert_allclose(picture[int(rect.bottom() - inset), x], shown[0, column], atol=2)
        np.testing.assert_allclose(picture[int(rect.top() + inset), x], shown[S - 1, column], atol=2)


def test_zoom_and_pan_are_shared_by_all_tiles(panel, qtbot):
    panel.set_cube(make_cube())
    panel.zoom_choice.setCurrentText("4×")
    seen = panel.mosaic.visible()
    assert (seen.center().x(), seen.center().y()) == (S / 2, S / 2) and seen.width() == S / 4
    rect = panel.mosaic.tile_rects()[3]  # a reviewer drags the i band 1/4 of a tile to the right
    start = rect.center().toPoint()
    end = start + QPoint(int(rect.width() / 4), 0)
    qtbot.mousePress(panel.mosaic, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(panel.mosaic, end)
    qtbot.mouseRelease(panel.mosaic, Qt.MouseButton.LeftButton, pos=end)
    moved = panel.mosaic.visible()
    assert moved.center().x() == pytest.approx(S / 2 - S / 16, abs=0.2)  # one view for every tile
    assert moved.center().y() == pytest.approx(S / 2)
    assert panel.mosaic.target_at(rect).x() > rect.center().x()  # the star moved right with the drag
    panel.reset_button.click()
    assert panel.mosaic.visible().width() == S and panel.zoom_choice.currentText() == "1×"


def test_wheel_zooms_one_level(panel):
    panel.set_cube(make_cube())
    panel.mosaic.sigZoomStep.emit(1)
    assert panel.zoom_choice.currentText() == "2×" and panel.mosaic.visible().width() == S / 2
    panel.mosaic.sigZoomStep.emit(-1)
    panel.mosaic.sigZoomStep.emit(-1)  # not below 1×
    assert panel.zoom_choice.currentText() == "1×" and panel.mosaic.visible().width() == S


def target_pixels(panel) -> int:
    picture = pixels(panel.mosaic)
    colour = np.array([TARGET_COLOUR.red(), TARGET_COLOUR.green(), TARGET_COLOUR.blue()])
    return int((np.abs(picture - colour).sum(axis=2) < 10).sum())


def test_target_ticks_point_at_the_centre_and_toggle(panel):
    panel.set_cube(make_cube())
    rects = panel.mosaic.tile_rects()
    for rect in rects:
        centre = panel.mosaic.target_at(rect)
        assert (centre.x(), centre.y()) == (pytest.approx(rect.center().x()), pytest.approx(rect.center().y()))
    assert target_pixels(panel) >= 6 * 4 * int(0.1 * rects[0].width())  # four ticks on every tile
    c = rects[0].center()
    star = pixels(panel.mosaic)[int(c.y()), int(c.x())]
    np.testing.assert_allclose(star, panel.displayed(0)[S // 2, S // 2], atol=2)  # the star itself is not covered
    panel.show_target.setChecked(False)
    assert target_pixels(panel) == 0


def test_attention_colour_scale_shown_with_the_overlay(panel):
    panel.set_cube(make_cube())
    choose(panel, "attention")
    assert not panel.mosaic.show_scale  # no attention yet: no scale
    panel.set_attention(np.random.default_rng(0).random((4, 4)))
    assert panel.mosaic.show_scale
    rect = panel.mosaic.scale_rect()
    strip = pixels(panel.mosaic)[int(rect.center().y()), int(rect.left()) + 1 : int(rect.right()) - 1]
    expected = ATTENTION_RGB[np.linspace(0, 255, len(strip)).round().astype(int)]
    np.testing.assert_allclose(strip, expected, atol=40)  # the inferno ramp, dark → bright
    assert strip[-1].sum() > strip[0].sum() + 300
    panel.show_overlay.setChecked(False)
    assert not panel.mosaic.show_scale


def test_overlay_flag_follows_the_toggle(panel, qtbot):
    assert panel.wants_overlay
    with qtbot.waitSignal(panel.sigOverlayWanted) as blocker:
        panel.show_overlay.setChecked(False)
    assert blocker.args == [False] and not panel.wants_overlay


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
    assert not panel.bars.heights().any()
    assert panel.bars.texts == [""] * 5


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


def test_measured_band_importance_replaces_the_model_weights_in_the_strip(panel):
    """Issue 21: the strip shows what removing each band does to P(BHB), signed, titled as such."""
    panel.set_band_importance(np.array([0.6, -0.1, 0.7, 0.0, 0.02]))
    assert panel.bars.texts == ["+0.60", "-0.10", "+0.70", "+0.00", "+0.02"]
    np.testing.assert_allclose(panel.bars.heights(), [0.6, -0.1, 0.7, 0.0, 0.02])  # ΔP on a fixed ±1 scale
    assert panel.bars.colours[0].getRgb()[:3] == TOWARDS_RGB and panel.bars.colours[1].getRgb()[:3] == AWAY_RGB
    assert panel.bars.title == "ΔP removing the band"
    panel.set_band_weights(np.full(5, 0.2))
    assert panel.bars.title == "model's weights vs 1/5: flat"


def test_occlusion_layer_is_signed_on_a_fixed_scale():
    """Green where hiding the patch lowers P(BHB), red where it raises it; |ΔP| 0.5 is full, never stretched."""
    colour, weight = occlusion_layer(np.array([[0.25, -0.5], [1.0, 0.0]]), 4)
    np.testing.assert_allclose(weight, [[0.5, 0.5, 1, 1], [0.5, 0.5, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]])
    np.testing.assert_array_equal(colour[0, 0], TOWARDS_RGB)
    np.testing.assert_array_equal(colour[0, 3], AWAY_RGB)
    _, faint = occlusion_layer(np.array([[0.01, 0.0], [0.0, 0.0]]), 4)
    assert faint.max() == pytest.approx(0.02)  # a star whose score rests on nothing there stays faint


def test_occlusion_is_the_default_overlay_and_attention_is_selectable(panel, qtbot):
    """Issue 21: measured occlusion is drawn by default, the model's attention beside it on request."""
    panel.set_cube(make_cube())
    plain = [panel.displayed(i).copy() for i in range(6)]
    panel.opacity.setValue(100)
    assert panel.overlay == "occlusion" and panel.overlay_choice.currentText().startswith("measured")
    occlusion = np.zeros((4, 4))
    occlusion[1:3, 1:3] = 0.5  # the star's centre holds the score up
    occlusion[0, 0] = -0.5  # a corner pushes away
    attention = np.ones((4, 4))
    attention[3, 3] = 3.0
    panel.set_attention(attention)
    panel.set_occlusion(occlusion)
    centre, corner, far = (S // 2, S // 2), (0, 0), (S - 1, S - 1)
    for i in range(6):
        shown = panel.displayed(i)
        np.testing.assert_array_equal(shown[centre], TOWARDS_RGB)
        np.testing.assert_array_equal(shown[corner], AWAY_RGB)
        np.testing.assert_array_equal(shown[far], plain[i][far])  # the attention's hot cell is not drawn
    assert panel.mosaic.show_scale and panel.mosaic.scale_kind == "occlusion" and panel.mosaic.scale_low == "away"
    assert "towards BHB" in panel.mosaic.scale_text and "peak 0.50" in panel.mosaic.scale_text
    rect = panel.mosaic.scale_rect()
    strip = pixels(panel.mosaic)[int(rect.center().y()), int(rect.left()) + 1 : int(rect.right()) - 1]
    np.testing.assert_allclose(strip[0], DIVERGING_RGB[0], atol=30)  # red at the left, green at the right
    np.testing.assert_allclose(strip[-1], DIVERGING_RGB[-1], atol=30)
    with qtbot.waitSignal(panel.sigOverlayWanted) as blocker:
        choose(panel, "attention")
    assert blocker.args == [True] and panel.mosaic.scale_kind == "attention"
    shown = panel.displayed(0)
    np.testing.assert_array_equal(shown[far], ATTENTION_RGB[255].round())
    np.testing.assert_array_equal(shown[centre], plain[0][centre])  # attention is uniform there
    choose(panel, "occlusion")
    panel.set_occlusion(None)  # not measured (no model, or maps off): nothing drawn, no scale
    assert (panel.displayed(0) == plain[0]).all() and not panel.mosaic.show_scale
    with pytest.raises(ValueError, match="2-D"):
        panel.set_occlusion(np.ones(4))
