"""Showing the candidate on show: its row in the table, its verdict, its spectrum, cutouts and overlays.

The verdict panel follows at once; plots are drawn once the event queue is empty, so holding J
draws only the star it stops on. Explanations (saliency, attention) are asked of the review's
scoring only while one of their toggles is on. This view is the one writer of the widgets it is
given, and renders the review's :class:`~bhb_viewer.review.mode.ReviewMode` on them: while a blind
audit hides the scores, the P(BHB) column, the panel's score, its heads' scores and the band bars go.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from bhb_viewer.core.readers.known_stars import describe as describe_known
from bhb_viewer.gui.widgets.candidate_table import CandidateTableView
from bhb_viewer.gui.widgets.cutout_panel import CutoutPanel
from bhb_viewer.gui.widgets.spectrum_plot import SpectrumPlot
from bhb_viewer.gui.widgets.verdict_panel import VerdictPanel
from bhb_viewer.review import Review

__all__ = ["CandidateView"]


class CandidateView(QObject):
    """Keep ``table``, ``panel``, ``plot`` and ``cutouts`` on ``review``'s candidate on show.

    Parameters
    ----------
    review : Review
    table : CandidateTableView
        Its current row and its P(BHB) column (hidden with the scores).
    panel : VerdictPanel
        The candidate's id, score, verdict, note, fit and warnings.
    plot, cutouts : SpectrumPlot, CutoutPanel
        The candidate's spectrum, cutouts and the overlays of the model's view.
    parent : QObject or None
    """

    def __init__(self, review: Review, table: CandidateTableView, panel: VerdictPanel, plot: SpectrumPlot,
                 cutouts: CutoutPanel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.review, self.table, self.panel, self.plot, self.cutouts = review, table, panel, plot, cutouts
        self.pending_row = -1  # the row the next idle draw shows
        self.draw_timer = QTimer(self, singleShot=True, interval=0)
        self.draw_timer.timeout.connect(self._draw_pending)
        events = self.review.events
        self.review.nav.changed.connect(self.show_current)
        self.review.mode.changed.connect(self._mode_changed)
        events.candidate_changed.connect(self.candidate_changed)
        events.data_changed.connect(self._data_changed)
        events.detail_ready.connect(self._detail_ready)
        plot.sigSaliencyWanted.connect(self._maps_wanted)
        cutouts.sigOverlayWanted.connect(self._maps_wanted)

    def show_current(self, row: int) -> None:
        """Select ``row`` in the table, show its verdict at once and its plots once the event queue is empty."""
        panel = self.panel
        if row < 0:
            panel.show_candidate(None, scores_hidden=self.review.mode.scores_hidden)
            panel.set_quality(())
            panel.set_fit("")
            panel.set_modality_scores(float("nan"), float("nan"), float("nan"), "")
            return
        table = self.table
        if table.current_source_row() != row:
            table.select_view_row(self.review.rows.view_row(row))
        self.candidate_changed(row)
        self.pending_row = row
        self.draw_timer.start()

    def candidate_changed(self, row: int) -> None:
        """Repaint the verdict panel when ``row`` is the candidate on show."""
        if row == self.review.nav.current:
            c = self.review.candidate(row)
            hidden = self.review.mode.scores_hidden
            panel = self.panel
            panel.show_candidate(c.cid, c.p_bhb, c.state, c.disagrees, self.review.rows.cut, scores_hidden=hidden)
            panel.set_quality(c.quality.flags)
            rows = self.review.rows
            known = describe_known(str(rows.column("known_as")[row]), float(rows.column("known_sep")[row]))
            panel.set_fit("\n".join(t for t in (known, self.review.scoring.classical.describe_fit(row)) if t))
            if hidden:  # the spectrum and image heads' scores would tell as much as the score
                panel.set_modality_scores(float("nan"), float("nan"), float("nan"), "")
            else:
                panel.set_modality_scores(c.p_bhb, c.p_spectrum, c.p_image, c.score_from)

    def _mode_changed(self) -> None:
        """The scores were hidden or shown: the P(BHB) column, the panel and the band bars follow."""
        self.table.set_scores_hidden(self.review.mode.scores_hidden)
        row = self.review.nav.current
        if row < 0:
            self.show_current(row)
            return
        self.candidate_changed(row)
        if not self.draw_timer.isActive():
            self._apply_overlays(row)

    def _draw_pending(self) -> None:
        row = self.pending_row
        if self.review.source is not None and 0 <= row < len(self.review.source):
            self._draw_row(row)

    def _draw_row(self, row: int) -> None:
        """Draw candidate ``row``: spectrum, cutouts, overlays known so far; ask for what is missing."""
        spectrum, cube = self.review.spectrum(row), self.review.cube(row)
        plot, cutouts = self.plot, self.cutouts
        if spectrum is None:
            plot.clear()
        else:
            plot.set_spectrum(*spectrum, full=self.review.full_spectrum(row))
        if cube is None:
            cutouts.clear()
        else:
            cutouts.set_cube(cube)
        self._apply_overlays(row)
        self.review.scoring.request_details(row)

    def _data_changed(self, row: int) -> None:
        if row == self.review.nav.current:
            self._draw_row(row)

    def _detail_ready(self, row: int) -> None:
        if row == self.pending_row and not self.draw_timer.isActive():
            self._apply_overlays(row)

    def _apply_overlays(self, row: int) -> None:
        balmer, explanation = self.review.scoring.overlays(row)
        plot, cutouts = self.plot, self.cutouts
        if explanation is not None and explanation.segment_importance is not None:
            plot.set_segment_importance(explanation.segment_importance)  # measured, the default
        else:
            plot.set_segment_weights(explanation.segment_weights if explanation else None)
        plot.set_saliency(explanation.saliency if explanation else None)
        cutouts.set_attention(explanation.attention_map if explanation else None)
        cutouts.set_occlusion(explanation.occlusion if explanation else None)  # measured, the default overlay
        if self.review.mode.scores_hidden:  # a blind audit: the bars say which way the model leans
            cutouts.set_band_weights(None)
        elif explanation is not None and explanation.band_importance is not None:
            cutouts.set_band_importance(explanation.band_importance)  # measured, the default
        else:
            cutouts.set_band_weights(explanation.band_weights if explanation else None)
        plot.set_balmer(balmer)

    def _maps_wanted(self) -> None:
        """The saliency or cutout-overlay toggle moved: explanations skip their maps (the backward pass,
        the occlusion's scoring) while neither is shown, and the candidate on show gets its maps when one
        is turned back on."""
        wanted = self.plot.wants_saliency or self.cutouts.wants_overlay
        self.review.scoring.want_maps = wanted
        if wanted and self.review.nav.current >= 0:
            self.review.scoring.request_details(self.review.nav.current)
