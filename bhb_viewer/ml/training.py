"""Training: one ``fit(config)`` for the command line and the GUI wizard alike.

The recipe is the spec's transfer learning (paper §8): each stage the model names (BATMM:
spectrum encoder with its linear head, image encoder with its linear head, fusion on the frozen
encoders; optionally an end-to-end fine-tune) is trained with AdamW under a warm-up + cosine
learning rate, its best epoch chosen on validation macro-F1 with early stopping, and the model
keeps that epoch's weights going into the next stage. The final model is tested once on the test
split.

A model with photometry (``Arch.photometry``) reads the data set's catalogue colours in the fusion
and end-to-end stages. So that it learns to score candidates without cutouts, a seeded
IMAGE_DROP of those stages' training batches goes without the image, and another BAND_DROP
without the i and z colours (magnitudes synthesised from a spectrum lack them); validation and
test always see every input.

A fine-tune (``init_from``) with a ``base`` also trains on some stars of the checkpoint's own
training sky (:func:`base_sample`); its validation and test splits stay the person's stars.

A run directory holds the checkpoint (``config.json`` + ``weights.safetensors``), ``validation.json``
(P(BHB) and labels of the validation split, for the GUI's threshold chooser), ``test.json``,
``test_metrics.json`` and ``history.json``. A cancelled (or killed) run leaves ``resume.safetensors``:
model, optimizer, best-so-far weights and RNG state as tensors, counters and config as JSON in the
same file's header (one file written atomically, so no kill can pair two saves), never a pickle.
Batch order and learning rate are pure functions of (seed, stage, epoch, step), so resuming
replays the uninterrupted run exactly on a CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from bhb_viewer.core.dataset import CLASS_NAMES, Dataset, check_trainable, open_dataset
from bhb_viewer.core.files import write_atomic
from bhb_viewer.core.progress import Cancelled, CancelToken, ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.science.metrics import auc, classification_report, roc_curve
from bhb_viewer.core.training.retrain import (  # RESUME_STATE: tensors, the JSON state in its header
    RESUME_STATE,
    check_base,
)
from bhb_viewer.core.training.train_config import FINETUNE, FREEZE_CHOICES, TrainConfig
from bhb_viewer.ml import distributed
from bhb_viewer.ml.baselines import SpectralBaseline, is_baseline
from bhb_viewer.ml.data import (
    DIAGNOSTICS,
    PHOTOMETRY,
    MixedStars,
    StarDataset,
    make_loader,
    read_rows,
    stratified_split,
)
from bhb_viewer.ml.diagnostics import N_BALMER, DiagnosticScaler, dataset_balmer
from bhb_viewer.ml.embedding_stats import describe_sky
from bhb_viewer.ml.photometry import colour_columns
from bhb_viewer.ml.preprocess import Preprocessor

if TYPE_CHECKING:
    from bhb_viewer.ml.models import BhbModel

RESUME_KEY = "bhb_resume_state"
RESUME_OVERRIDABLE = ("epochs", "patience", "device", "threads", "num_workers")
IMAGE_DROP = 0.3  # fraction of a photometry model's fusion / end-to-end training batches seen without cutouts
BAND_DROP = 0.1  # a further fraction seen without DROPPED_BANDS' colours
DROPPED_BANDS = ("i", "z")


def dataset_record(dataset: Dataset) -> dict[str, Any]:
    """What a checkpoint says about its training data: name, manifest hash, size and provenance, no machine path."""
    prov = dataset.manifest.get("provenance", {})
    keep = ("source", "simulator_version", "seed", "n", "labels", "extinction_corrected")
    return {"name": Path(dataset.path).name, "manifest_sha256": dataset.manifest_hash, "count": len(dataset),
            "n_bhb": int((dataset.labels == 1).sum()), "provenance": {k: prov[k] for k in keep if k in prov}}


def portable(config: TrainConfig) -> dict[str, Any]:
    """The training config as a checkpoint stores it: data set and run directory by name, not by path."""
    named = {key: Path(value).name for key in ("init_from", "base") if (value := getattr(config, key))}
    return {**config.to_dict(), "dataset": Path(config.dataset).name, "out": Path(config.out).name, **named}


def base_sample(config: TrainConfig, n_train: int) -> tuple[Dataset, np.ndarray] | None:
    """The stars of ``config.base`` that join a fine-tune's training split, or None without a base.

    ``base_ratio`` × ``n_train`` of them (at most the whole base), drawn in the base's own class
    shares from the run's seed, so a resumed run draws the same. They remind the fine-tuned model
    of the sky it learnt from while it learns a person's verdicts (a few dozen of which would
    otherwise pull it wherever they happen to lie); they only train, so validation and test stay
    the person's own stars. The base must be the checkpoint's recorded training sky
    (:func:`bhb_viewer.core.training.retrain.check_base`).
    """
    if not config.base or not config.init_from:
        return None
    base = open_dataset(config.base)
    check_base(config.init_from, config.base, base.manifest_hash, config.base_any)
    labels = base.labels
    known = np.flatnonzero(labels >= 0)
    want = min(len(known), max(1, round(config.base_ratio * n_train)))
    rng = np.random.default_rng(config.seed)
    parts = []
    for cls in np.unique(labels[known]):
        rows = np.flatnonzero(labels == cls)
        parts.append(rng.choice(rows, min(len(rows), round(want * len(rows) / len(known))), replace=False))
    return base, np.sort(np.concatenate(parts))


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """The learning rate at ``step`` of a stage of ``total`` steps."""
    if config.schedule == "constant" or total <= 1:
        return config.lr
    warmup = max(1, int(config.warmup_fraction * total))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=1)
    write_atomic(path, lambda tmp: tmp.write_text(text))


def scores_report(labels: np.ndarray, p_bhb: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Per-class and macro P/R/F1 of ``p_bhb >= threshold``, and the ROC AUC of the scores."""
    labels = np.asarray(labels, dtype=np.int64)
    report: dict[str, Any] = classification_report(labels, (np.asarray(p_bhb) >= threshold).astype(np.int64))
    fpr, tpr, _ = roc_curve(labels, p_bhb)
    report["auc"] = auc(fpr, tpr) if 0 < labels.sum() < len(labels) else float("nan")
    report["threshold"] = threshold
    return report


# --------------------------------------------------------------------------- model plumbing


def default_stages(model: BhbModel, finetune: bool, freeze: str | None = None) -> list[str]:
    """The model's transfer-learning stages; the end-to-end stage only when asked for (or when it is
    the only one, as for unimodal models). A warm start (``freeze`` set) trains the one stage
    FREEZE_CHOICES names, or end to end where the model has no such stage."""
    if freeze:
        stage = FREEZE_CHOICES[freeze]
        return [stage if stage in model.stages() else FINETUNE]
    stages = [s for s in model.stages() if s != FINETUNE]
    return [*stages, FINETUNE] if finetune or not stages else stages


def warm_start(config: TrainConfig) -> tuple[Any, Preprocessor]:
    """The model and preprocessing of ``config.init_from``, refusing another model or size.

    The checkpoint's own preprocessing is kept: its encoders learnt on inputs scaled that way, and a
    few hundred verdicts would give noisier statistics than its training sky did.
    """
    from bhb_viewer.ml.checkpoint import load_checkpoint, load_preprocessor

    if not config.init_from:
        raise ValueError("no checkpoint to warm-start from: init_from is not set")
    model, stored = load_checkpoint(config.init_from)
    spec = stored["model"]
    if (spec["name"], spec["size"]) != (config.model, config.size):
        raise ValueError(f"{config.init_from}: a {spec['name']} ({spec['size']}) checkpoint cannot warm-start "
                         f"{config.model} ({config.size}); give --model {spec['name']} --size {spec['size']}")
    return model.train(), load_preprocessor(stored, config.init_from)


def stage_modalities(model: Any, stage: str) -> tuple[str, ...]:
    """Inputs a stage of ``model`` (a BhbModel) reads: encoder stages need only their own modality,
    which halves their I/O; the other stages of a model with photometry read the colours too; the
    diagnostics stage reads only the colours and the Balmer diagnostics, the full stage everything."""
    from bhb_viewer.ml.models import DIAGNOSTICS_STAGE, ENCODER_STAGES, MODEL_REGISTRY

    if stage in ENCODER_STAGES:
        return (stage,)
    if stage == DIAGNOSTICS_STAGE:
        return (PHOTOMETRY, DIAGNOSTICS)
    diagnostics = (DIAGNOSTICS,) if model.arch.diagnostics and stage == FINETUNE else ()
    return (*MODEL_REGISTRY[model.name].modalities, *((PHOTOMETRY,) if model.arch.photometry else ()), *diagnostics)


def with_diagnostics(model: Any, preprocessor: Preprocessor, train_balmer: np.ndarray) -> Any:
    """A warm-started model given a fresh Balmer-diagnostics branch (its own weights kept), and its
    preprocessing the statistics of ``train_balmer``, the training split's (N, 4) Balmer diagnostics."""
    from bhb_viewer.ml.models import build_model

    grown = build_model(model.name, model.size, **{**model.arch.to_dict(), "diagnostics": True})
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not key.startswith("diagnostics_head.") for key in missing):
        raise ValueError(f"adding the diagnostics branch: unexpected weights {unexpected}, missing {missing}")
    preprocessor.diagnostics = DiagnosticScaler.fit(train_balmer)
    return grown.train()


def drop_inputs(batch: dict[str, torch.Tensor], seed: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """A photometry model's training batch without its cutouts (IMAGE_DROP of draws) or without the
    DROPPED_BANDS colours (BAND_DROP of draws), else as it is.

    One draw per batch from ``seed`` (run seed, stage, epoch, step): a resumed run replays it and
    every rank of a distributed run takes the same decision.
    """
    draw = np.random.default_rng(seed).random()
    if draw < IMAGE_DROP:
        return {k: v for k, v in batch.items() if k != "image"}
    if draw < IMAGE_DROP + BAND_DROP:
        colours = batch[PHOTOMETRY].clone()
        colours[:, colour_columns(DROPPED_BANDS)] = 0
        return {**batch, PHOTOMETRY: colours}
    return batch


def _forward(model: torch.nn.Module, batch: dict[str, torch.Tensor], stage: str, device: torch.device) -> torch.Tensor:
    spectrum, image, photometry, diagnostics = (batch[k].to(device, non_blocking=True) if k in batch else None
                                                for k in ("spectrum", "image", PHOTOMETRY, DIAGNOSTICS))
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        out = model(spectrum, image, stage=stage, photometry=photometry, diagnostics=diagnostics)
    return out["logits"].float()


@torch.no_grad()
def predict_split(
    model: torch.nn.Module, data: StarDataset, stage: str, device: torch.device, batch_size: int, num_workers: int = 0
) -> np.ndarray:
    """P(BHB) for every row of a split, in the split's order."""
    model.eval()
    parts = [
        torch.softmax(_forward(model, batch, stage, device), dim=1)[:, 1].cpu().numpy()
        for batch in make_loader(data, batch_size, num_workers=num_workers)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


# --------------------------------------------------------------------------- resume state


@dataclass
class _Cursor:
    """Where a run is, and what it has learned about its stage so far (JSON part of the resume state)."""

    stage_index: int = 0
    epoch: int = 0
    step: int = 0  # batches of this epoch already done
    best_f1: float = -1.0
    best_auc: float = -1.0  # breaks ties in best_f1 (resume files older than these fields start at -1)
    top_auc: float = -1.0  # the highest validation AUC of the stage, at whichever epoch
    best_epoch: int = -1
    bad_epochs: int = 0
    loss_sum: float = 0.0  # training loss summed over this epoch's steps so far
    history: list[dict[str, Any]] = field(default_factory=list)


def _better(f1: float, auc: float, cursor: _Cursor) -> bool:
    """The epoch to keep: higher validation macro-F1 (the spec's choice), ties broken by AUC."""
    if f1 != cursor.best_f1:
        return f1 > cursor.best_f1
    return bool(np.isfinite(auc)) and auc > cursor.best_auc


def _still_learning(f1: float, auc: float, cursor: _Cursor) -> bool:
    """Whether this epoch resets the patience: a new best F1 or a new best AUC.

    While a network still calls every star one class (the first hundred or so steps of a small
    data set), F1 sits at one value, or dips from a lucky first epoch, although the scores already
    separate the classes better each epoch; counting those epochs as "no progress" stopped
    stages at F1 0.43 on 2,000-star sets, before they had learnt anything.
    """
    return f1 > cursor.best_f1 or (bool(np.isfinite(auc)) and auc > cursor.top_auc)


def _save_resume(
    run_dir: Path, config: TrainConfig, dataset_hash: str, model, optimizer, best_state, cursor: _Cursor
) -> None:
    """The whole resume state in ONE file, written atomically: the tensors, and the counters and
    config as JSON in the safetensors header. A kill at any moment leaves either the previous
    state or this one, never a mix of two saves."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if best_state is not None:
        tensors.update({f"best.{k}": v.contiguous() for k, v in best_state.items()})
    opt = optimizer.state_dict()
    for pid, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"optim.{pid}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"config": config.to_dict(), "dataset_hash": dataset_hash, "cursor": dataclasses.asdict(cursor),
            "param_groups": opt["param_groups"]}
    write_atomic(
        run_dir / RESUME_STATE, lambda tmp: save_file(tensors, str(tmp), metadata={RESUME_KEY: json.dumps(meta)})
    )


def _load_resume(run_dir: Path) -> tuple[TrainConfig, _Cursor, dict[str, torch.Tensor], dict[str, Any]]:
    path = run_dir / RESUME_STATE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: nothing to resume (no {RESUME_STATE})")
    with safe_open(str(path), "pt") as f:
        header = f.metadata() or {}
    if RESUME_KEY not in header:
        raise ValueError(f"{path}: not a resume state of this version (no {RESUME_KEY!r} in its header)")
    meta = json.loads(header[RESUME_KEY])
    return TrainConfig.from_dict(meta["config"]), _Cursor(**meta["cursor"]), load_file(str(path)), meta


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], param_groups: list) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


# --------------------------------------------------------------------------- fit


class Splits(NamedTuple):
    """Row indices of the data set's train / validation / test splits."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def fit(
    config: TrainConfig,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    resume: bool = False,
    resume_overrides: dict[str, Any] | None = None,
) -> Path:
    """Train ``config.model`` on ``config.dataset`` into ``config.out``; return the run directory.

    With ``resume`` the run continues from the resume state in ``config.out``: the stored config
    wins, except for ``resume_overrides`` of RESUME_OVERRIDABLE fields (changing ``epochs``
    rescales the rest of the current stage's schedule, so the result then differs from an
    uninterrupted run). A cancel between steps saves that state and raises ``Cancelled``.

    Under torchrun (several ranks) the model trains as DistributedDataParallel, each rank on its
    share of every epoch's batches (see ml.data.epoch_batches); rank 0 alone reports progress and
    writes the resume state, the checkpoint and the outputs.

    Parameters
    ----------
    config : TrainConfig
        What to train, on which data set, into which run folder (the CLI and the wizard build it).
    progress : ProgressCallback
        Receives training, validation and test events (a text bar, JSON lines or Qt signals).
    cancel : CancelToken, optional
        Checked between steps; a cancel leaves a resumable state.
    resume : bool
        Continue the run in ``config.out`` from its resume state.
    resume_overrides : dict, optional
        Values of RESUME_OVERRIDABLE fields that a resumed run may change.

    Returns
    -------
    Path
        The run folder: checkpoint, model card inputs, metrics, history and split scores.
    """
    config, cursor, saved = _resume_state(config, resume, resume_overrides)
    run_dir = Path(config.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    dataset = open_dataset(config.dataset)
    if saved and saved["meta"].get("dataset_hash") not in (None, dataset.manifest_hash):
        raise ValueError(f"{config.dataset} has changed since this run started: its manifest hash differs")
    check_trainable(dataset, config.fractions)  # a clear error, not an IndexError, for a 2-star set
    splits = Splits(*stratified_split(dataset.labels, config.seed, config.fractions))
    if is_baseline(config.model):
        return _fit_baseline(config, dataset, splits, run_dir, progress)
    ranks = distributed.ranks_from_env()
    device = distributed.rank_device(config.device, ranks)
    joined = ranks.distributed and not torch.distributed.is_initialized()
    distributed.start(device)
    try:
        run = _NetworkRun(config, dataset, splits, device, ranks, progress if ranks.main else no_progress,
                          cancel or CancelToken(), saved)
        for stage_index in range(cursor.stage_index, len(run.stages)):
            cursor = run.train_stage(stage_index, cursor)
        if ranks.main:
            run.finish(cursor.history)
            # the trust flags' record of what it was trained on; unseen stars of that sky set the distance limit
            describe_sky(run_dir, dataset, splits.train, held_out=splits.val)
        distributed.barrier()
    finally:
        if joined:
            distributed.stop()
    return run_dir


def _resume_state(
    config: TrainConfig, resume: bool, overrides: dict[str, Any] | None
) -> tuple[TrainConfig, _Cursor, dict]:
    """(config, cursor, saved) for a fresh run, or the stored ones of a run to resume."""
    if not resume:
        return config, _Cursor(), {}
    run_dir = Path(config.out)
    stored, cursor, tensors, meta = _load_resume(run_dir)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if set(overrides) - set(RESUME_OVERRIDABLE):
        raise ValueError(f"a resumed run can only change {', '.join(RESUME_OVERRIDABLE)}")
    return dataclasses.replace(stored, out=str(run_dir), **overrides), cursor, {"tensors": tensors, "meta": meta}


class _NetworkRun:
    """One network's training: the model, its data and the stage loop (``fit`` drives it)."""

    def __init__(self, config: TrainConfig, dataset: Dataset, splits: Splits, device: torch.device,
                 ranks: distributed.Ranks, progress: ProgressCallback, cancel: CancelToken, saved: dict) -> None:
        from bhb_viewer.ml.models import build_model

        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.config, self.dataset, self.splits, self.device, self.ranks = config, dataset, splits, device, ranks
        self.progress, self.cancel, self.saved = progress, cancel, saved
        self.run_dir = Path(config.out)
        self._balmer_values: np.ndarray | None = None  # see _balmer
        if config.init_from:
            self.model, self.preprocessor = warm_start(config)
            if config.model_overrides.get("diagnostics") and not self.model.arch.diagnostics:
                self.model = with_diagnostics(self.model, self.preprocessor, self._balmer()[splits.train])
        else:
            overrides = {"cutout_size": int(dataset.cutouts.shape[-1]), **config.model_overrides}
            self.model = build_model(config.model, config.size, **overrides)
            train_balmer = self._balmer()[splits.train] if self.model.arch.diagnostics else None
            self.preprocessor = Preprocessor.fit(dataset, splits.train, config.image_scale, self.model.arch.photometry,
                                                 train_balmer)
        self.stages = list(
            config.stages or default_stages(self.model, config.finetune, config.init_from and config.freeze)
        )
        self.base = base_sample(config, len(splits.train))
        if saved:
            self.model.load_state_dict(_prefixed(saved["tensors"], "model."))
            torch.set_rng_state(saved["tensors"]["rng.torch"])
        self.model.to(device)
        per_rank = (len(splits.train) + (len(self.base[1]) if self.base else 0)) // ranks.world_size
        self.steps_per_epoch = max(1, per_rank // config.batch_size)
        if config.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, config.max_steps_per_epoch)
        self.clock = _Clock(self.steps_per_epoch * config.epochs * len(self.stages))
        self.best_p_val: np.ndarray | None = None  # the last stage's best validation scores

    def _balmer(self) -> np.ndarray:
        """The (N, 4) Balmer diagnostics of every split's rows, fitted once per run (not per stage or epoch)."""
        if self._balmer_values is None:
            rows = np.concatenate(self.splits)
            self._balmer_values = np.full((len(self.dataset.labels), N_BALMER), np.nan)
            self._balmer_values[rows] = dataset_balmer(self.dataset, rows)
        return self._balmer_values

    def split_data(self, rows: np.ndarray, stage: str) -> StarDataset:
        modalities = stage_modalities(self.model, stage)
        balmer = self._balmer() if DIAGNOSTICS in modalities else None
        return StarDataset(self.dataset, rows, self.preprocessor, modalities, balmer)

    def train_data(self, stage: str) -> StarDataset | MixedStars:
        """The training split, followed by the base stars of a fine-tune that mixes some in."""
        own = self.split_data(self.splits.train, stage)
        if self.base is None:
            return own
        base, rows = self.base
        return MixedStars([own, StarDataset(base, rows, self.preprocessor, stage_modalities(self.model, stage))])

    def train_stage(self, stage_index: int, cursor: _Cursor) -> _Cursor:
        """Epochs of one stage with early stopping; the model leaves with the stage's best weights."""
        config, stage = self.config, self.stages[stage_index]
        optimizer = torch.optim.AdamW(self.model.freeze_for(stage), lr=config.lr, weight_decay=config.weight_decay)
        net = self._parallel(stage)
        best_state: dict[str, torch.Tensor] | None = None
        self.best_p_val = None  # reused as the final validation scores unless a resume lost them
        if self.saved and stage_index == cursor.stage_index:
            _restore_optimizer(optimizer, self.saved["tensors"], self.saved["meta"]["param_groups"])
            best_state = _prefixed(self.saved["tensors"], "best.") or None
        self.saved = {}
        train_data = self.train_data(stage)
        while cursor.epoch < config.epochs:
            self._train_epoch(net, optimizer, train_data, stage_index, cursor, best_state)
            p_val = self._validate(stage)
            report = scores_report(self.dataset.labels[self.splits.val], p_val)
            f1, auc = report["macro"]["f1"], report["auc"]
            cursor.history.append(
                {
                    "stage": stage,
                    "epoch": cursor.epoch + 1,
                    "train_loss": cursor.loss_sum / max(1, cursor.step),
                    "val_macro_f1": f1,
                    "val_auc": auc,
                }
            )
            learning = _still_learning(f1, auc, cursor)
            if _better(f1, auc, cursor):
                cursor.best_f1, cursor.best_auc, cursor.best_epoch = f1, auc, cursor.epoch + 1
                best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                self.best_p_val = p_val
            if np.isfinite(auc):
                cursor.top_auc = max(cursor.top_auc, auc)
            cursor.bad_epochs = 0 if learning else cursor.bad_epochs + 1
            self.progress(ProgressEvent(f"validate:{stage}", cursor.epoch + 1, config.epochs, "validation",
                                        {"val_macro_f1": f1, "val_auc": auc, "best_epoch": cursor.best_epoch}))
            cursor.epoch, cursor.step, cursor.loss_sum = cursor.epoch + 1, 0, 0.0
            if cursor.bad_epochs >= config.patience:
                cursor.epoch = config.epochs  # early stop: this stage is done
            self._save_resume(optimizer, best_state, cursor)
        if best_state is not None:
            self.model.load_state_dict(best_state)
        return _Cursor(stage_index=stage_index + 1, history=cursor.history)

    def _parallel(self, stage: str) -> torch.nn.Module:
        """The model as this stage trains it: wrapped in DDP (after freezing, so DDP syncs exactly
        the stage's trainable parameters) when there are several ranks."""
        if not self.ranks.distributed:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # a batch without cutouts leaves the cross-attention (and the image encoder) out of the loss
        return DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=self._drops_inputs(stage))

    def _drops_inputs(self, stage: str) -> bool:
        """Whether ``stage`` trains on batches some of which lack inputs (:func:`drop_inputs`)."""
        return self.model.arch.photometry and stage in ("fusion", FINETUNE)

    def _train_epoch(
        self, net, optimizer, train_data: StarDataset | MixedStars, stage_index: int, cursor: _Cursor, best_state
    ) -> None:
        config, stage, epoch = self.config, self.stages[stage_index], cursor.epoch
        drops = self._drops_inputs(stage)
        net.train()
        loader = make_loader(
            train_data, config.batch_size, shuffle=True, seed=(config.seed, stage_index, epoch),
            skip_batches=cursor.step, max_batches=self.steps_per_epoch, num_workers=config.num_workers,
            rank=self.ranks.rank, world_size=self.ranks.world_size, pin_memory=self.device.type == "cuda",
        )
        for batch in loader:
            if distributed.all_sum(np.array([self.cancel.cancelled], dtype=np.int64))[
                0
            ]:  # every rank stops at one step
                self._save_resume(optimizer, best_state, cursor)
                raise Cancelled(f"cancelled; resume with  bhb train --resume {self.run_dir}")
            lr = learning_rate(config, epoch * self.steps_per_epoch + cursor.step, self.steps_per_epoch * config.epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if drops:
                batch = drop_inputs(batch, (config.seed, stage_index, epoch, cursor.step))
            loss = torch.nn.functional.cross_entropy(
                _forward(net, batch, stage, self.device), batch["label"].to(self.device)
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            cursor.step += 1
            cursor.loss_sum += loss.item()
            done = (stage_index * config.epochs + epoch) * self.steps_per_epoch + cursor.step
            self.progress(ProgressEvent(f"train:{stage}", done, self.clock.total, f"epoch {epoch + 1}/{config.epochs}",
                                        {"loss": loss.item(), "lr": lr, "eta_s": self.clock.eta(done)}))

    def _validate(self, stage: str) -> np.ndarray:
        """P(BHB) of the validation split; with several ranks rank 0's, so every rank takes the same
        early-stopping decision."""
        p_val = predict_split(self.model, self.split_data(self.splits.val, stage), stage, self.device,
                              self.config.batch_size, self.config.num_workers)
        return distributed.broadcast(p_val) if self.ranks.distributed else p_val

    def _save_resume(self, optimizer, best_state, cursor: _Cursor) -> None:
        if self.ranks.main:
            _save_resume(
                self.run_dir, self.config, self.dataset.manifest_hash, self.model, optimizer, best_state, cursor
            )

    def finish(self, history: list[dict[str, Any]]) -> None:
        """Test once, write the checkpoint and the outputs, drop the resume state (rank 0)."""
        from bhb_viewer.ml.checkpoint import save_checkpoint

        config, splits = self.config, self.splits
        # a model with the diagnostics branch is judged by its full pass (the fusion's and the branch's mean)
        final = FINETUNE if self.model.arch.diagnostics else self.stages[-1]

        def predict(rows: np.ndarray) -> np.ndarray:
            return predict_split(self.model, self.split_data(rows, final), final, self.device, config.batch_size,
                                 config.num_workers)

        p_val = self.best_p_val if self.best_p_val is not None and final == self.stages[-1] else predict(splits.val)
        p_test = predict(splits.test)
        y_val, y_test = self.dataset.labels[splits.val], self.dataset.labels[splits.test]
        metrics = {"validation": scores_report(y_val, p_val), "test": scores_report(y_test, p_test)}
        self.model.cpu()
        save_checkpoint(
            self.run_dir,
            self.model,
            {
                "preprocess": self.preprocessor.to_config(),
                "class_names": list(CLASS_NAMES),
                "dataset_hash": self.dataset.manifest_hash,
                "dataset": dataset_record(self.dataset),
                "training": portable(config),
                "metrics": metrics,
                "world_size": self.ranks.world_size,
                **({"base": {**dataset_record(self.base[0]), "mixed": len(self.base[1])}} if self.base else {}),
            },
        )
        _write_outputs(self.run_dir, config, splits, (y_val, p_val), (y_test, p_test), metrics, history)
        (self.run_dir / RESUME_STATE).unlink(missing_ok=True)


class _Clock:
    """ETA over all planned steps (an upper bound: early stopping may end stages sooner)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self.first_done: int | None = None

    def eta(self, done: int) -> float:
        if self.first_done is None:
            self.first_done = done - 1  # a resumed run starts counting where it picks up
        rate = (time.monotonic() - self.started) / max(1, done - self.first_done)
        return rate * (self.total - done)


def _write_outputs(run_dir: Path, config: TrainConfig, splits, val, test, metrics: dict, history: list) -> None:
    for name, rows, (labels, p_bhb) in (("validation.json", splits.val, val), ("test.json", splits.test, test)):
        _write_json(
            run_dir / name, {"p_bhb": [float(p) for p in p_bhb], "label": labels.tolist(), "row": rows.tolist()}
        )
    _write_json(
        run_dir / "test_metrics.json",
        {"model": config.model, "size": config.size, "seed": config.seed, **metrics["test"]},
    )
    _write_json(run_dir / "history.json", history)


def _fit_baseline(config: TrainConfig, dataset: Dataset, splits, run_dir: Path, progress: ProgressCallback) -> Path:
    """SVM / XGBoost on the preprocessed spectra of the same split; same output files as a network."""
    preprocessor = Preprocessor.fit(dataset, splits.train, config.image_scale)
    arrays = [read_rows(dataset, rows, preprocessor, ("spectrum",)) for rows in splits]
    progress(ProgressEvent(f"train:{config.model}", 0, 1, "fitting"))
    model = SpectralBaseline(config.model, config.seed).fit(
        arrays[0]["spectrum"], arrays[0]["label"], arrays[1]["spectrum"], arrays[1]["label"]
    )
    progress(ProgressEvent(f"train:{config.model}", 1, 1, "fitted"))
    p_val, p_test = (model.predict_proba(a["spectrum"]) for a in arrays[1:])
    y_val, y_test = arrays[1]["label"], arrays[2]["label"]
    metrics = {"validation": scores_report(y_val, p_val), "test": scores_report(y_test, p_test)}
    files = model.save(run_dir)
    _write_json(
        run_dir / "config.json",
        {
            "kind": "baseline",
            "model": config.model,
            "size": config.size,
            "files": files,
            "preprocess": preprocessor.to_config(),
            "class_names": list(CLASS_NAMES),
            "dataset_hash": dataset.manifest_hash,
            "dataset": dataset_record(dataset),
            "training": portable(config),
            "metrics": metrics,
        },
    )
    _write_outputs(run_dir, config, splits, (y_val, p_val), (y_test, p_test), metrics, [])
    return run_dir
