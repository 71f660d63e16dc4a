"""Which model scores a list: explicit > session > active > shipped, kept only in models.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bhb_viewer.core.training.model_index import ModelIndex
from bhb_viewer.review import InlineRunner, Review
from bhb_viewer.review.model_choice import ModelChooser, Origin, pick_model


@pytest.fixture
def ckpts(tmp_path, tiny_checkpoint) -> dict[str, Path]:
    """Four copies of the tiny checkpoint (the choice reads only their config.json) and a baseline."""
    out = {name: shutil.copytree(tiny_checkpoint, tmp_path / name).resolve()
           for name in ("explicit", "session", "active", "shipped")}
    baseline = tmp_path / "svm"
    baseline.mkdir()
    (baseline / "config.json").write_text(json.dumps({"kind": "baseline", "model": "svm", "size": "default"}))
    out["baseline"] = baseline.resolve()
    return out


def test_the_first_usable_level_wins(ckpts, tmp_path):
    levels = [ckpts[k] for k in ("explicit", "session", "active", "shipped")]
    for drop, want in enumerate([Origin.EXPLICIT, Origin.SESSION, Origin.ACTIVE, Origin.SHIPPED]):
        choice = pick_model(*([None] * drop + levels[drop:]))
        assert (choice.origin, choice.path, choice.passed_over) == (want, levels[drop], ())
    none = pick_model(None, None, None, None)
    assert (none.origin, none.path, none.reason) == (Origin.NONE, None, "no model")


def test_unusable_levels_are_passed_over_with_the_reason(ckpts, tmp_path):
    choice = pick_model(tmp_path / "moved", ckpts["baseline"], None, ckpts["shipped"])
    assert (choice.origin, choice.path) == (Origin.SHIPPED, ckpts["shipped"])
    assert [(o, p) for o, p, _ in choice.passed_over] == [(Origin.EXPLICIT, tmp_path / "moved"),
                                                          (Origin.SESSION, ckpts["baseline"])]
    assert choice.passed_over[0][2] == "folder not found" and "baseline" in choice.passed_over[1][2]


def test_only_an_explicit_choice_becomes_the_active_model(ckpts, tmp_path):
    index = ModelIndex(tmp_path / "data", shipped=None)
    chooser = ModelChooser(index, ckpts["shipped"])
    assert chooser.current.origin is Origin.SHIPPED  # what a new list would get
    assert chooser.for_list(None, ckpts["session"]).origin is Origin.SESSION and index.active() is None
    assert chooser.for_list(ckpts["explicit"], ckpts["session"]).origin is Origin.EXPLICIT
    assert index.active().path == str(ckpts["explicit"])
    assert ModelChooser(ModelIndex(tmp_path / "data"), ckpts["shipped"]).current.origin is Origin.ACTIVE  # a restart
    with pytest.raises(ValueError, match="baseline"):
        chooser.choose(ckpts["baseline"])
    assert chooser.current.path == ckpts["explicit"] and index.active().path == str(ckpts["explicit"])
    assert chooser.choose(ckpts["active"]) == ckpts["active"] and index.active().path == str(ckpts["active"])


def test_the_menu_lists_a_session_model_the_index_does_not_know(ckpts, tmp_path):
    chooser = ModelChooser(ModelIndex(tmp_path / "data", shipped=None))
    chooser.for_list(None, ckpts["session"])
    entries = chooser.entries()
    assert [(e.path, e.origin) for e in entries] == [(str(ckpts["session"]), "session")]


def test_a_review_scores_each_list_by_the_priority(tmp_path, ckpts, tiny_checkpoint):
    from tinysky import make_dataset

    data = tmp_path / "userdata"
    one, two = make_dataset(tmp_path / "one", n=4, seed=1), make_dataset(tmp_path / "two", n=4, seed=2)
    review = Review(data, InlineRunner(), reviewer="tester", shipped=ckpts["shipped"])
    review.open_path(one)
    assert review.scoring.model.checkpoint == ckpts["shipped"]
    assert review.session.model.checkpoint == str(ckpts["shipped"])
    assert review.choose_model(ckpts["explicit"]) and review.session.model.checkpoint == str(ckpts["explicit"])
    assert not review.choose_model(tmp_path / "moved")  # said as an error; nothing changes
    assert review.scoring.model.checkpoint == ckpts["explicit"]
    review.close()

    ModelIndex(data).set_active(ckpts["active"])
    again = Review(data, InlineRunner(), reviewer="tester", shipped=ckpts["shipped"])
    again.open_path(one)  # its session was scored with the explicit choice
    assert again.models.current.origin is Origin.SESSION and again.scoring.model.checkpoint == ckpts["explicit"]
    again.open_path(two)  # a new list: the active model
    assert again.models.current.origin is Origin.ACTIVE and again.scoring.model.checkpoint == ckpts["active"]
    errors: list[tuple[str, str]] = []
    again.events.error.connect(lambda *e: errors.append(e))
    again.open_path(one, tmp_path / "moved")  # a named model that is gone: said, and the next level scores
    assert again.models.current.origin is Origin.SESSION and errors[0][0] == "Cannot score with that model"
    again.close()
