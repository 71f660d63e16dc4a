"""Fixtures of the review tests: a Review driven without Qt, its jobs run inline."""

from __future__ import annotations

from collections import defaultdict

import pytest
from tinysky import make_dataset

from bhb_viewer.review import InlineRunner, Review


class Recorder:
    """Every event a review emits, by name, with its arguments."""

    def __init__(self, review: Review) -> None:
        self.calls: dict[str, list[tuple]] = defaultdict(list)
        for name, event in vars(review.events).items():
            event.connect(lambda *args, name=name: self.calls[name].append(args))
        review.nav.changed.connect(lambda row: self.calls["current"].append((row,)))

    def last(self, name: str) -> tuple:
        return self.calls[name][-1]


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "tiny")


@pytest.fixture
def review(tmp_path):
    r = Review(tmp_path / "userdata", InlineRunner(), reviewer="tester")
    yield r
    r.close()


@pytest.fixture
def events(review):
    return Recorder(review)
