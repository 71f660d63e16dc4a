"""The wizard's last three pages: training (a child process), results, save and use."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from bhb_viewer.core.dataset import CLASS_NAMES
from bhb_viewer.core.errors import read_json
from bhb_viewer.core.progress import CancelToken, ProgressCallback
from bhb_viewer.core.science.small_compare import Comparison, compare
from bhb_viewer.core.training.retrain import (
    RESUME_STATE,
    install_model,
    resume_command,
    run_results,
    scores_metrics,
    time_left,
)
from bhb_viewer.core.training.train_config import train_command
from bhb_viewer.gui.wizard.process import TrainProcess
from bhb_viewer.gui.wizard.setup_pages import BASELINES

if TYPE_CHECKING:
    from bhb_viewer.gui.wizard.wizard import TrainingWizard

log = logging.getLogger(__name__)
ROWS = ("BHB", "non-BHB", "macro")
METRICS = ("precision", "recall", "f1")


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=title)
    plot.setLabel("left", left)
    plot.setLabel("bottom", bottom)
    plot.showGrid(x=True, y=True, alpha=0.3)
    for axis in ("left", "bottom"):
        plot.getAxis(axis).enableAutoSIPrefix(False)  # F1 0.85, not "850 (×0.001)"
    plot.addLegend(offset=(-10, 10))
    return plot


class TrainingPage(QWizardPage):
    """Runs ``bhb train … --progress-json`` and draws what it reports; Cancel keeps a resumable run."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Training")
        self.setSubTitle("Training runs as a separate process: the viewer stays responsive and survives a crash.")
        self.process = TrainProcess(self)
        self.process.sigEvent.connect(self._event)
        self.process.sigFinished.connect(self._finished)
        self.start_button, self.cancel_button, self.resume_button = (
            QPushButton(t) for t in ("Start", "Cancel", "Resume"))
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.progress = QProgressBar()
        self.time_label = QLabel("")
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.loss_plot = _plot("training loss", "loss", "step")
        self.f1_plot = _plot("validation macro F1", "F1", "step")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#3498db", width=1), name="loss")
        self.f1_curve = self.f1_plot.plot([], [], pen=pg.mkPen("#27ae60", width=1), symbol="o", symbolSize=5,
                                          name="val F1")
        self.log_pane = QPlainTextEdit()
        self.log_pane.setReadOnly(True)
        self.log_pane.setMaximumBlockCount(2000)
        buttons = QHBoxLayout()
        for w in (self.start_button, self.cancel_button, self.resume_button, self.progress, self.time_label):
            buttons.addWidget(w)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.f1_plot)
        lay = QVBoxLayout(self)
        lay.addLayout(buttons)
        lay.addWidget(self.status_label)
        lay.addLayout(plots, 3)
        lay.addWidget(self.log_pane, 1)
        self.outcome = ""
        self._run_out = ""
        self.loss_points: list[tuple[float, float]] = []
        self.f1_points: list[tuple[float, float]] = []
        self._buttons()

    def initializePage(self) -> None:
        if self.wiz.plan.out != self._run_out:  # a new plan (back, changed, next): its own, fresh run
            self._run_out, self.outcome = self.wiz.plan.out, ""
            self._reset_curves()
            self._buttons()
        self.status_label.setText(f"{self.wiz.plan.model} ({self.wiz.plan.size}) on {self.wiz.plan.dataset}; "
                                  f"run folder {self.wiz.plan.out}")

    def _buttons(self) -> None:
        running = self.process.running
        resumable = bool(self.wiz.plan.out) and (Path(self.wiz.plan.out) / RESUME_STATE).is_file()
        self.start_button.setEnabled(not running and self.outcome != "done")
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(not running and resumable and self.outcome != "done")

    def _launch(self, argv: list[str], what: str) -> None:
        self.outcome = ""
        self.log_pane.appendPlainText(f"$ {' '.join(argv)}")
        self.status_label.setStyleSheet("")
        self.status_label.setText(f"{what}…")
        self.process.start(argv)
        self._buttons()
        self.completeChanged.emit()

    def _reset_curves(self) -> None:
        self.loss_points, self.f1_points = [], []
        self.loss_curve.setData([], [])
        self.f1_curve.setData([], [])
        self.progress.setValue(0)

    def start(self) -> None:
        """A fresh run: the plan's config file and ``bhb train --config … --progress-json``."""
        self._reset_curves()
        self._launch(train_command(self.wiz.plan), "training")

    def resume(self) -> None:
        """Continue the cancelled run from its resume state (the curves carry on)."""
        self._launch(resume_command(self.wiz.plan.out), "resuming")

    def cancel(self) -> None:
        self.status_label.setText("cancelling: the run stops after this step and keeps a resumable state…")
        self.process.cancel()

    def _event(self, event: dict[str, Any]) -> None:
        monitor = self.process.monitor
        stage = str(event.get("stage", ""))
        if event.get("event") == "progress" and stage.startswith("train:"):
            self.progress.setMaximum(max(1, monitor.total))
            self.progress.setValue(monitor.done)
            self.time_label.setText(time_left(monitor.eta_s))
            if "loss" in (event.get("metrics") or {}):  # a baseline reports no loss
                self.loss_points.append(monitor.loss[-1])
                self.loss_curve.setData(*np.asarray(self.loss_points, float).T)
        elif event.get("event") == "progress" and stage.startswith("validate:") and monitor.val_f1:
            self.f1_points.append(monitor.val_f1[-1])
            self.f1_curve.setData(*np.asarray(self.f1_points, float).T)
            self.log_pane.appendPlainText(monitor.log[-1])
        elif event.get("event") != "progress":
            self.log_pane.appendPlainText(monitor.log[-1])

    def _finished(self, outcome: str, message: str) -> None:
        self.outcome = outcome
        for line in self.process.stderr_tail if outcome == "crashed" else ():
            self.log_pane.appendPlainText(line)
        if outcome == "done":
            self.wiz.run_dir = Path(message)
            self.status_label.setText(f"finished: {message}")
            self.progress.setValue(self.progress.maximum())
            self.time_label.setText("")
        else:
            self.status_label.setStyleSheet("color: #c0392b")
            prefix = {"cancelled": "cancelled", "error": "training refused", "crashed": "training failed"}[outcome]
            self.status_label.setText(f"{prefix}: {message}")
        self._buttons()
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.outcome == "done"

    def cleanup(self, wait_ms: int = 0) -> None:
        """Ask a child still running to stop (it keeps its resume state); wait up to ``wait_ms`` for it."""
        if self.process.running:
            self.process.cancel()
            if wait_ms:
                self.process.wait(wait_ms)


class ResultsPage(QWizardPage):
    """The new model's test-split numbers beside the active model's on the same stars."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Results")
        self.setSubTitle("Test split (never seen in training); the active model scored on the same stars.")
        self.table = QTableWidget(len(ROWS) + 1, 6)
        self.table.setHorizontalHeaderLabels([f"{who} {m}" for who in ("new", "active") for m in ("P", "R", "F1")])
        self.table.setVerticalHeaderLabels([*ROWS, "AUC"])
        self.confusion = QTableWidget(2, 4)
        self.confusion.setHorizontalHeaderLabels([f"{who}\n→ {c}" for who in ("new", "active") for c in CLASS_NAMES])
        self.confusion.setToolTip("confusion matrix: rows the true class, columns the class each model called")
        self.confusion.setVerticalHeaderLabels([f"true {c}" for c in CLASS_NAMES])
        self.compare_label = QLabel("")
        self.compare_label.setWordWrap(True)
        self.roc_plot = _plot("ROC", "true-positive rate", "false-positive rate")
        self.pr_plot = _plot("precision–recall (BHB)", "precision", "recall")
        for table in (self.table, self.confusion):
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        grid = QGridLayout()
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.addWidget(self.table, 0, 0)
        grid.addWidget(self.confusion, 1, 0)
        grid.addWidget(self.roc_plot, 0, 1)
        grid.addWidget(self.pr_plot, 1, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addWidget(self.compare_label)
        self.results: dict[str, Any] | None = None
        self.active_results: dict[str, Any] | None = None

    def initializePage(self) -> None:
        self.results = run_results(self.wiz.finished_run)
        self.wiz.comparison = None  # until the active model is scored on this run's test stars
        self.active_results = None
        for plot in (self.roc_plot, self.pr_plot):
            plot.clear()
        self._fill(self.results, 0, "new", "#e67e22")
        self._compare()

    def _fill(self, r: dict[str, Any], col: int, name: str, colour: str) -> None:
        for i, row in enumerate(ROWS):
            for j, m in enumerate(METRICS):
                self.table.setItem(i, col + j, QTableWidgetItem(f"{r[row][m]:.4f}"))
        self.table.setItem(len(ROWS), col, QTableWidgetItem(f"{r['auc']:.4f}"))
        for t in range(2):
            for p in range(2):
                self.confusion.setItem(t, col // 3 * 2 + p, QTableWidgetItem(str(r["confusion"][t][p])))
        pen = pg.mkPen(colour, width=1)
        self.roc_plot.plot(r["roc"]["fpr"], r["roc"]["tpr"], pen=pen, name=f"{name} (AUC {r['auc']:.3f})")
        self.pr_plot.plot(r["pr"]["recall"], r["pr"]["precision"], pen=pen, name=name)

    def _compare(self) -> None:
        active = self.wiz.active_model
        if active is None:
            self.compare_label.setText("no active model to compare with")
            return
        self.compare_label.setText(f"scoring the active model {active.name} on the same test split…")
        run_dir, dataset, device = self.wiz.finished_run, self.wiz.plan.dataset, self.wiz.plan.device

        def job(cancel: CancelToken, progress: ProgressCallback):
            from bhb_viewer.ml.compare import scores_on_test_split

            labels, p_bhb = scores_on_test_split(active, run_dir, dataset, device=device, cancel=cancel,
                                                 progress=progress)
            p_new = read_json(run_dir / "test.json")["p_bhb"]
            yield scores_metrics(labels, p_bhb), compare(labels, p_new, p_bhb)

        self.wiz.runner.submit("wizard-compare", job, on_batch=lambda r: self._active_scored(r[0], r[1], active.name),
                               on_error=lambda msg: self.compare_label.setText(f"active model not compared: {msg}"))

    def _active_scored(self, r: dict[str, Any], comparison: Comparison, active_name: str) -> None:
        self.active_results = r
        self.wiz.comparison = comparison
        self._fill(r, 3, "active", "#7f8c8d")
        new = self.results["macro"]["f1"] if self.results else float("nan")
        self.compare_label.setText(f"macro F1 on the same {r['macro']['support']} test stars: new {new:.4f}, "
                                   f"active {active_name} {r['macro']['f1']:.4f}. With 95 % bootstrap intervals: "
                                   f"{comparison.reason}.")


class SavePage(QWizardPage):
    """Name the model, write its folder with a model card, make it active, offer to re-score."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Save and use")
        self.name = QLineEdit()
        self.name.textChanged.connect(self._name_changed)
        self.folder_label = QLabel("")
        self.make_active = QCheckBox("make it the active model")
        self.make_active.setChecked(True)
        self.rescore = QCheckBox("re-score the open list with it")
        self.rescore.setChecked(wizard.can_rescore)
        self.rescore.setEnabled(wizard.can_rescore)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("name", self.name)
        form.addRow("folder", self.folder_label)
        form.addRow(self.make_active)
        form.addRow(self.rescore)
        form.addRow(self.save_button)
        form.addRow(self.status_label)
        self.saved: Path | None = None
        self._saved_run: Path | None = None

    def initializePage(self) -> None:
        plan = self.wiz.plan
        if self.saved is not None and self._saved_run != self.wiz.run_dir:  # a newer run to save
            self.saved = None
            self.save_button.setEnabled(True)
        self.name.setText(f"{plan.model}-{plan.size}-{datetime.now(UTC).strftime('%Y%m%d-%H%M')}")
        network = plan.model not in BASELINES  # the viewer scores with networks only
        compared = self.wiz.comparison
        # ticked only for a first model, or one shown better than the active model (core.science.small_compare)
        recommend = network and (self.wiz.active_model is None or (compared is not None and compared.better))
        self.make_active.setEnabled(network)
        self.make_active.setChecked(recommend)
        self.rescore.setEnabled(network and self.wiz.can_rescore)
        self.rescore.setChecked(recommend and self.wiz.can_rescore)
        if not network:
            self.status_label.setText(f"{plan.model} is saved for comparison and evaluation; the viewer scores "
                                      "with networks only, so it cannot be the active model")
        elif not recommend:
            why = compared.reason if compared is not None else (
                "the comparison with the active model has not finished (or failed), so nothing shows the new "
                "model is better")
            self.status_label.setText(f"Not ticked: {why}. You may still tick them.")
        else:
            self.status_label.setText("")

    def _name_changed(self, text: str) -> None:
        self.folder_label.setText(str(self.wiz.index.new_model_dir(text)) if text.strip() else "")
        self.completeChanged.emit()

    def save(self) -> bool:
        if self.saved is not None:
            return True
        try:
            entry = install_model(self.wiz.finished_run, self.name.text(), self.wiz.index, self.make_active.isChecked())
        except (OSError, ValueError) as exc:
            self.status_label.setText(f"not saved: {exc}")
            return False
        self.saved, self._saved_run = Path(entry.path), self.wiz.run_dir
        self.status_label.setText(f"saved {entry.path} ({entry.version}) with its model card")
        self.save_button.setEnabled(False)
        self.wiz.sigModelSaved.emit(str(self.saved), self.make_active.isChecked(),
                                    self.make_active.isChecked() and self.rescore.isChecked())
        return True

    def isComplete(self) -> bool:
        return bool(self.name.text().strip())

    def validatePage(self) -> bool:
        return self.save()
