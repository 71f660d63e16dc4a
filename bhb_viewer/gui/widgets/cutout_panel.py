"""The cutout panel: u, g, r, i, z and a gri colour composite, with an overlay and the band strip.

All six images share one stretch (``core.readers.cutouts.stretch``) and one zoom. They are painted as one
image: the six tiles, the overlay blended in with numpy, are laid side by side in a single array
and drawn by one plain widget (six ``drawImage`` calls from one QImage), which costs a fraction of
six pyqtgraph views with their own items. Ticks mark the target (the cutout's centre), and a
colour scale says what the overlay's colours mean.

The overlay is one of two, chosen beside its toggle: the measured occlusion map (the change in
P(BHB) when each patch of the stamp is replaced by the background, green towards BHB, red away, on
the fixed scale of ``importance_scale``), the default; or the model's own attention against
uniform. The band strip shows the measured band importance, or the model's SE weights against 1/5.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from astropy.visualization import make_lupton_rgb
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.readers.cutouts import STRETCHES, stretch_planes
from bhb_viewer.gui.widgets.importance_scale import (
    ABOVE_RGB,
    AWAY_RGB,
    BELOW_RGB,
    FLAT_MARGIN,
    FULL_DELTA,
    FULL_DEPARTURE,
    TOWARDS_RGB,
    measured_strength,
    uniform_departure,
)

COMPOSITE_BANDS = ("i", "r", "g")  # → red, green, blue
COMPOSITE_TITLE = "gri"  # short: a title sets its column's minimum width
LUPTON_Q = 8.0
LUPTON_PEAK_PERCENTILE = 99.9  # of the mean image: "the brightest pixels", robust to one hot pixel
LUPTON_PEAK = 0.95  # of full scale
LUPTON_FLOOR_SIGMA = 1.0
ZOOMS = (1, 2, 4, 8)
TITLE_HEIGHT = 16  # px above each tile
SCALE_HEIGHT = 24  # px kept under the tiles for the attention colour scale (kept even when hidden: no re-layout)
TARGET_COLOUR = QColor(80, 255, 140)
TARGET_GAP = 0.06  # of a tile's side: the ticks stop this far from the target, so they never cover the star
TARGET_TICK = 0.12  # of a tile's side
BACKGROUND = QColor(0, 0, 0)
TEXT_COLOUR = QColor(220, 220, 220)
VALUE_FONT_SCALE = 0.8  # the band strip's value texts, of the widget's font


def _attention_colours() -> np.ndarray:
    """Inferno colours (256×3, 0–255) indexed by attention; the opacity comes from ``blend``."""
    return pg.colormap.get("inferno").getLookupTable(0.0, 1.0, 256, alpha=False).astype(np.float32)


ATTENTION_RGB = _attention_colours()


ATTENTION_FULL_SCALE = 1.0  # a cell at (1 + this) × the uniform level is drawn at full colour
ATTENTION_FLAT_MARGIN = FLAT_MARGIN  # a map whose peak is within 10 % of uniform is "flat": nothing is drawn
OVERLAYS = {"occlusion": "measured: occlusion", "attention": "model's attention"}  # key → the choice's text


def attention_departure(attention: np.ndarray) -> tuple[np.ndarray, bool]:
    """(each cell ÷ the map's mean − 1, whether the map is flat: its peak within the margin of uniform).

    Why: the model's attention is a share; stretched to its own maximum a map within a few per cent
    of uniform shows bright spots on blank sky (measured on the shipped model: peaks at edges and
    corners, max/mean 1.22). On this fixed scale a flat map draws nothing.
    """
    a = np.nan_to_num(np.asarray(attention, dtype=float), nan=0.0)
    mean = a.mean() if a.size else 0.0
    if mean <= 0:
        return np.zeros_like(a), True
    departure = a / mean - 1.0
    return departure, bool(departure.max() < ATTENTION_FLAT_MARGIN)


def heat_layer(attention: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(colour S×S×3, weight S×S in [0, 1]) of an h×w attention map spread over a size×size image.

    The weight is the cell's excess over the uniform share on a fixed scale (:data:`ATTENTION_FULL_SCALE`),
    never stretched to the map's own maximum; a flat map weighs 0 everywhere. Each map cell covers its
    patch of the cutout (nearest neighbour): a token attends to a patch, and smoothing would suggest a
    resolution the model does not have.
    """
    a = np.asarray(attention, dtype=float)
    departure, flat = attention_departure(a)
    norm = np.zeros_like(departure) if flat else np.clip(departure / ATTENTION_FULL_SCALE, 0.0, 1.0)
    weight = _cells(norm, size).astype(np.float32)
    return ATTENTION_RGB[np.round(weight * 255).astype(int)], weight


def _cells(values: np.ndarray, size: int) -> np.ndarray:
    """An h×w map spread over size×size pixels, each cell over its patch (nearest neighbour)."""
    rows = np.arange(size) * values.shape[0] // size
    cols = np.arange(size) * values.shape[1] // size
    return values[np.ix_(rows, cols)]


def occlusion_layer(importance: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(colour S×S×3, weight S×S in [0, 1]) of a measured occlusion map (ΔP(BHB) per patch, h×w).

    Green where occluding the patch lowers P(BHB) (it pushes towards BHB), red where it raises it;
    the weight is |ΔP| on the fixed scale of ``importance_scale`` (:data:`FULL_DELTA` is full), so a
    star whose score rests on nothing in the stamp stays uncovered. Each cell covers its patch.
    """
    cells = _cells(np.nan_to_num(np.asarray(importance, dtype=float)), size)
    colour = np.where((cells >= 0)[..., None], _rgb(TOWARDS_RGB), _rgb(AWAY_RGB)).astype(np.float32)
    return colour, measured_strength(cells).astype(np.float32)


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
    chosen = [BANDS.index(band) for band in COMPOSITE_BANDS]
    stack, ok = cube[chosen].astype(np.float64), good[chosen]
    if ok.all():  # the usual case: all three medians at once
        flat = stack.reshape(3, -1)
        sky = np.median(flat, axis=1)
        noise = 1.4826 * np.median(np.abs(flat - sky[:, None]), axis=1)
    else:
        sky = np.array([np.median(p[o]) if o.any() else 0.0 for p, o in zip(stack, ok, strict=True)])
        noise = np.array([1.4826 * np.median(np.abs(p[o] - s)) if o.any() else 0.0
                          for p, o, s in zip(stack, ok, sky, strict=True)])
    planes = list(np.where(ok, stack - sky[:, None, None], 0.0))
    floors = list(LUPTON_FLOOR_SIGMA * noise)
    mean = (planes[0] + planes[1] + planes[2]) / 3.0
    peak = np.percentile(mean, LUPTON_PEAK_PERCENTILE)
    # asinh(Q·peak/scale)/Q = LUPTON_PEAK  →  scale = Q·peak/sinh(Q·LUPTON_PEAK)
    scale = LUPTON_Q * peak / np.sinh(LUPTON_Q * LUPTON_PEAK) if peak > 0 else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):  # astropy divides by the intensity, 0 on blank sky
        return make_lupton_rgb(*planes, minimum=floors, stretch=scale, Q=LUPTON_Q)


def best_columns(width: float, height: float, n: int = len(BANDS) + 1, title_height: float = TITLE_HEIGHT) -> int:
    """The grid (columns dividing ``n``) that shows ``n`` square images largest in width × height."""
    def side(columns: int) -> float:
        return min(width / columns, height / (n // columns) - title_height)

    return max((c for c in range(1, n + 1) if n % c == 0), key=side)


class MosaicView(QWidget):
    """The six tiles painted from one RGB image, with one zoom and one centre for all of them.

    The wheel zooms (through ``sigZoomStep``, so the panel's zoom box stays the truth), a drag pans
    every tile at once, a double-click resets. Row 0 of a cutout is drawn at the bottom (FITS
    convention: north up for a cube cut along RA/Dec).
    """

    sigZoomStep = Signal(int)  # +1 zoom in, -1 zoom out
    sigReset = Signal()

    def __init__(self, titles: tuple[str, ...], parent: QWidget | None = None,
                 before_paint: Callable[[], object] | None = None) -> None:
        super().__init__(parent)
        self.titles = titles
        self._before_paint = before_paint  # brings the tiles up to date (the panel's lazy blend)
        self.size_px = 0  # S, the side of a cutout
        self.zoom = 1.0
        self.centre = (0.0, 0.0)  # (x, y) in cutout pixels, shared by every tile
        self.columns = 3
        self.show_target = True
        self.show_scale = False
        self.scale_text = ""
        self.scale_low = "low"  # the text left of the colour scale
        self._image: QImage | None = None
        self._pixels: np.ndarray | None = None  # the QImage's memory, kept alive with it
        self.scale_images = {
            "attention": _colour_scale_image(ATTENTION_RGB),
            "occlusion": _colour_scale_image(DIVERGING_RGB),
        }
        self.scale_kind = "attention"  # which of scale_images is drawn (an OVERLAYS key)
        self._drag_from: QPointF | None = None
        self.setMinimumSize(150, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(640, 300)  # what the splitter shares out by: tiles big enough to judge a star

    # -- content -------------------------------------------------------------------------------
    def set_tiles(self, tiles: np.ndarray | None, repaint: bool = True) -> None:
        """n×S×S×3 uint8 tiles (None: nothing to show); a new size re-centres the view. ``repaint=False``
        when called from the paint itself."""
        if tiles is None:
            self._image = self._pixels = None
            self.update()
            return
        n, size = tiles.shape[0], tiles.shape[1]
        self.set_size(size)
        # n tiles side by side, rows flipped so that row 0 is at the bottom
        strip = np.ascontiguousarray(tiles[:, ::-1].transpose(1, 0, 2, 3).reshape(size, n * size, 3))
        self._pixels = strip
        self._image = QImage(strip.data, n * size, size, 3 * n * size, QImage.Format.Format_RGB888)
        if repaint:
            self.update()

    def set_size(self, size: int) -> None:
        """The side of the cutouts to come; a new size re-centres the view."""
        if size != self.size_px:
            self.size_px = size
            self.centre = (size / 2, size / 2)
            self._clamp()

    def set_zoom(self, zoom: float, centre: tuple[float, float] | None = None) -> None:
        self.zoom = float(zoom)
        if centre is not None:
            self.centre = centre
        self._clamp()
        self.update()

    def _clamp(self) -> None:
        """Keep the visible square inside the cutout (a pan never shows the neighbouring tile)."""
        half = self.size_px / (2 * self.zoom)
        lo, hi = half, self.size_px - half
        x, y = self.centre
        self.centre = (min(max(x, lo), hi), min(max(y, lo), hi))

    # -- geometry ------------------------------------------------------------------------------
    def visible(self) -> QRectF:
        """The square of a cutout every tile shows, in cutout pixels (x right, y up from row 0)."""
        half = self.size_px / (2 * self.zoom)
        return QRectF(self.centre[0] - half, self.centre[1] - half, 2 * half, 2 * half)

    def tile_rects(self) -> list[QRectF]:
        """Where each tile is drawn, in widget pixels (titles above them, the scale strip below)."""
        n = len(self.titles)
        width, height = self.width(), self.height() - SCALE_HEIGHT
        self.columns = best_columns(width, height, n)
        rows = n // self.columns
        side = max(1.0, min(width / self.columns, height / rows - TITLE_HEIGHT))
        left = (width - side * self.columns) / 2
        rects = []
        for i in range(n):
            row, col = divmod(i, self.columns)
            rects.append(QRectF(left + col * side, row * (side + TITLE_HEIGHT) + TITLE_HEIGHT, side, side))
        return rects

    def target_at(self, rect: QRectF) -> QPointF:
        """The target (the cutout's centre) in widget pixels within tile ``rect``."""
        seen = self.visible()
        x = rect.left() + (self.size_px / 2 - seen.left()) / seen.width() * rect.width()
        y = rect.bottom() - (self.size_px / 2 - seen.top()) / seen.height() * rect.height()
        return QPointF(x, y)

    def scale_rect(self) -> QRectF:
        """Where the overlay's colour scale is drawn (under the tiles, left)."""
        return QRectF(44, self.height() - SCALE_HEIGHT + 8, min(160.0, max(20.0, self.width() - 90.0)), 9)

    # -- painting ------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        if self._before_paint is not None:
            self._before_paint()
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        painter.setPen(TEXT_COLOUR)
        rects = self.tile_rects()
        seen = self.visible()
        for i, (rect, title) in enumerate(zip(rects, self.titles, strict=True)):
            painter.drawText(QRectF(rect.left(), rect.top() - TITLE_HEIGHT, rect.width(), TITLE_HEIGHT),
                             Qt.AlignmentFlag.AlignCenter, title)
            if self._image is None:
                continue
            source = QRectF(i * self.size_px + seen.left(), self.size_px - seen.bottom(), seen.width(), seen.height())
            painter.drawImage(rect, self._image, source)  # nearest neighbour: pixels stay pixels
        if self._image is not None and self.show_target:
            self._paint_target(painter, rects)
        if self.show_scale and self._image is not None:
            self._paint_scale(painter)
        painter.end()

    def _paint_target(self, painter: QPainter, rects: list[QRectF]) -> None:
        """Four ticks pointing at the target from outside a small gap, as DS9's crosshair of ticks."""
        painter.setPen(QPen(TARGET_COLOUR, 1))
        for rect in rects:
            centre = self.target_at(rect)
            if not rect.contains(centre):
                continue
            gap, tick = TARGET_GAP * rect.width(), TARGET_TICK * rect.width()
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                start = QPointF(centre.x() + dx * gap, centre.y() + dy * gap)
                end = QPointF(centre.x() + dx * (gap + tick), centre.y() + dy * (gap + tick))
                painter.drawLine(start, end)

    def _paint_scale(self, painter: QPainter) -> None:
        rect = self.scale_rect()
        painter.drawImage(rect, self.scale_images[self.scale_kind])
        painter.setPen(TEXT_COLOUR)
        text_box = QRectF(0, rect.top() - 4, rect.left() - 4, rect.height() + 8)
        painter.drawText(text_box, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self.scale_low)
        painter.drawText(
            QRectF(rect.right() + 4, rect.top() - 4, max(self.width() - rect.right() - 8, 0), rect.height() + 8),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.scale_text,
        )

    # -- mouse ---------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        step = event.angleDelta().y()
        if step:
            self.sigZoomStep.emit(1 if step > 0 else -1)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.position()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is None or self.size_px == 0:
            return
        side = self.tile_rects()[0].width()
        per_px = self.visible().width() / side  # cutout pixels per screen pixel
        delta = event.position() - self._drag_from
        self._drag_from = event.position()
        self.set_zoom(self.zoom, (self.centre[0] - delta.x() * per_px, self.centre[1] + delta.y() * per_px))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_from = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.sigReset.emit()


def _colour_scale_image(colours: np.ndarray) -> QImage:
    """Colours (256×3, 0–255), low to high, as a 256×1 image (drawn stretched)."""
    row = np.ascontiguousarray(np.asarray(colours).round().astype(np.uint8)[None])
    return QImage(row.data, 256, 1, 3 * 256, QImage.Format.Format_RGB888).copy()


def _diverging() -> np.ndarray:
    """The occlusion overlay's scale (256×3): full red (ΔP −FULL_DELTA) through black to full green (+FULL_DELTA)."""
    t = np.linspace(-1.0, 1.0, 256)[:, None]
    return np.where(t < 0, -t * _rgb(AWAY_RGB), t * _rgb(TOWARDS_RGB)).astype(np.float32)


def _rgb(colour: tuple[int, int, int]) -> np.ndarray:
    return np.asarray(colour, dtype=np.float32)


DIVERGING_RGB = _diverging()


class BandBars(QWidget):
    """Five signed bars from a centre line on a fixed scale, painted directly: the measured band
    importance (ΔP(BHB), green towards BHB, red away) or the model's SE weights against uniform.

    ``values`` are drawn as ``value ÷ full`` of the half height, up for positive, clipped at ±1, never
    rescaled to the largest: bars of different stars compare by eye.
    """

    def __init__(self, labels: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels = labels
        self.values = np.zeros(len(labels))
        self.texts = [""] * len(labels)
        self.colours = [QColor(*ABOVE_RGB)] * len(labels)
        self.title = "model's band weights"
        self.full = 1.0
        self.setMinimumWidth(140)
        self.setMaximumWidth(220)

    def set_values(self, values: np.ndarray, texts: list[str], title: str, full: float,
                   colours: list[QColor]) -> None:
        self.values, self.texts, self.title, self.full, self.colours = (np.asarray(values, dtype=float), texts, title,
                                                                         full, colours)
        self.update()

    def heights(self) -> np.ndarray:
        """Each bar's signed height as a fraction of the half height (what is painted)."""
        return np.clip(np.nan_to_num(self.values) / self.full, -1.0, 1.0)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        painter.setPen(TEXT_COLOUR)
        line = painter.fontMetrics().height()
        painter.drawText(QRectF(0, 2, self.width(), line), Qt.AlignmentFlag.AlignCenter, self.title)
        top, bottom = 2 * line + 4, self.height() - 2 * line - 4  # room for a value's text above or below
        middle, half = (top + bottom) / 2, max((bottom - top) / 2, 1.0)
        slot = self.width() / len(self.labels)
        painter.setPen(QPen(TEXT_COLOUR, 1))
        painter.drawLine(QPointF(0, middle), QPointF(self.width(), middle))
        for i, (label, h, colour) in enumerate(zip(self.labels, self.heights(), self.colours, strict=True)):
            x = i * slot
            bar = half * float(h)
            painter.fillRect(QRectF(x + 0.2 * slot, middle - max(bar, 0.0), 0.6 * slot, abs(bar)), colour)
            painter.drawText(QRectF(x, self.height() - line - 2, slot, line), Qt.AlignmentFlag.AlignCenter, label)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * VALUE_FONT_SCALE)  # five values side by side in a narrow strip
        painter.setFont(font)
        small = painter.fontMetrics().height()
        for i, (h, text) in enumerate(zip(self.heights(), self.texts, strict=True)):
            bar = half * float(h)
            box = (
                QRectF(i * slot, middle - bar - small, slot, small)
                if h >= 0
                else QRectF(i * slot, middle - bar, slot, small)
            )
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()


class CutoutPanel(QWidget):
    """u, g, r, i, z and a colour composite; target ticks; an overlay (occlusion or attention) with its scale;
    the band strip."""

    sigOverlayWanted = Signal(bool)  # whether an overlay is on screen (the explanation job may skip the maps)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cube: np.ndarray | None = None
        self._good: np.ndarray | None = None
        self._attention: np.ndarray | None = None
        self._occlusion: np.ndarray | None = None
        self._heat: tuple[np.ndarray, np.ndarray] | None = None
        self._bases: np.ndarray | None = None  # 6×S×S×3 uint8: the stretched bands and the composite
        self._shown: np.ndarray | None = None  # the same with the heat map blended in
        self._stale = False  # _shown (and _heat) wait for the next paint: a switch blends once, not per setter

        self.mosaic = MosaicView((*BANDS, COMPOSITE_TITLE), before_paint=self._blended)
        self.mosaic.sigZoomStep.connect(self._zoom_step)
        self.mosaic.sigReset.connect(self._reset_zoom)
        self.bars = BandBars(BANDS)

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
        self.show_target = QCheckBox("Target")
        self.show_target.setToolTip("ticks pointing at the target (the cutout's centre)")
        self.show_target.setChecked(True)
        self.show_target.toggled.connect(self._target_toggled)
        self.show_overlay = QCheckBox("Overlay")
        self.show_overlay.setChecked(True)
        self.show_overlay.toggled.connect(self._draw_all)
        self.show_overlay.toggled.connect(self.sigOverlayWanted)
        self.overlay_choice = QComboBox()
        for key, text in OVERLAYS.items():
            self.overlay_choice.addItem(text, key)
        self.overlay_choice.setToolTip(
            "measured: the change in P(BHB) when each 8×8 patch of all five bands is replaced by the background "
            f"(green towards BHB, red away, full at ±{FULL_DELTA:g}); model's attention: the classifier's "
            "internal attention against uniform, not evidence of use")
        self.overlay_choice.currentIndexChanged.connect(self._overlay_changed)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.setMaximumWidth(120)
        self.opacity.setToolTip("overlay opacity")
        self.opacity.valueChanged.connect(self._draw_all)
        for widget in (QLabel("Stretch"), self.stretch_choice, QLabel("Zoom"), self.zoom_choice, self.reset_button,
                       self.show_target, self.show_overlay, self.overlay_choice, self.opacity):
            row.addWidget(widget)
        row.addStretch(1)

        body = QHBoxLayout()
        body.setSpacing(2)
        body.addWidget(self.mosaic, 1)
        body.addWidget(self.bars)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(row)
        outer.addLayout(body, 1)

    @property
    def columns(self) -> int:
        """Tiles per row as last laid out: one row when wide, 3×2 or 2×3 otherwise."""
        return self.mosaic.columns

    @property
    def wants_overlay(self) -> bool:
        """Whether an overlay would be drawn (False: the explanation may skip computing the maps)."""
        return self.show_overlay.isChecked()

    @property
    def overlay(self) -> str:
        """The chosen overlay: an :data:`OVERLAYS` key."""
        return str(self.overlay_choice.currentData())

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
        self._bases = np.empty((len(BANDS) + 1, *data.shape[1:], 3), np.uint8)
        self._bases[-1] = _composite(data, good)
        self.mosaic.set_size(data.shape[-1])
        self._stretch_bands()  # draws every tile
        if resized:
            self._apply_zoom()

    def set_attention(self, attention: np.ndarray | None) -> None:
        """The model's attention over the cutout (any h×w grid, each cell over its patch of the image)."""
        self._attention = _grid(attention, "attention")
        self._draw_all()

    def set_occlusion(self, importance: np.ndarray | None) -> None:
        """The measured occlusion map: ΔP(BHB) when each patch (cell of an h×w grid) is replaced by the background."""
        self._occlusion = _grid(importance, "occlusion")
        self._draw_all()

    def set_band_weights(self, weights: np.ndarray | None) -> None:
        """The SE block's 5 band weights as departures from the uniform 1/5 (None: empty).

        Bars go up (blue) above uniform and down (grey) below, full at ±100 % of 1/5, the text in per
        cent of uniform; "flat" in the title when all are within the margin. Why: the weights are
        internal shares, 0.17–0.23 and the same for every star on the shipped model; drawn as shares
        they read as a finding about the star, drawn against uniform they read as what they are.
        """
        if weights is None:
            self.bars.set_values(np.zeros(len(BANDS)), [""] * len(BANDS), "model's band weights", FULL_DEPARTURE,
                                 [QColor(*ABOVE_RGB)] * len(BANDS))
            self.bars.setToolTip("")
            return
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(BANDS),):
            raise ValueError(f"band weights must have shape ({len(BANDS)},), got {w.shape}")
        departure, flat = uniform_departure(w)
        self.bars.set_values(departure, [f"{100 * d:+.0f}%" for d in departure],
                             f"model's weights vs 1/{len(BANDS)}" + (": flat" if flat else ""), FULL_DEPARTURE,
                             [QColor(*(ABOVE_RGB if d >= 0 else BELOW_RGB)) for d in departure])
        self.bars.setToolTip(f"the model's internal SE band weights against uniform (1/{len(BANDS)}), in per cent of "
                             f"uniform; flat: all within {FLAT_MARGIN:.0%}. Internal weights are not evidence of use.")

    def set_band_importance(self, importance: np.ndarray) -> None:
        """Measured band importance (ΔP(BHB) when the band is replaced by its background): signed bars on a
        fixed scale (ΔP ±1 is full), green towards BHB, red away, never rescaled to the largest."""
        v = np.asarray(importance, dtype=float)
        if v.shape != (len(BANDS),):
            raise ValueError(f"band importance must have shape ({len(BANDS)},), got {v.shape}")
        self.bars.set_values(v, [f"{x:+.2f}" for x in v], "ΔP removing the band", 1.0,
                             [QColor(*(TOWARDS_RGB if x >= 0 else AWAY_RGB)) for x in v])
        self.bars.setToolTip("measured: the change in P(BHB) when each band is replaced by its background "
                             "(+ towards BHB); the model's own SE weights are not evidence of use")

    def clear(self) -> None:
        """Empty every image and bar; the controls keep their settings."""
        self._cube = self._good = self._attention = self._occlusion = self._heat = self._bases = self._shown = None
        self._stale = False
        self.mosaic.set_tiles(None)
        self.mosaic.show_scale = False
        self.set_band_weights(None)

    def displayed(self, index: int) -> np.ndarray | None:
        """The RGB array tile ``index`` (0–4 = u…z, 5 = composite) shows now, heat map included."""
        shown = self._blended()
        return None if shown is None else shown[index]

    # -- drawing -------------------------------------------------------------------------
    def _stretch_bands(self) -> None:
        if self._cube is None or self._good is None or self._bases is None:  # no cutout shown
            return
        grey = stretch_planes(self._cube, self.stretch_choice.currentText(), mask=~self._good)
        self._bases[: len(BANDS)] = (grey * 255 + 0.5).astype(np.uint8)[..., None]
        self._draw_all()

    def _opacity(self) -> float:
        return self.opacity.value() / 100.0 if self.show_overlay.isChecked() else 0.0

    def _overlay_changed(self) -> None:
        self._draw_all()
        self.sigOverlayWanted.emit(self.wants_overlay)

    def _overlay_map(self) -> np.ndarray | None:
        return self._occlusion if self.overlay == "occlusion" else self._attention

    def _describe_scale(self) -> None:
        """The colour scale's words for the chosen overlay's map."""
        mosaic = self.mosaic
        mosaic.scale_kind = self.overlay
        if self.overlay == "occlusion":
            mosaic.scale_low = "away"
            peak = float(np.nanmax(np.abs(self._occlusion))) if self._occlusion is not None else 0.0
            mosaic.scale_text = f"towards BHB: ΔP occluding a patch, full ±{FULL_DELTA:g}, peak {peak:.2f}"
            return
        mosaic.scale_low = "low"
        if self._attention is not None:
            departure, flat = attention_departure(self._attention)
            mosaic.scale_text = (f"model's attention flat (peak {departure.max():+.0%} vs uniform): not drawn" if flat
                                 else f"model's attention ÷ uniform (full: {1 + ATTENTION_FULL_SCALE:g}×)")

    def _draw_all(self) -> None:
        """Mark the tiles for redrawing; the blend happens once, at the next paint (or ``displayed``)."""
        if self._bases is None:
            return
        self._stale = True
        self._describe_scale()
        self.mosaic.show_scale = self._overlay_map() is not None and self._opacity() > 0
        self.mosaic.update()

    def _blended(self) -> np.ndarray | None:
        """The tiles with the overlay blended in, made now if something changed since the last time."""
        if self._stale and self._bases is not None and self._cube is not None:
            size, shown = self._cube.shape[-1], self._overlay_map()
            layer = occlusion_layer if self.overlay == "occlusion" else heat_layer
            heat = layer(shown, size) if shown is not None else None
            self._heat = heat
            self._shown = blend(self._bases, heat, self._opacity())
            self.mosaic.set_tiles(self._shown, repaint=False)
            self._stale = False
        return self._shown

    def _target_toggled(self, on: bool) -> None:
        self.mosaic.show_target = on
        self.mosaic.update()

    def _apply_zoom(self) -> None:
        """Centre the shared view on the star at the chosen magnification (1× = whole cutout)."""
        size = self.mosaic.size_px
        self.mosaic.set_zoom(ZOOMS[self.zoom_choice.currentIndex()], (size / 2, size / 2))

    def _zoom_step(self, step: int) -> None:
        """The wheel: one zoom level in or out, keeping the reviewer's pan."""
        index = min(max(self.zoom_choice.currentIndex() + step, 0), len(ZOOMS) - 1)
        if index != self.zoom_choice.currentIndex():
            self.zoom_choice.blockSignals(True)
            self.zoom_choice.setCurrentIndex(index)
            self.zoom_choice.blockSignals(False)
            self.mosaic.set_zoom(ZOOMS[index])

    def _reset_zoom(self) -> None:
        if self.zoom_choice.currentIndex() == 0:
            self._apply_zoom()
        else:
            self.zoom_choice.setCurrentIndex(0)


def _grid(values: np.ndarray | None, what: str) -> np.ndarray | None:
    """A map over the cutout's h×w grid of patches as floats; ValueError naming ``what`` if it is not 2-D."""
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"{what} map must be 2-D, got shape {values.shape}")
    return values
