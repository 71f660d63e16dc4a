"""The training wizard end to end on a tiny set and a tiny model (CPU), the Models menu, and failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tinysky import make_dataset

from bhb_viewer.core.dataset import open_dataset, write_dataset
from bhb_viewer.core.sessions.verdicts import CatalogRef, Session, VerdictKind
from bhb_viewer.core.training.model_index import ModelIndex
from bhb_viewer.core.training.retrain import RESUME_STATE
from bhb_viewer.gui.wizard.models_menu import ModelsMenu
from bhb_viewer.gui.wizard.wizard import TrainingWizard

TRAIN_S = 240_000  # a tiny model, but the child imports torch on a shared 2-core machine


@pytest.fixture
def labelled(tmp_path) -> Path:
    return make_dataset(tmp_path / "tiny40", n=40)  # 20 BHB, 20 non-BHB


def _wizard(qtbot, tmp_path, **kwargs) -> TrainingWizard:
    wizard = TrainingWizard(tmp_path / "data", **kwargs)
    qtbot.addWidget(wizard)
    wizard.show()
    return wizard


def _to_training(qtbot, wizard: TrainingWizard, dataset: Path, **plan) -> None:
    """Data (folder) → split → model (batmm tiny, CPU) and a small plan, up to the training page."""
    data = wizard.page_named("data")
    data.folder_radio.setChecked(True)
    data.folder_edit.setText(str(dataset))
    data.refresh()
    assert data.isComplete(), data.warning_label.text()
    wizard.next()
    wizard.next()  # split: the defaults, 70/20/10 seed 0
    model = wizard.page_named("model")
    model.size_box.setCurrentText("tiny")
    model.epochs.setValue(1)
    model.batch.setValue(8)
    model.device.setCurrentText("cpu")
    wizard.next()
    assert wizard.currentPage() is wizard.page_named("training")
    for key, value in {"threads": 1, "max_steps_per_epoch": 2, **plan}.items():
        setattr(wizard.plan, key, value)


def _train(qtbot, page, button) -> None:
    button.click()
    qtbot.waitUntil(lambda: page.outcome != "", timeout=TRAIN_S)


def test_verdicts_as_labels_on_the_data_page(qtbot, tmp_path, labelled):
    session_path = tmp_path / "review.session.sqlite"
    with Session.create(session_path, CatalogRef.from_file(labelled / "catalog.ecsv", 40), "tester") as s:
        for i in range(12):
            s.set_verdict(f"star{i:03d}", VerdictKind.BHB)
        for i, kind in enumerate([VerdictKind.BLUE_STRAGGLER, VerdictKind.MS_A, VerdictKind.NON_BHB] * 4):
            s.set_verdict(f"star{12 + i:03d}", kind)
        s.set_verdict("star030", VerdictKind.UNSURE)
        s.set_verdict("star031", VerdictKind.BAD_DATA)
    wizard = _wizard(qtbot, tmp_path, session_path=session_path)
    data = wizard.page_named("data")
    assert data.session_radio.isChecked() and data.counts == (12, 12)
    assert "12 BHB, 12 non-BHB" in data.counts_label.text() and "2 excluded" in data.counts_label.text()
    assert "small set" in data.warning_label.text()
    assert not data.isComplete()  # counted, not built yet
    data.build_button.click()
    qtbot.waitUntil(data.isComplete, timeout=60_000)
    built = open_dataset(data.dataset_path())
    assert len(built) == 24 and int(built.labels.sum()) == 12
    assert built.manifest["provenance"]["session"] == str(session_path.resolve())
    # a one-class folder is refused on the page, with the reason
    one = open_dataset(labelled)
    cat = one.catalog.copy()
    cat["label"] = 1
    write_dataset(tmp_path / "one", cat, np.asarray(one.spectra), np.asarray(one.ivar), np.asarray(one.cutouts))
    data.folder_radio.setChecked(True)
    data.folder_edit.setText(str(tmp_path / "one"))
    data.refresh()
    assert not data.isComplete() and "only one class" in data.warning_label.text()
    wizard.close()


def test_train_results_save_and_rescore(qtbot, tmp_path, labelled, tiny_checkpoint):
    from bhb_viewer.gui.main_window import MainWindow

    window = MainWindow(tmp_path / "data", reviewer="tester", device="cpu")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.sigSettled, timeout=120_000):
        window.review.open_path(labelled, model_dir=tiny_checkpoint)
    wizard = _wizard(qtbot, tmp_path, active_model=tiny_checkpoint, can_rescore=True, parent=None)
    saved = []
    wizard.sigModelSaved.connect(
        lambda path, active, rescore: (saved.append(path), window.review.scoring.set_model(Path(path), rescore)))
    _to_training(qtbot, wizard, labelled)
    page = wizard.page_named("training")
    _train(qtbot, page, page.start_button)
    assert page.outcome == "done", page.status_label.text() + "\n" + page.log_pane.toPlainText()
    assert len(page.loss_points) == 2  # fine-tuning the active model: its fusion stage, two steps
    assert len(page.f1_points) == 1 and page.loss_curve.getData()[0] is not None
    assert (Path(wizard.plan.out) / "train-config.json").is_file()  # the child ran from the plan's file
    assert json.loads((wizard.run_dir / "config.json").read_text())["training"]["init_from"] == tiny_checkpoint.name

    wizard.next()
    results = wizard.page_named("results")
    core = json.loads((wizard.run_dir / "test_metrics.json").read_text())  # computed by fit in the child
    assert float(results.table.item(2, 2).text()) == pytest.approx(core["macro"]["f1"], abs=5e-5)
    assert float(results.table.item(0, 0).text()) == pytest.approx(core["BHB"]["precision"], abs=5e-5)
    assert float(results.table.item(3, 0).text()) == pytest.approx(core["auc"], abs=5e-5)
    qtbot.waitUntil(lambda: results.active_results is not None, timeout=120_000)
    assert "macro F1 on the same 4 test stars" in results.compare_label.text()
    assert len(results.roc_plot.getPlotItem().listDataItems()) == 2

    assert "bootstrap intervals" in results.compare_label.text()
    wizard.next()
    save = wizard.page_named("save")
    # 4 test stars cannot show the new model better: nothing pre-ticked, and the page says why
    assert not wizard.comparison.better and not save.make_active.isChecked() and not save.rescore.isChecked()
    assert "Not ticked" in save.status_label.text() and "4 test stars" in save.status_label.text()
    save.make_active.setChecked(True)  # the person's own choice
    save.rescore.setChecked(True)
    save.name.setText("my model")
    with qtbot.waitSignal(window.sigSettled, timeout=120_000):
        assert save.save()
    dest = Path(saved[0])
    assert dest == tmp_path / "data" / "models" / "my-model" and (dest / "README.md").is_file()
    assert "my model" in (dest / "README.md").read_text()
    index = ModelIndex(tmp_path / "data")
    assert index.active().path == str(dest)
    # the window re-scored with it, and says so
    info = window.review.scoring.model.info
    assert info.checkpoint == str(dest) and info.version == index.active().version
    assert window.review.scoring.model.info.version in window.status.device_label.text()
    from bhb_viewer.ml.inference import Predictor

    test = json.loads((dest / "test.json").read_text())
    ds = open_dataset(labelled)
    rows = np.asarray(test["row"])
    p = next(Predictor(dest, device="cpu").predict(ds.spectra[rows], ds.ivar[rows], ds.cutouts[rows])).p_bhb
    np.testing.assert_allclose(p, test["p_bhb"], atol=1e-5)
    wizard.close()


def test_cancel_then_resume(qtbot, tmp_path, labelled):
    wizard = _wizard(qtbot, tmp_path)
    _to_training(qtbot, wizard, labelled, max_steps_per_epoch=1, epochs=40, patience=40)
    page = wizard.page_named("training")
    page.start_button.click()
    qtbot.waitUntil(lambda: len(page.loss_points) >= 1, timeout=TRAIN_S)
    page.cancel_button.click()
    qtbot.waitUntil(lambda: page.outcome != "", timeout=TRAIN_S)
    assert page.outcome == "cancelled", page.status_label.text()
    assert (Path(wizard.plan.out) / RESUME_STATE).is_file() and page.resume_button.isEnabled()
    assert not page.isComplete()
    done_before = len(page.loss_points)
    _train(qtbot, page, page.resume_button)
    assert page.outcome == "done", page.status_label.text() + "\n" + page.log_pane.toPlainText()
    assert len(page.loss_points) > done_before and page.loss_points[-1][0] == 3 * 40
    assert not (Path(wizard.plan.out) / RESUME_STATE).exists() and page.isComplete()
    wizard.close()


def test_failing_training_shows_why_and_the_app_keeps_working(qtbot, tmp_path, labelled):
    from bhb_viewer.gui.main_window import MainWindow

    one = open_dataset(labelled)
    cat = one.catalog.copy()
    cat["label"] = 0
    write_dataset(tmp_path / "one", cat, np.asarray(one.spectra), np.asarray(one.ivar), np.asarray(one.cutouts))
    window = MainWindow(tmp_path / "data", reviewer="tester", device="cpu")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.sigSettled, timeout=120_000):
        window.review.open_path(labelled)
    wizard = _wizard(qtbot, tmp_path)
    _to_training(qtbot, wizard, labelled)
    wizard.plan.dataset = str(tmp_path / "one")  # past the data page's own check: the training refuses it
    page = wizard.page_named("training")
    _train(qtbot, page, page.start_button)
    assert page.outcome == "error" and "too few labelled stars to train: 0 BHB" in page.status_label.text()
    assert not page.isComplete() and page.start_button.isEnabled()
    # a child that dies (here: killed) is reported with its error output; the window is unharmed
    page.start_button.click()
    qtbot.waitUntil(lambda: page.process.running, timeout=10_000)
    page.process._proc.kill()
    qtbot.waitUntil(lambda: page.outcome != "", timeout=30_000)
    assert page.outcome == "crashed" and "last error output" in page.status_label.text()
    window.review.vetting.record_verdict(VerdictKind.BHB)
    assert window.review.session.counts()[VerdictKind.BHB] == 1
    wizard.close()


def test_models_menu_lists_and_chooses(qtbot, tmp_path, tiny_checkpoint, monkeypatch):
    from bhb_viewer.gui.main_window import MainWindow

    window = MainWindow(tmp_path / "data", reviewer="tester", device="cpu")
    qtbot.addWidget(window)
    chosen = []
    monkeypatch.setattr(window.review.scoring, "set_model", lambda path, start=True: chosen.append(path))
    menu = window.menus.wizard.models_menu
    assert isinstance(menu, ModelsMenu)
    ModelIndex(tmp_path / "data").remember(tiny_checkpoint)
    menu.rebuild()
    texts = [a.text() for a in menu.actions() if a.text()]
    shipped_config = Path(__file__).parents[2] / "models" / "batmm-lite-sim" / "config.json"
    shipped_f1 = json.loads(shipped_config.read_text())["metrics"]["test"]["macro"]["f1"]
    assert any(t.startswith("batmm-lite-sim") and f"F1 {shipped_f1:.3f}" in t and "(shipped)" in t for t in texts)
    assert any(t.startswith(tiny_checkpoint.name) and "(recent)" in t for t in texts)
    shipped = next(a for a in menu.actions() if a.text().startswith("batmm-lite-sim"))
    shipped.trigger()
    assert chosen and ModelIndex(tmp_path / "data").active().label == "batmm-lite-sim"
    menu.rebuild()
    assert next(a for a in menu.actions() if a.text().startswith("batmm-lite-sim")).isChecked()
    assert window.menus.wizard.train_action.text() == "&Train a model…"


def test_svm_from_the_registry_trains_and_is_saved_but_not_made_active(qtbot, tmp_path, labelled):
    wizard = _wizard(qtbot, tmp_path)
    model = wizard.page_named("model")
    qtbot.waitUntil(lambda: model.model.count() > 3, timeout=120_000)  # the registry, loaded in the background
    names = [model.model.itemText(i) for i in range(model.model.count())]
    assert names[0] == "batmm" and {"svm", "xgboost", "spectrum_vgg1d_sa", "early_add"} <= set(names)
    data = wizard.page_named("data")
    data.folder_edit.setText(str(labelled))
    data.refresh()
    wizard.next()
    wizard.next()
    model.model.setCurrentText("svm")
    assert not model.epochs.isEnabled() and not model.stage_boxes["image"].isEnabled()
    wizard.next()
    assert wizard.plan.model == "svm"
    page = wizard.page_named("training")
    _train(qtbot, page, page.start_button)
    assert page.outcome == "done", page.status_label.text() + "\n" + page.log_pane.toPlainText()
    assert page.progress.value() == page.progress.maximum() and not page.loss_points
    first_run = wizard.run_dir
    wizard.back()  # back to the model page and on again: a new plan needs its own run
    wizard.next()
    assert not page.isComplete() and page.start_button.isEnabled() and page.progress.value() == 0
    _train(qtbot, page, page.start_button)
    assert page.outcome == "done" and wizard.run_dir != first_run
    wizard.next()
    wizard.next()
    save = wizard.page_named("save")
    assert not save.make_active.isEnabled() and not save.make_active.isChecked()
    assert save.save() and (save.saved / "svm.safetensors").is_file()
    assert ModelIndex(tmp_path / "data").active() is None
    wizard.close()


def test_a_new_list_opens_with_the_active_model(qtbot, tmp_path, labelled, tiny_checkpoint):
    from bhb_viewer.gui.main_window import MainWindow

    ModelIndex(tmp_path / "data").set_active(tiny_checkpoint)
    window = MainWindow(tmp_path / "data", reviewer="tester", device="cpu")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.sigSettled, timeout=120_000):
        window.review.open_path(labelled)
    info = window.review.scoring.model.info
    assert info is not None and info.checkpoint == str(tiny_checkpoint.resolve())


def test_closing_the_wizard_mid_training_never_blocks_and_leaves_a_resumable_run(qtbot, tmp_path, labelled):
    import time

    wizard = _wizard(qtbot, tmp_path)
    _to_training(qtbot, wizard, labelled, max_steps_per_epoch=1, epochs=40, patience=40)
    page = wizard.page_named("training")
    page.start_button.click()
    qtbot.waitUntil(lambda: len(page.loss_points) >= 1, timeout=TRAIN_S)
    started = time.monotonic()
    wizard.reject()  # the window's close button
    assert time.monotonic() - started < 1.0
    qtbot.waitUntil(lambda: page.outcome != "", timeout=TRAIN_S)
    assert page.outcome == "cancelled" and (Path(wizard.plan.out) / RESUME_STATE).is_file()


def test_small_sets_get_longer_training_by_default(qtbot, tmp_path, labelled):
    wizard = _wizard(qtbot, tmp_path)
    data = wizard.page_named("data")
    data.folder_edit.setText(str(labelled))
    data.refresh()
    wizard.next()
    wizard.next()
    model = wizard.page_named("model")
    assert (model.epochs.value(), model.patience.value()) == (20, 8) and "40 stars" in model.hint.text()
    model.epochs.setValue(5)
    wizard.back()
    wizard.next()
    assert model.epochs.value() == 5  # the person's choice stays for the same set
    wizard.close()


def test_tools_menu_opens_the_wizard_on_this_session_and_model(qtbot, tmp_path, labelled, tiny_checkpoint):
    from bhb_viewer.gui.main_window import MainWindow

    window = MainWindow(tmp_path / "data", reviewer="tester", device="cpu")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.sigSettled, timeout=120_000):
        window.review.open_path(labelled, model_dir=tiny_checkpoint)
    window.menus.wizard.train_action.trigger()
    wizard = window.menus.wizard.wizard
    assert wizard.isVisible() and wizard.session_path == window.review.session.path
    assert wizard.active_model == tiny_checkpoint and wizard.can_rescore
    assert wizard.page_named("data").session_radio.isChecked()
    wizard.close()


def test_the_wizard_offers_fine_tuning_the_active_model_first(qtbot, tmp_path, labelled, tiny_checkpoint):
    wizard = _wizard(qtbot, tmp_path, active_model=tiny_checkpoint)
    model = wizard.page_named("model")
    assert model.finetune_radio.isChecked() and model.finetune_radio.isEnabled()
    data = wizard.page_named("data")
    data.folder_edit.setText(str(labelled))
    data.refresh()
    wizard.next()
    wizard.next()
    # 20 + 20 stars: too few for a new model, so fine-tuning is the only offer, with the reason
    assert model.finetune_radio.isChecked() and not model.scratch_radio.isEnabled()
    assert "at least 100 stars of each class" in model.scratch_hint.text()
    assert model.model.currentText() == "batmm" and model.size_box.currentText() == "tiny"
    assert not model.size_box.isEnabled() and model.lr.value() == pytest.approx(1e-4)
    wizard.next()
    plan = wizard.plan
    assert plan.init_from == str(tiny_checkpoint) and plan.freeze == "encoders" and plan.stages is None
    wizard.close()


def test_without_an_active_network_only_training_from_scratch_is_offered(qtbot, tmp_path, labelled):
    wizard = _wizard(qtbot, tmp_path)
    model = wizard.page_named("model")
    assert model.scratch_radio.isChecked() and not model.finetune_radio.isEnabled()
    _to_training(qtbot, wizard, labelled)
    assert wizard.plan.init_from is None
    wizard.close()


def test_make_active_is_pre_ticked_only_for_a_model_shown_better(qtbot, tmp_path, tiny_checkpoint):
    from bhb_viewer.core.science.small_compare import compare

    wizard = _wizard(qtbot, tmp_path, active_model=tiny_checkpoint, can_rescore=True)
    save = wizard.page_named("save")
    rng = np.random.default_rng(1)
    labels = np.r_[np.ones(150, int), np.zeros(250, int)]
    good = np.clip(0.5 * labels + rng.normal(0.25, 0.2, 400), 0, 1)
    poor = np.clip(0.2 * labels + rng.normal(0.4, 0.2, 400), 0, 1)
    for p_new, p_active, ticked in ((good, poor, True), (poor, good, False)):
        wizard.comparison = compare(labels, p_new, p_active, n_boot=200)
        save.initializePage()
        assert save.make_active.isChecked() is ticked and save.rescore.isChecked() is ticked
        assert save.make_active.isEnabled() and ("Not ticked" in save.status_label.text()) is not ticked
    wizard.comparison = None  # not compared (yet): not ticked either
    save.initializePage()
    assert not save.make_active.isChecked() and "has not finished" in save.status_label.text()
    wizard.close()


def _constant_checkpoint(path: Path, dataset: Path) -> Path:
    """A tiny BATMM reading the colours whose head is zeroed: P(BHB) 0.5 for every star (the
    degenerate model of issue 22, as the active one), recording ``dataset`` as its training sky."""
    import torch

    from bhb_viewer.ml.checkpoint import save_checkpoint
    from bhb_viewer.ml.models import build_model
    from bhb_viewer.ml.preprocess import Preprocessor
    from bhb_viewer.ml.training import dataset_record

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model("batmm", "tiny", n_layers=1, photometry=True)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    ds = open_dataset(dataset)
    save_checkpoint(path, model, {"preprocess": Preprocessor.fit(ds, np.arange(len(ds)), photometry=True).to_config(),
                                  "dataset": dataset_record(ds)})
    return path


def _through_training(qtbot, wizard: TrainingWizard, dataset: Path, scratch: bool, **plan) -> None:
    """Data → split → model (fine-tune, or from scratch) → a finished training run (CPU, one thread)."""
    data = wizard.page_named("data")
    data.folder_radio.setChecked(True)
    data.folder_edit.setText(str(dataset))
    data.refresh()
    wizard.next()
    wizard.next()
    model = wizard.page_named("model")
    (model.scratch_radio if scratch else model.finetune_radio).setChecked(True)
    model.size_box.setCurrentText("tiny")
    model.batch.setValue(16)
    model.device.setCurrentText("cpu")
    wizard.next()
    for key, value in {"threads": 1, **plan}.items():
        setattr(wizard.plan, key, value)
    page = wizard.page_named("training")
    _train(qtbot, page, page.start_button)
    assert page.outcome == "done", page.status_label.text() + "\n" + page.log_pane.toPlainText()
    wizard.next()
    results = wizard.page_named("results")
    qtbot.waitUntil(lambda: wizard.comparison is not None, timeout=120_000)
    assert "bootstrap intervals" in results.compare_label.text()
    wizard.next()


def test_a_better_model_is_pre_ticked_and_a_worse_one_is_not_through_the_wizard(qtbot, tmp_path):
    """Both cases of issue 22's done-when, each through data → model → training → results → save:
    fine-tuning a degenerate active model on stars its colours tell apart gives a model shown
    better (ticked); a one-step model from scratch after it is worse (unticked, and why)."""
    sky = make_dataset(tmp_path / "colours", n=200, photometry=True)  # u−g tells the classes apart; 20 test stars
    degenerate = _constant_checkpoint(tmp_path / "degenerate", sky)
    wizard = _wizard(qtbot, tmp_path, active_model=degenerate, can_rescore=True)
    _through_training(qtbot, wizard, sky, scratch=False, epochs=20, lr=1e-2)
    save = wizard.page_named("save")
    assert wizard.comparison.better, wizard.comparison.reason
    assert wizard.comparison.new_auc.low > wizard.comparison.active_auc.high
    assert save.make_active.isChecked() and save.rescore.isChecked() and save.status_label.text() == ""
    save.name.setText("better")
    assert save.save()
    better = ModelIndex(tmp_path / "data").active()
    assert better is not None and better.label == "better"
    wizard.close()

    wizard = _wizard(qtbot, tmp_path, active_model=Path(better.path), can_rescore=True)
    _through_training(qtbot, wizard, sky, scratch=True, epochs=1, max_steps_per_epoch=1)
    save = wizard.page_named("save")
    worse = wizard.comparison
    assert not worse.better and worse.new_auc.high < worse.active_auc.low  # a worse model, not just unproven
    assert not save.make_active.isChecked() and not save.rescore.isChecked()
    assert save.status_label.text().startswith("Not ticked: on these 20 test stars the new model's AUC")
    assert "the active model stays" in save.status_label.text()
    wizard.close()


def test_a_fine_tune_mixes_in_the_active_models_training_sky_when_the_data_folder_holds_it(qtbot, tmp_path, labelled):
    sky = make_dataset(tmp_path / "data" / "datasets" / "sky", n=20, photometry=True)
    active = _constant_checkpoint(tmp_path / "model", sky)
    wizard = _wizard(qtbot, tmp_path, active_model=active)
    model = wizard.page_named("model")
    assert model.sky == sky and model.mix_base.isEnabled() and model.mix_base.isChecked()
    assert str(sky) in model.mix_base.toolTip()
    _to_training(qtbot, wizard, labelled)
    assert wizard.plan.base == str(sky) and wizard.plan.init_from == str(active)
    wizard.close()
    # another build of that sky (its manifest differs) is not the one the model learnt from: not offered
    manifest = json.loads((sky / "manifest.json").read_text())
    (sky / "manifest.json").write_text(json.dumps({**manifest, "provenance": {"source": "rebuilt"}}))
    wizard = _wizard(qtbot, tmp_path, active_model=active)
    model = wizard.page_named("model")
    assert model.sky is None and not model.mix_base.isEnabled() and not model.mix_base.isChecked()
    assert "'sky' (checked by manifest hash) is not in" in model.mix_base.toolTip()
    _to_training(qtbot, wizard, labelled)
    assert wizard.plan.base is None
    wizard.close()
