"""One owner of the active model, through the window: the Models menu ticks the model that scores the
list, before and after a restart (issue 22)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bhb_viewer.core.model_index import ModelIndex
from bhb_viewer.gui.app import build_parser, launch, shipped_model


def start(qtbot, data_dir, catalog):
    """``bhb-viewer --data-dir DATA CATALOG`` as a person starts it, waited on until scored."""
    args = build_parser().parse_args(["--data-dir", str(data_dir), "--device", "cpu", "--reviewer", "tester",
                                      str(catalog)])
    window = launch(args, lambda saved: None)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.model_info is not None and not window.runner.busy(), timeout=120_000)
    return window


def scoring_with(window) -> str:
    """The checkpoint that made the scores on show (asserting there are scores)."""
    assert np.isfinite(window.model.column("p")).all()
    return window.model_info.checkpoint


def ticked(window) -> str:
    menu = window.wizard_menus.models_menu
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
    assert "the shipped model" in first.wizard_menus.models_menu.in_use.text()
    menu = first.wizard_menus.models_menu
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
    menu = third.wizard_menus.models_menu
    assert "the model this session was scored with" in menu.in_use.text()
    assert next(a for a in menu.checkpoints if a.toolTip() == str(shipped)).text().endswith("your active model")
    third.close()
