"""The robustness corpus (tests/robustness/corpus.py) through the app's own entry points, without Qt:
File → Open / drop of every bad file, band images dropped on an open list, and Model → Choose model
with every bad checkpoint. Each must end in an error event naming the file (or open cleanly),
never an exception, a traceback in the log, or a hang."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from robustness.corpus import make_corpus

from bhb_viewer.review import InlineRunner, Review

CASE_SECONDS = 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "c")


@contextmanager
def no_hang(case: str) -> Iterator[None]:
    def hang(*_):
        raise AssertionError(f"{case}: no answer within {CASE_SECONDS} s (the window would hang)")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(CASE_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def fresh_review(tmp_path, errors: list) -> Review:
    review = Review(tmp_path / "userdata", InlineRunner(), reviewer="tester")
    review.events.error.connect(lambda title, text: errors.append((title, text)))
    return review


def judge(case: str, path: Path, review: Review, errors: list, caplog) -> str:
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not tracebacks, f"{case}: traceback logged: {tracebacks}"
    if not errors:
        return "opened"
    assert any(path.name in text for _, text in errors), f"{case}: the message does not name {path.name}: {errors}"
    return "error"


def test_every_bad_file_opened_or_dropped_is_a_message_naming_it(corpus, tmp_path, caplog):
    outcomes = {}
    cases = [c for c in corpus.cases if c.entry == "inspect" and len(c.argv) == 2 and not c.id.startswith("stamp/")]
    assert len(cases) > 20
    for case in cases:
        errors: list = []
        review = fresh_review(tmp_path, errors)
        caplog.clear()
        path = Path(case.argv[1])
        with caplog.at_level(logging.DEBUG), no_hang(case.id):
            review.open_files([path])
        outcomes[case.id] = judge(case.id, path, review, errors, caplog)
        review.close()
    assert outcomes["fits/pipe.fits"] == "error" and outcomes["fits/bad-gzip.fits.gz"] == "error"
    assert list(outcomes.values()).count("error") >= len(cases) - 3


def test_bad_stamps_dropped_on_a_list_are_messages_naming_them(corpus, tmp_path, caplog):
    errors: list = []
    review = fresh_review(tmp_path, errors)
    review.open_path(corpus.root / "ds-good")
    assert review.current() is not None
    stamps = [c for c in corpus.cases if c.id.startswith("stamp/") and len(c.argv) == 2]
    assert stamps
    for case in stamps:
        errors.clear()
        caplog.clear()
        path = Path(case.argv[1])
        with caplog.at_level(logging.DEBUG), no_hang(case.id):
            review.open_files([path])
        judge(case.id, path, review, errors, caplog)
    review.close()


def test_every_bad_checkpoint_chosen_is_a_message_and_the_review_goes_on(corpus, tmp_path, caplog):
    checkpoints = [c for c in corpus.cases if c.id.startswith("checkpoint/")]
    assert len(checkpoints) > 5
    errors: list = []
    review = fresh_review(tmp_path, errors)
    review.open_path(corpus.root / "ds-good")
    for case in checkpoints:
        ckpt = Path(case.argv[case.argv.index("--model") + 1])
        errors.clear()
        caplog.clear()
        with caplog.at_level(logging.DEBUG), no_hang(case.id):
            review.scoring.set_model(ckpt)
        assert errors, f"{case.id}: a bad checkpoint was accepted silently"
        judge(case.id, ckpt, review, errors, caplog)
    review.actions.set_verdict("star000", None)  # the review still writes
    assert review.session is not None
    review.close()
