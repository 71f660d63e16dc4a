"""The spectral lines on the spectrum plot: a faint marker per line and its label, in rows along the top.

Labels sit in up to :data:`LABEL_ROWS` rows of one text height, each label in the first row where
it overlaps no other, hydrogen first (what a BHB is judged on); one that finds no room is hidden
rather than drawn over another. Only lines the spectrum covers are marked: the grid starts at
4000 Å, and markers for Hε, H8 or Ca II H&K would crowd its edge with labels of nothing.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

from bhb_viewer.core.science.lines import LINES, Line

# Solid, faint marker lines: dashed pens are stroked dash by dash, on every repaint of every star.
HYDROGEN_PEN = pg.mkPen(255, 110, 110, 150, width=1)
METAL_PEN = pg.mkPen(170, 170, 170, 120, width=1)
LABEL_COLOUR = (225, 225, 225)
LABEL_FILL = (0, 0, 0, 150)
LABEL_ROWS = 4  # at most, and the band they take at most:
LABEL_BAND = 0.3  # of the plot's height
LABEL_GAP_PX = 6  # the least space between two labels in one row
LABEL_MARGIN_PX = 1  # inside a label's dark fill (Qt's default of 4 makes rows needlessly tall)


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


def _label(line: Line) -> pg.TextItem:
    """A line's name on a dark fill, so it reads over the segment shading."""
    label = pg.TextItem(line.name, color=LABEL_COLOUR, fill=LABEL_FILL, anchor=(0.5, 0.5))
    label.textItem.document().setDocumentMargin(LABEL_MARGIN_PX)
    label.updateTextPos()
    # The text never changes: painted once into a pixmap, then copied on every repaint.
    label.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    label.setPos(line.wavelength, 1.0)
    return label


class LineMarks:
    """Markers and labels of the lines of ``core.science.lines``, in the plot's overlay view (0–1 high).

    Parameters
    ----------
    overlay
        The view that shares the flux's wavelength axis; labels are placed in its 0–1 height.
    """

    def __init__(self, overlay: pg.ViewBox) -> None:
        self.lines = tuple(sorted(LINES, key=lambda line: line.wavelength))
        self.markers = [pg.InfiniteLine(pos=line.wavelength, angle=90,
                                        pen=HYDROGEN_PEN if line.species == "H" else METAL_PEN)
                        for line in self.lines]
        self.labels = [_label(line) for line in self.lines]
        for item in (*self.markers, *self.labels):
            overlay.addItem(item, ignoreBounds=True)
        self.on = True
        self.span = (-np.inf, np.inf)  # the wavelengths the spectrum covers

    def show(self, on: bool, span: tuple[float, float] | None) -> None:
        """Mark the lines inside ``span`` (None: no spectrum, every line) when ``on``; labels follow
        at the next :meth:`layout`."""
        self.on, self.span = on, span or (-np.inf, np.inf)
        lo, hi = self.span
        for marker in self.markers:
            marker.setVisible(bool(on and lo <= marker.value() <= hi))

    def visible_labels(self) -> list[pg.TextItem]:
        return [label for label in self.labels if label.isVisible()]

    def rows(self, height_px: float) -> list[float]:
        """Heights (0–1 of the plot) of the label rows: one text height apart, as many as fit the band."""
        step = (self.labels[0].textItem.boundingRect().height() + 1) / height_px
        n = max(1, min(LABEL_ROWS, int(LABEL_BAND / step)))
        return [1.0 - (k + 0.5) * step for k in range(n)]

    def band(self, height_px: float) -> float:
        """The fraction of the plot's height the label rows take (the flux stays below it)."""
        rows = self.rows(height_px)
        return min(LABEL_BAND, 1.0 - rows[-1] + (1.0 - rows[0]))

    def layout(self, x_range: tuple[float, float], width_px: float, height_px: float) -> None:
        """Put each marked line's label in view in the first top row where it overlaps no other label."""
        x0, x1 = x_range
        lo, hi = self.span
        wanted = [i for i, line in enumerate(self.lines)
                  if self.on and lo <= line.wavelength <= hi and x0 <= line.wavelength <= x1]
        for label in self.labels:
            label.setVisible(False)
        if not wanted or x1 <= x0:
            return
        per_px = width_px / (x1 - x0)
        widths = np.array([self.labels[i].textItem.boundingRect().width() for i in wanted])
        # centred on its line, but kept inside the plot (a label at the edge would be cut)
        centres = np.clip([(self.lines[i].wavelength - x0) * per_px for i in wanted], widths / 2, width_px - widths / 2)
        heights = self.rows(height_px)
        rows = layout_labels(centres, widths, np.array([_priority(self.lines[i]) for i in wanted]), len(heights))
        for i, centre, row in zip(wanted, centres, rows, strict=True):
            if row >= 0:
                label = self.labels[i]
                label.setPos(x0 + centre / per_px, heights[row])
                label.setVisible(True)
