"""The cutout panel: u, g, r, i, z and a gri colour composite, with the model's attention and band weights.

All six images share one stretch (``core.cutouts.stretch``) and one zoom. Each view is a single
RGB image item fed new arrays on every candidate; the attention heat map is blended into it with
numpy, which costs far less than painting a translucent overlay item over each image.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from astropy.visualization import make_lupton_rgb
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from bhb_viewer.core.cutouts import STRETCHES, stretch
from bhb_viewer.core.grid import BANDS

COMPOSITE_BANDS = ("i", "r", "g")  # → red, green, blue
COMPOSITE_TITLE = "gri"  # short: a title sets its column's minimum width
LUPTON_Q = 8.0
LUPTON_PEAK_PERCENTILE = 99.9  # of the mean image: "the brightest pixels", robust to one hot pixel
LUPTON_PEAK = 0.95  # of full scale
LUPTON_FLOOR_SIGMA = 1.0
ZOOMS = (1, 2, 4, 8)
BAR_BRUSH = pg.mkBrush(90, 170, 255)
BAR_TOP = 0.5  # weight at the top of the bar chart; the paper's largest, u, is ≈ 0.32


def _attention_colours() -> np.ndarray:
    """Inferno colours (256×3, 0–255) indexed by attention; the opacity comes from ``blend``."""
    return pg.colormap.get("inferno").getLookupTable(0.0, 1.0, 256, alpha=False).astype(np.float32)


ATTENTION_RGB = _attention_colours()


def heat_layer(attention: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(colour S×S×3, weight S×S in [0, 1]) of an h×w attention map spread over a size×size image.

    Each map cell covers its patch of the cutout (nearest neighbour): a token attends to a patch,
    and smoothing would suggest a resolution the model does not have.
    """
    a = np.asarray(attention, dtype=float)
    finite = a[np.isfinite(a)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    norm = np.clip((np.nan_to_num(a, nan=lo) - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    rows = np.arange(size) * a.shape[0] // size
    cols = np.arange(size) * a.shape[1] // size
    weight = norm[np.ix_(rows, cols)].astype(np.float32)
    return ATTENTION_RGB[np.round(weight * 255).astype(int)], weight


def blend(base: np.ndarray, heat: tuple[np.ndarray, np.ndarray] | None, opacity: float) -> np.ndarray:
    """``base`` (S×S×3 uint8) with the heat colour laid over it at ``opacity`` × attention.

    Opacity grows with attention, so where the model did not look the image stays as it is.
    """
    if heat is None or opacity <= 0:
        return base
    colour, weight = heat
    alpha = (opacity * weight)[..., None]
    return (base * (1.0 - alpha) + colour * alpha + 0.5).astype(np.uint8)


def _composite(cube: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Lupton et al. (2004) asinh colour image of i, r, g as R, G, B (uint8 S×S×3).

    Each band's black point is its sky (median of valid pixels) plus ``LUPTON_FLOOR_SIGMA`` times
    its noise (from the median absolute deviation), so blank sky is dark, not coloured speckle; the
    scale puts the brightest
    pixels of the mean image at ``LUPTON_PEAK`` of full scale, so a faint star is as visible as a
    bright one while the asinh keeps colours (a BHB's blue) and the faint wings.
    """
    index = {band: i for i, band in enumerate(BANDS)}
    planes, floors = [], []
    for band in COMPOSITE_BANDS:
        plane = cube[index[band]].astype(np.float64)
        ok = good[index[band]]
        sky = np.median(plane[ok]) if ok.any() else 0.0
        planes.append(np.where(ok, plane - sky, 0.0))
        noise = 1.4826 * np.median(np.abs(plane[ok] - sky)) if ok.any() else 0.0
        floors.append(LUPTON_FLOOR_SIGMA * noise)
    mean = (planes[0] + planes[1] + planes[2]) / 3.0
    peak = np.percentile(mean, LUPTON_PEAK_PERCENTILE)
    # asinh(Q·peak/scale)/Q = LUPTON_PEAK  →  scale = Q·peak/sinh(Q·LUPTON_PEAK)
    scale = LUPTON_Q * peak / np.sinh(LUPTON_Q * LUPTON_PEAK) if peak > 0 else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):  # astropy divides by the intensity, 0 on blank sky
        return make_lupton_rgb(*planes, minimum=floors, stretch=scale, Q=LUPTON_Q)


class _ImageView:
    """One titled view holding one RGB image."""

    def __init__(self, title: str) -> None:
        self.title = pg.LabelItem(title, size="9pt")
        self.view = pg.ViewBox(lockAspect=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.base: np.ndarray | None = None  # the stretched image before the heat map, S×S×3 uint8


def best_columns(width: float, height: float, n: int = len(BANDS) + 1, title_height: float = 20.0) -> int:
    """The grid (columns dividing ``n``) that shows ``n`` square images largest in width × height."""
    def side(columns: int) -> float:
        return min(width / columns, height / (n // columns) - title_height)

    return max((c for c in range(1, n + 1) if n % c == 0), key=side)


class CutoutPanel(QWidget):
    """u, g, r, i, z and a colour composite; attention overlay; band-weight bar chart."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cube: np.ndarray | None = None
        self._good: np.ndarray | None = None
        self._attention: np.ndarray | None = None
        self._heat: tuple[np.ndarray, np.ndarray] | None = None

        self.images = pg.GraphicsLayoutWidget()
        self.views = [_ImageView(t) for t in (*BANDS, COMPOSITE_TITLE)]
        self.columns = 0
        self._arrange(3)
        self.images.installEventFilter(self)  # re-arranged on resize: one row when wide, 3×2, 2×3
        # pyqtgraph's axis links line views up by screen position (made for stacked plots); side-by-
        # side images need the same range in each, so a reviewer's zoom or pan is copied instead.
        for v in self.views:
            v.view.sigRangeChangedManually.connect(lambda _mouse, source=v.view: self._follow(source))
        self.band_views = self.views[: len(BANDS)]
        self.composite_view = self.views[-1]

        self.bars = pg.PlotWidget()
        self.bars.setMenuEnabled(False)
        self.bars.setMouseEnabled(x=False, y=False)
        self.bars.setTitle("band weights", size="9pt")
        self.bars.getAxis("bottom").setTicks([list(enumerate(BANDS))])
        self.bars.hideAxis("left")  # the percentages are written on the bars
        self.bars.setXRange(-0.6, len(BANDS) - 0.4, padding=0)
        self.bars.setYRange(0, BAR_TOP, padding=0)
        self.bars.setMaximumWidth(220)
        self.bar_item = pg.BarGraphItem(x=np.arange(len(BANDS)), height=np.zeros(len(BANDS)), width=0.6,
                                        brush=BAR_BRUSH)
        self.bars.addItem(self.bar_item)
        self.bar_labels = [pg.TextItem("", anchor=(0.5, 1.0)) for _ in BANDS]
        for i, label in enumerate(self.bar_labels):
            label.setPos(i, 0)
            self.bars.addItem(label)

        row = QHBoxLayout()
        self.stretch_choice = QComboBox()
        self.stretch_choice.addItems(STRETCHES)
        self.stretch_choice.setCurrentText("asinh")
        self.stretch_choice.currentIndexChanged.connect(self._stretch_bands)
        self.zoom_choice = QComboBox()
        self.zoom_choice.addItems([f"{z}×" for z in ZOOMS])
        self.zoom_choice.currentIndexChanged.connect(self._apply_zoom)
        self.reset_button = QPushButton("Reset zoom")
        self.reset_button.clicked.connect(self._reset_zoom)
        self.show_attention = QCheckBox("Attention")
        self.show_attention.setChecked(True)
        self.show_attention.toggled.connect(self._draw_all)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.setMaximumWidth(120)
        self.opacity.setToolTip("attention overlay opacity")
        self.opacity.valueChanged.connect(self._draw_all)
        for widget in (QLabel("Stretch"), self.stretch_choice, QLabel("Zoom"), self.zoom_choice, self.reset_button,
                       self.show_attention, self.opacity):
            row.addWidget(widget)
        row.addStretch(1)

        body = QHBoxLayout()
        body.addWidget(self.images, 1)
        body.addWidget(self.bars)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(row)
        outer.addLayout(body, 1)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.images and event.type() == QEvent.Type.Resize:
            size = event.size()
            self._arrange(best_columns(size.width(), size.height()))
        return False

    def _arrange(self, columns: int) -> None:
        if columns == self.columns:
            return
        layout = self.images.ci
        layout.clear()
        for i, v in enumerate(self.views):
            row, col = divmod(i, columns)
            layout.addItem(v.title, row=2 * row, col=col)
            layout.addItem(v.view, row=2 * row + 1, col=col)
        self.columns = columns

    # -- public API ----------------------------------------------------------------------
    def set_cube(self, cube: np.ndarray, mask: np.ndarray | None = None) -> None:
        """A 5×S×S cube in nanomaggies (bands u, g, r, i, z); ``mask`` True where there is no data."""
        data = np.asarray(cube)
        if data.ndim != 3 or data.shape[0] != len(BANDS) or data.shape[1] != data.shape[2]:
            raise ValueError(f"cube must be {len(BANDS)}×S×S, got shape {data.shape}")
        good = np.isfinite(data)
        if mask is not None:
            mask = np.asarray(mask, bool)
            if mask.shape != data.shape:
                raise ValueError(f"mask shape {mask.shape} differs from cube shape {data.shape}")
            good &= ~mask
        resized = self._cube is None or self._cube.shape != data.shape
        self._cube, self._good = data, good
        self.composite_view.base = _composite(data, good)
        self._update_heat()
        self._stretch_bands()  # draws every view
        if resized:
            self._apply_zoom()
        self._settle()

    def set_attention(self, attention: np.ndarray | None) -> None:
        """The model's attention over the cutout (any h×w grid, each cell over its patch of the image)."""
        if attention is not None:
            attention = np.asarray(attention, dtype=float)
            if attention.ndim != 2:
                raise ValueError(f"attention map must be 2-D, got shape {attention.shape}")
        self._attention = attention
        self._update_heat()
        self._draw_all()

    def set_band_weights(self, weights: np.ndarray | None) -> None:
        """The SE block's 5 band weights, drawn normalised to sum 1 with percentages (None: empty)."""
        if weights is None:
            heights = np.zeros(len(BANDS))
            texts = [""] * len(BANDS)
        else:
            w = np.asarray(weights, dtype=float)
            if w.shape != (len(BANDS),):
                raise ValueError(f"band weights must have shape ({len(BANDS)},), got {w.shape}")
            total = w.sum()
            heights = w / total if total > 0 else np.zeros(len(BANDS))
            texts = [f"{100 * h:.0f}%" for h in heights]
        self.bar_item.setOpts(height=heights)
        for i, (label, h, text) in enumerate(zip(self.bar_labels, heights, texts, strict=True)):
            label.setText(text)
            label.setPos(i, h)
        # A fixed scale (unless a weight outgrows it) keeps the labels from being re-laid each time.
        self.bars.setYRange(0, max(BAR_TOP, heights.max() * 1.2), padding=0)
        self.bars.getPlotItem().getViewBox().updateMatrix()

    def clear(self) -> None:
        """Empty every image and bar; the controls keep their settings."""
        self._cube = self._good = self._attention = self._heat = None
        for v in self.views:
            v.base = None
            v.image.clear()
        self.set_band_weights(None)

    def displayed(self, index: int) -> np.ndarray | None:
        """The RGB array view ``index`` (0–4 = u…z, 5 = composite) shows now, heat map included."""
        return self.views[index].image.image

    # -- drawing -------------------------------------------------------------------------
    def _stretch_bands(self) -> None:
        cube, good = self._cube, self._good
        if cube is None or good is None:
            return
        kind = self.stretch_choice.currentText()
        for i, v in enumerate(self.band_views):
            grey = stretch(cube[i], kind, mask=~good[i])
            v.base = np.repeat((grey * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
        self._draw_all()

    def _update_heat(self) -> None:
        attention, cube = self._attention, self._cube
        self._heat = heat_layer(attention, cube.shape[-1]) if attention is not None and cube is not None else None

    def _draw_all(self) -> None:
        opacity = self.opacity.value() / 100.0 if self.show_attention.isChecked() else 0.0
        for v in self.views:
            if v.base is not None:
                v.image.setImage(blend(v.base, self._heat, opacity), autoLevels=False, levels=(0, 255))

    def _apply_zoom(self) -> None:
        """Centre the shared view on the star at the chosen magnification (1× = whole cutout)."""
        if self._cube is None:
            return
        size = self._cube.shape[-1]
        half = size / (2 * ZOOMS[self.zoom_choice.currentIndex()])
        centre = size / 2
        span = (centre - half, centre + half)
        self._set_range(span, span)

    def _follow(self, source: pg.ViewBox) -> None:
        x_range, y_range = source.viewRange()
        self._set_range(x_range, y_range, skip=source)

    def _set_range(self, x_range, y_range, skip: pg.ViewBox | None = None) -> None:
        for v in self.views:
            if v.view is not skip:
                v.view.setRange(xRange=x_range, yRange=y_range, padding=0)

    def _reset_zoom(self) -> None:
        if self.zoom_choice.currentIndex() == 0:
            self._apply_zoom()
        else:
            self.zoom_choice.setCurrentIndex(0)

    def _settle(self) -> None:
        """Apply pending view transforms now rather than at paint time (which would paint twice)."""
        for v in self.views:
            v.view.updateMatrix()
