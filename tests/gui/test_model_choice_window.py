"""One owner of the active model, through the window: the Models menu ticks the model that scores the
list, before and after a restart (issue 22)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bhb_viewer.core.training.model_index import ModelIndex
from bhb_viewer.gui.app import build_parser, launch, shipped_model


def start(qtbot, data_dir, catalog):
    """``bhb-viewer --data-dir DATA CATALOG`` as a person starts it, waited on until scored."""
    args = build_parser().parse_args(["--data-dir", str(data_dir), "--device", "cpu", "--reviewer", "tester",
                                      str(catalog)])
    window = launch(args, lambda saved: None)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.review.scoring.model.info is not None and not window.runner.busy(), timeout=120_000)
    return window


def scoring_with(window) -> str:
    """The checkpoint that made the scores on show (asserting there are scores)."""
    assert np.isfinite(window.table_model.column("p")).all()
    return window.review.scoring.model.info.checkpoint


def ticked(window) -> str:
    menu = window.menus.wizard.models_menu
    menu.aboutToShow.emit()  # as when the person opens it
    action = menu.ticked()
    assert action is not None and sum(a.isChecked() for a in menu.checkpoints) == 1
    return action.toolTip()


def test_the_ticked_model_is_the_one_scoring_across_a_restart(qtbot, tmp_path, tiny_dataset, tiny_checkpoint, errors):
    shipped = shipped_model()
    if shipped is None:
        pytest.skip("the shipped model is not installed")
    data_dir = tmp_path / "userdata"
    mine = shutil.copytree(tiny_checkpoint, ModelIndex(data_dir).trained_dir / "mine")  # as the wizard saves one
    first = start(qtbot, data_dir, tiny_dataset)
    assert scoring_with(first) == ticked(first) == str(shipped)  # a first start: the shipped model
    assert "the shipped model" in first.menus.wizard.models_menu.in_use.text()
    menu = first.menus.wizard.models_menu
    menu.aboutToShow.emit()
    trained = next(a for a in menu.checkpoints if a.toolTip() == str(mine.resolve()))
    assert "(trained)" in trained.text() and not trained.isChecked()
    with qtbot.waitSignal(first.sigModelReady, timeout=60_000):
        trained.trigger()
    qtbot.waitUntil(lambda: not first.runner.busy(), timeout=60_000)
    assert scoring_with(first) == ticked(first) == str(mine.resolve())
    first.close()

    second = start(qtbot, data_dir, tiny_dataset)  # the restart
    assert scoring_with(second) == ticked(second) == str(mine.resolve())
    assert errors == []
    second.close()

    ModelIndex(data_dir).set_active(shipped)  # e.g. a `bhb models` run between: the session's model still wins
    third = start(qtbot, data_dir, tiny_dataset)
    assert scoring_with(third) == ticked(third) == str(mine.resolve())
    menu = third.menus.wizard.models_menu
    assert "the model this session was scored with" in menu.in_use.text()
    assert next(a for a in menu.checkpoints if a.toolTip() == str(shipped)).text().endswith("your active model")
    third.close()


def test_one_models_menu_scores_chooses_and_opens_the_folder(qtbot, window, tiny_dataset, tiny_checkpoint,
                                                            monkeypatch, errors):
    from bhb_viewer.gui import main_window as mw
    from bhb_viewer.gui.wizard import models_menu as mm

    titles = [a.text() for a in window.menuBar().actions()]
    assert titles[:6] == ["&File", "&Review", "&SDSS", "&Models", "&Tools", "&Help"]
    assert [t for t in titles if "Model" in t.replace("&", "")] == ["&Models"]
    menu = window.menus.wizard.models_menu
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts[:2] == ["&Score all", "&Cancel background work"]
    assert texts[-2:] == ["Choose a model &folder…", "&Open the trained-models folder"]
    assert menu.actions()[0].shortcut().toString() == "Ctrl+R" and menu.actions()[0] in window.actions()
    assert menu.ticked() is None and menu.in_use.text() == "Scoring with none: no model"  # no shipped model here

    with qtbot.waitSignal(window.sigSettled, timeout=60_000):
        window.review.open_path(tiny_dataset)
    assert window.review.scoring.model.info is None  # nothing names a model: the list opens unscored
    monkeypatch.setattr(mw, "ask_model_dir", lambda parent: tiny_checkpoint)
    with qtbot.waitSignal(window.sigModelReady, timeout=60_000):
        next(a for a in menu.actions() if a.text() == "Choose a model &folder…").trigger()
    qtbot.waitUntil(lambda: not window.runner.busy(), timeout=60_000)
    assert ticked(window) == window.review.scoring.model.info.checkpoint == str(tiny_checkpoint.resolve())
    assert ModelIndex(window.review.data_dir).active().path == str(tiny_checkpoint.resolve())
    assert "your choice" in menu.in_use.text()

    # not a checkpoint: said, nothing changes
    monkeypatch.setattr(mw, "ask_model_dir", lambda parent: window.review.data_dir)
    next(a for a in menu.actions() if a.text() == "Choose a model &folder…").trigger()
    assert errors and errors[-1][0] == "Not a model" and ticked(window) == str(tiny_checkpoint.resolve())

    opened = []
    monkeypatch.setattr(mm.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    next(a for a in menu.actions() if a.text() == "&Open the trained-models folder").trigger()
    assert opened == [str(window.review.data_dir / "models")] and (window.review.data_dir / "models").is_dir()
