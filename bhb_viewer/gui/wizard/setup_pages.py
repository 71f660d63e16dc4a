"""The wizard's first three pages: data, split and seeds, model. They only fill the wizard's TrainConfig."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.ingest.from_session import MIN_PER_CLASS, TooFewLabels, build_from_session, check_label_counts
from bhb_viewer.core.progress import CancelToken, ProgressCallback
from bhb_viewer.core.training.retrain import (
    DEVICES,
    SIZES,
    find_training_sky,
    new_run_dir,
    training_sky,
    warm_start_base,
)
from bhb_viewer.core.training.train_config import (
    FEW_STARS,
    FEW_STARS_EPOCHS,
    FEW_STARS_PATIENCE,
    FINETUNE_LR,
    SCRATCH_MIN_PER_CLASS,
    default_lr,
)

if TYPE_CHECKING:
    from bhb_viewer.gui.wizard.wizard import TrainingWizard

log = logging.getLogger(__name__)
SMALL_SET = 200  # below this many stars the metrics of a 10 % test split are noisy
UNBALANCED = 3.0  # warn when one class outnumbers the other by more than this
BASELINES = ("svm", "xgboost")
ENCODER_STAGES = ("spectrum", "image", "fusion")


def _path_row(edit: QLineEdit, button_text: str, pick) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    button = QPushButton(button_text)
    button.clicked.connect(pick)
    row.addWidget(button)
    return row


def class_warnings(n_bhb: int, n_non_bhb: int) -> list[str]:
    """Warnings shown under the counts: a one-class or too small set (blocking), small or unbalanced (advice)."""
    try:
        check_label_counts(n_bhb, n_non_bhb)
    except TooFewLabels as exc:
        return [exc.problem]
    warnings = []
    if n_bhb + n_non_bhb < SMALL_SET:
        warnings.append(f"small set ({n_bhb + n_non_bhb} stars): the test split's numbers will be noisy")
    if max(n_bhb, n_non_bhb) > UNBALANCED * min(n_bhb, n_non_bhb):
        warnings.append(f"unbalanced classes ({n_bhb} BHB : {n_non_bhb} non-BHB): watch the smaller class's recall")
    return warnings


class DataPage(QWizardPage):
    """A data-set folder, or the verdicts of the open session (optionally merged with a base set)."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Data")
        self.setSubTitle("Train on a labelled data set, or on the verdicts recorded in this session.")
        self.folder_radio = QRadioButton("A data-set folder")
        self.session_radio = QRadioButton("Verdicts from this session")
        group = QButtonGroup(self)
        group.addButton(self.folder_radio)
        group.addButton(self.session_radio)
        self.folder_edit = QLineEdit()
        self.base_edit = QLineEdit()
        self.base_edit.setPlaceholderText("optional base data set (the person's verdict wins on duplicates)")
        self.counts_label = QLabel("")
        self.warning_label = QLabel("")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #c0392b")
        self.build_button = QPushButton("Build the data set from the verdicts")
        self.build_button.clicked.connect(self.build_from_verdicts)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.folder_radio)
        lay.addLayout(_path_row(self.folder_edit, "Browse…", self._pick_folder))
        lay.addWidget(self.session_radio)
        lay.addLayout(_path_row(self.base_edit, "Base set…", self._pick_base))
        lay.addWidget(self.build_button)
        lay.addWidget(self.counts_label)
        lay.addWidget(self.warning_label)
        lay.addWidget(self.status_label)
        lay.addStretch(1)
        self.built: Path | None = None  # the data set built from the verdicts
        self.counts: tuple[int, int] | None = None
        self.blocking = ""
        has_session = wizard.session_path is not None
        self.session_radio.setEnabled(has_session)
        (self.session_radio if has_session else self.folder_radio).setChecked(True)
        for signal in (self.folder_radio.toggled, self.folder_edit.editingFinished, self.base_edit.editingFinished):
            signal.connect(self.refresh)
        self.refresh()

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a data-set folder")
        if path:
            self.folder_edit.setText(path)
            self.folder_radio.setChecked(True)
            self.refresh()

    def _pick_base(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a base data set")
        if path:
            self.base_edit.setText(path)
            self.refresh()

    @property
    def use_session(self) -> bool:
        return self.session_radio.isChecked() and self.wiz.session_path is not None

    def refresh(self) -> None:
        """Recount: the folder's manifest, or a dry run of the verdicts (no data copied)."""
        self.counts, self.blocking, self.built = None, "", None
        text, warnings = "", []
        try:
            if self.use_session and self.wiz.session_path is not None:
                report = build_from_session(self.wiz.session_path, None, base=self.base_edit.text().strip() or None)
                self.counts = (report.n_bhb, report.n_non_bhb)
                text = (f"{report.n_bhb} BHB, {report.n_non_bhb} non-BHB ({report.n_from_session} vetted, "
                        f"{report.n_from_base} from the base set); {report.n_excluded} excluded (other, unsure, "
                        f"bad data); {report.n_without_data} without data in the session's source or the base")
            elif self.folder_edit.text().strip():
                ds = open_dataset(self.folder_edit.text().strip())
                self.counts = (int(ds.manifest["n_bhb"]), int(ds.manifest["n_non_bhb"]))
                text = f"{self.counts[0]} BHB, {self.counts[1]} non-BHB ({len(ds)} stars)"
        except (BadInputError, OSError) as exc:
            self.blocking = str(exc)
        if self.counts is not None:
            warnings = class_warnings(*self.counts)
            if warnings and min(self.counts) < MIN_PER_CLASS:
                self.blocking = warnings[0]
        self.counts_label.setText(text)
        self.warning_label.setText("\n".join([self.blocking] if self.blocking and not warnings else warnings))
        self.build_button.setVisible(self.use_session)
        self.build_button.setEnabled(self.counts is not None and not self.blocking)
        self.status_label.setText("")
        self.completeChanged.emit()

    def build_from_verdicts(self) -> None:
        """Write the verdicts' data set under the data folder, in the background."""
        session = self.wiz.session_path
        if session is None:
            return
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out = self.wiz.data_dir / "datasets" / f"{Path(session).name.split('.')[0]}-{stamp}"
        base = self.base_edit.text().strip() or None
        self.build_button.setEnabled(False)
        self.status_label.setText(f"building {out} …")

        def job(cancel: CancelToken, progress: ProgressCallback):
            from bhb_viewer.services.session_data import sdss_cache_loader

            yield build_from_session(session, out, base=base, extra_loader=sdss_cache_loader(),
                                     progress=progress, cancel=cancel)

        self.wiz.runner.submit("wizard-data", job, on_batch=self._built, on_error=self._build_failed)

    def _built(self, report) -> None:
        self.built = Path(report.path)
        self.counts = (report.n_bhb, report.n_non_bhb)
        skipped = "; ".join(f"{cid}: {why}" for cid, why in report.without_data[:5])
        self.status_label.setText(f"wrote {report.path}: {report.n_bhb} BHB, {report.n_non_bhb} non-BHB"
                                  + (f"; skipped {report.n_without_data} without data ({skipped})" if skipped else ""))
        self.completeChanged.emit()

    def _build_failed(self, message: str) -> None:
        self.status_label.setText(f"could not build the data set: {message}")
        self.build_button.setEnabled(True)

    def dataset_path(self) -> Path | None:
        if self.blocking or self.counts is None:
            return None
        return self.built if self.use_session else Path(self.folder_edit.text().strip())

    def isComplete(self) -> bool:
        return self.dataset_path() is not None

    def validatePage(self) -> bool:
        self.wiz.plan.dataset = str(self.dataset_path())
        return True


class SplitPage(QWizardPage):
    """Train / validation / test fractions (stratified) and the seed."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Split and seed")
        self.setSubTitle("Stratified by class; the seed fixes the split and the initial weights.")
        self.fractions = []
        form = QFormLayout(self)
        for name, value in zip(("train %", "validation %", "test %"), (70, 20, 10), strict=True):
            box = QSpinBox()
            box.setRange(0, 100)
            box.setValue(value)
            box.valueChanged.connect(self._changed)
            self.fractions.append(box)
            form.addRow(name, box)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        form.addRow("seed", self.seed)
        self.sum_label = QLabel("")
        form.addRow(self.sum_label)

    def _changed(self) -> None:
        total = sum(b.value() for b in self.fractions)
        self.sum_label.setText("" if total == 100 else f"the three must add up to 100 (now {total})")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return sum(b.value() for b in self.fractions) == 100 and all(b.value() > 0 for b in self.fractions)

    def validatePage(self) -> bool:
        self.wiz.plan.fractions = tuple(b.value() / 100 for b in self.fractions)  # type: ignore[assignment]
        self.wiz.plan.seed = self.seed.value()
        return True


class ModelPage(QWizardPage):
    """Which model (registry names, svm, xgboost), its size, stages and the optimiser's settings."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Model")
        self.setSubTitle("Defaults follow the spec (AdamW, 10 epochs per stage, batch 64); lr 1e-3 for lite/tiny.")
        self.modalities: dict[str, tuple[str, ...]] = {"batmm": ("spectrum", "image")}  # until the registry loads
        self.base = warm_start_base(wizard.active_model)
        self.finetune_radio = QRadioButton("Improve the active model with my verdicts (fine-tune)")
        self.scratch_radio = QRadioButton("Train a new model from scratch")
        mode = QButtonGroup(self)
        mode.addButton(self.finetune_radio)
        mode.addButton(self.scratch_radio)
        self.finetune_radio.setEnabled(self.base is not None)
        # the active model's own training sky, where the data folder holds it: mixed into a fine-tune
        self.sky = (
            find_training_sky(wizard.active_model, self._sky_folders()) if self.base and wizard.active_model else None
        )
        self.mix_base = QCheckBox("mix in stars from the model's training sky (as many as your training stars)")
        self.mix_base.setChecked(self.sky is not None)
        self.mix_base.setToolTip(self._sky_hint())
        (self.finetune_radio if self.base else self.scratch_radio).setChecked(True)
        self.model = QComboBox()
        self.model.addItems(["batmm", *BASELINES])
        self.size_box = QComboBox()
        self.size_box.addItems(list(SIZES))
        self.stage_boxes = {s: QCheckBox(s) for s in ENCODER_STAGES}
        self.finetune = QCheckBox("end-to-end fine-tune")
        stages = QWidget()
        grid = QGridLayout(stages)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, box in enumerate([*self.stage_boxes.values(), self.finetune]):
            box.setChecked(box is not self.finetune)
            grid.addWidget(box, 0, i)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(10)
        self.patience = QSpinBox()
        self.patience.setRange(1, 1000)
        self.patience.setValue(3)
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setValue(64)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(default_lr("lite"))
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        form = QFormLayout(self)
        form.addRow(self.finetune_radio)
        form.addRow(self.mix_base)
        form.addRow(self.scratch_radio)
        rows = (("model", self.model), ("size", self.size_box), ("stages", stages), ("epochs per stage", self.epochs),
                ("early-stopping patience", self.patience), ("batch size", self.batch), ("learning rate", self.lr),
                ("device", self.device))
        for label, widget in rows:
            form.addRow(label, widget)
        self.model.currentTextChanged.connect(self._model_changed)
        self.size_box.currentTextChanged.connect(lambda size: self.lr.setValue(default_lr(size)))
        self._defaults_for: tuple[int, int] | None = None
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        form.addRow(self.hint)
        self.scratch_hint = QLabel("")
        self.scratch_hint.setWordWrap(True)
        form.addRow(self.scratch_hint)
        self.finetune_radio.toggled.connect(self._mode_changed)
        self._load_registry()
        self._mode_changed()

    def fine_tuning(self) -> bool:
        return self.finetune_radio.isChecked()

    def _sky_folders(self) -> list[Path]:
        """Where the wizard looks for the active model's training sky: the data folder's data sets,
        the data folder, and beside the model's own folder."""
        folders = [self.wiz.data_dir / "datasets", self.wiz.data_dir]
        return folders + ([Path(self.wiz.active_model).parent] if self.wiz.active_model else [])

    def _sky_hint(self) -> str:
        """Why the mixing box is (not) available, in words."""
        if self.sky is not None:
            return (
                f"{self.sky}: the data set the active model was trained "
                "on; its stars only train, your own stars validate and test"
            )
        if self.base is None:
            return "only a fine-tune of the active model can mix in its training sky"
        record = training_sky(self.wiz.active_model) if self.wiz.active_model else None
        if record is None or not record[0]:
            return "the active model records no training data set"
        folders = ", ".join(str(f) for f in self._sky_folders())
        return f"the active model's training sky {record[0]!r} (checked by manifest hash) is not in {folders}"

    def initializePage(self) -> None:
        """Longer training with more patience by default when the set is small (once per data set);
        too few stars of a class for a new model leave fine-tuning only, with the reason."""
        counts = self.wiz.page_named("data").counts
        if counts == self._defaults_for:
            return  # the person's own settings for this set stay
        self._defaults_for = counts
        few = counts is not None and sum(counts) < FEW_STARS
        self.epochs.setValue(FEW_STARS_EPOCHS if few else 10)
        self.patience.setValue(FEW_STARS_PATIENCE if few else 3)
        self.hint.setText(f"{sum(counts)} stars: {FEW_STARS_EPOCHS} epochs per stage with patience "
                          f"{FEW_STARS_PATIENCE}, since a small set's validation F1 stays flat for "
                          "several epochs before it climbs" if few else "")
        scarce = counts is not None and min(counts) < SCRATCH_MIN_PER_CLASS
        if scarce and self.base is not None:
            self.finetune_radio.setChecked(True)
        self.scratch_radio.setEnabled(not (scarce and self.base is not None))
        self.scratch_hint.setText(
            f"{counts[0]} BHB and {counts[1]} non-BHB: a new model needs at least {SCRATCH_MIN_PER_CLASS} stars of "
            "each class (with fewer it learns to give every star the same score), so only fine-tuning the active "
            "model is offered" if scarce and self.base is not None and counts is not None else "")

    def _mode_changed(self) -> None:
        """Fine-tuning keeps the active model's name and size and trains its fusion (end to end if
        ticked) at a gentle learning rate; from scratch everything is the person's to choose."""
        tuning = self.fine_tuning()
        if tuning and self.base is not None:
            self.model.setCurrentText(self.base[0])
            self.size_box.setCurrentText(self.base[1])
        self.model.setEnabled(not tuning)
        self.size_box.setEnabled(not tuning)
        self.mix_base.setEnabled(tuning and self.sky is not None)
        self.finetune.setText("unfreeze the encoders too (end to end)" if tuning else "end-to-end fine-tune")
        self.finetune.setChecked(False)
        self.lr.setValue(FINETUNE_LR if tuning else default_lr(self.size_box.currentText()))
        self._model_changed(self.model.currentText())

    def _load_registry(self) -> None:
        """The registry's names come from ml.models (torch): imported in the background, then added."""

        def job(cancel: CancelToken, progress: ProgressCallback):
            from bhb_viewer.ml.models import MODEL_REGISTRY

            yield {name: tuple(spec.modalities) for name, spec in MODEL_REGISTRY.items()}

        self.wiz.runner.submit("wizard-registry", job, on_batch=self._registry_loaded)

    def _registry_loaded(self, registry: dict[str, tuple[str, ...]]) -> None:
        self.modalities = registry
        current = self.model.currentText()
        names = [n for n in registry if n != "batmm"]
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems(["batmm", *names, *BASELINES])
        self.model.setCurrentText(current)
        self.model.blockSignals(False)
        self._model_changed(current)

    def _model_changed(self, name: str) -> None:
        baseline = name in BASELINES
        multimodal = len(self.modalities.get(name, ())) == 2
        for widget in (self.epochs, self.patience, self.batch, self.lr, self.device, self.finetune):
            widget.setEnabled(not baseline)
        self.size_box.setEnabled(not baseline and not self.fine_tuning())
        for box in self.stage_boxes.values():
            box.setEnabled(multimodal and not baseline and not self.fine_tuning())

    def validatePage(self) -> bool:
        plan = self.wiz.plan
        plan.model, plan.size = self.model.currentText(), self.size_box.currentText()
        chosen = [s for s, box in self.stage_boxes.items() if box.isChecked()]
        multimodal = len(self.modalities.get(plan.model, ())) == 2
        tuning = self.fine_tuning()
        plan.init_from = str(self.wiz.active_model) if tuning else None
        plan.base = str(self.sky) if tuning and self.sky is not None and self.mix_base.isChecked() else None
        plan.freeze = "none" if tuning and self.finetune.isChecked() else "encoders"
        plan.finetune = self.finetune.isChecked() and not tuning
        subset = multimodal and chosen and len(chosen) < len(ENCODER_STAGES) and not tuning
        plan.stages = chosen + (["full"] if plan.finetune else []) if subset else None
        plan.epochs, plan.patience, plan.batch_size = self.epochs.value(), self.patience.value(), self.batch.value()
        plan.lr, plan.device = self.lr.value(), self.device.currentText()
        plan.out = str(new_run_dir(self.wiz.data_dir, plan.model, plan.size))
        return True
