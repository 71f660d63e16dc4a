"""ReviewMode: what the person is shown (scores, overlays of the model's view) and how a verdict moves on."""

from bhb_viewer.review.mode import ReviewMode


def test_the_mode_says_each_change_once_and_a_verdict_is_blind_only_without_scores_or_overlays():
    mode = ReviewMode()
    told = []
    mode.changed.connect(lambda: told.append((mode.scores_hidden, mode.model_overlays)))
    assert not mode.blind and mode.advance_move == "next" and mode.auto_advance
    mode.hide_scores(True)
    mode.hide_scores(True)  # no change: not told again
    assert mode.blind and mode.advance_move == "audit"
    mode.show_overlays(("Saliency",))
    mode.show_overlays(("Saliency",))
    assert not mode.blind  # the saliency shows which way the model leans
    mode.show_overlays(())
    mode.hide_scores(False)
    assert told == [(True, ()), (True, ("Saliency",)), (True, ()), (False, ())]
    assert not mode.blind and mode.advance_move == "next"
