"""The review → retrain loop without Qt: what the training wizard asks for, follows and installs.

The wizard's pages only fill a :class:`~bhb_viewer.core.training.train_config.TrainConfig`;
``core.training.train_config.train_command`` makes it the ``bhb train --config FILE --progress-json`` command
line the wizard runs as a child process (a crash or out-of-memory there leaves the viewer standing); everything else is
here, so the command line and tests use the same code:

* :class:`TrainingMonitor` reads that child's JSON lines: loss and validation-F1 points for the
  curves, progress and time left, and how the run ended;
* :func:`run_results` gives the finished run's test-split numbers (per-class and macro P/R/F1, ROC,
  P–R, confusion) from ``core.science.metrics``, the same functions ``fit`` used;
* :func:`install_model` copies a run into the data folder's models with a model card and makes it
  the active model.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import bhb_viewer
from bhb_viewer.core.dataset import manifest_hash
from bhb_viewer.core.errors import BadInputError, read_json
from bhb_viewer.core.science.metrics import (
    auc,
    classification_report,
    confusion_matrix,
    precision_recall_curve,
    roc_curve,
)
from bhb_viewer.core.training.model_index import ModelEntry, ModelIndex, describe
from bhb_viewer.core.training.train_config import CONFIG_FILE

log = logging.getLogger(__name__)

RESUME_STATE = "resume.safetensors"  # a cancelled run's state (ml.training writes it): the wizard offers Resume
CARD_FILE = "README.md"
RUN_FILES = ("config.json", "validation.json", "test.json", "test_metrics.json", "history.json", CONFIG_FILE)
DEVICES = ("auto", "cpu", "cuda")
SIZES = ("lite", "paper", "tiny")


def warm_start_base(model_dir: str | os.PathLike | None) -> tuple[str, str] | None:
    """(model name, size) of a network checkpoint that ``bhb train --init-from`` can start from, or
    None (no model, a baseline, or an unreadable checkpoint: only training from scratch is left)."""
    if model_dir is None:
        return None
    try:
        config = read_json(Path(model_dir) / "config.json")
        return str(config["model"]["name"]), str(config["model"]["size"])
    except (BadInputError, KeyError, TypeError) as exc:
        log.info("%s cannot be fine-tuned: %s", model_dir, exc)
        return None


def training_sky(model_dir: str | os.PathLike) -> tuple[str, str] | None:
    """(name, manifest hash) of the data set a checkpoint records as its training sky, or None
    where it records none (a hand-made or older checkpoint)."""
    config = read_json(Path(model_dir) / "config.json")
    record = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    digest = record.get("manifest_sha256") or config.get("dataset_hash")
    return (str(record.get("name", "")), str(digest)) if digest else None


def check_base(
    model_dir: str | os.PathLike, base_dir: str | os.PathLike, base_hash: str, any_base: bool = False
) -> None:
    """Refuse to mix ``base_dir`` into a fine-tune of ``model_dir`` unless it is the sky that model
    was trained on (same manifest hash), or ``any_base``.

    A checkpoint records its training data by name and hash only, never by path, so the person
    names the folder; another sky (or another build of it) would pull the model towards data it
    was never meant to remember, so it takes a deliberate ``--base-any``.
    """
    if any_base:
        return
    record = training_sky(model_dir)
    if record is None:
        raise ValueError(f"--base {base_dir}: {model_dir} records no training data set to check it against; "
                         "give --base-any to mix it in anyway")
    name, digest = record
    if base_hash != digest:
        raise ValueError(f"--base {base_dir}: not the data set {Path(model_dir).name} was trained on ({name!r}, "
                         f"manifest hash {digest[:12]}…; this one's is {base_hash[:12]}…); give --base-any to "
                         "mix it in anyway")


def find_training_sky(model_dir: str | os.PathLike, folders: list[Path]) -> Path | None:
    """The folder among ``folders`` (each searched for a data set of the recorded name) that holds
    ``model_dir``'s training sky, its manifest hash checked; None where none does."""
    try:
        record = training_sky(model_dir)
    except BadInputError:
        return None
    if record is None or not record[0]:
        return None
    for folder in folders:
        candidate = Path(folder) / record[0]
        try:
            if manifest_hash(read_json(candidate / "manifest.json")) == record[1]:
                return candidate
        except BadInputError:
            continue
    return None


def new_run_dir(data_dir: str | os.PathLike, model: str, size: str) -> Path:
    """A run folder of its own under ``data_dir/runs`` (created), named by model, size and UTC time."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(data_dir) / "runs" / f"{model}-{size}-{stamp}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for k in range(1, 1000):
        run = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            run.mkdir()
        except FileExistsError:
            continue
        return run
    raise FileExistsError(f"{base}: no free run folder name")


def resume_command(run_dir: str | os.PathLike, python: str | None = None) -> list[str]:
    """argv that continues a cancelled (or killed) run from its resume state."""
    return [python or sys.executable, "-m", "bhb_viewer", "train", "--resume", str(run_dir), "--progress-json"]


def child_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: this very package first on the path, whether installed or not."""
    env = dict(os.environ if env is None else env)
    here = str(Path(bhb_viewer.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([here, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass
class TrainingMonitor:
    """The state of a training child, fed one line of its standard output at a time."""

    loss: list[tuple[float, float]] = field(default_factory=list)  # (step, training loss)
    val_f1: list[tuple[float, float]] = field(default_factory=list)  # (step, validation macro F1)
    stage: str = ""
    done: int = 0
    total: int = 0
    eta_s: float | None = None
    outcome: str = ""  # "", done, cancelled, error
    message: str = ""
    run_dir: str = ""
    log: list[str] = field(default_factory=list)  # lines that were not progress events

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def feed(self, line: str) -> dict[str, Any] | None:
        """Take one line; returns the parsed event (None for plain text, kept in ``log``)."""
        line = line.strip()
        if not line:
            return None
        try:
            event = json.loads(line)
        except ValueError:
            self.log.append(line)
            return None
        if not isinstance(event, dict) or "event" not in event:
            self.log.append(line)
            return None
        kind = event["event"]
        if kind == "progress":
            self._progress(event)
        else:
            self.outcome, self.message = kind, str(event.get("message", ""))
            self.run_dir = str(event.get("run_dir", self.run_dir))
            self.log.append(f"{kind}: {self.message}" if self.message else kind)
        return event

    def _progress(self, event: dict[str, Any]) -> None:
        stage, metrics = str(event.get("stage", "")), event.get("metrics") or {}
        if stage.startswith("train:"):
            self.stage, self.done, self.total = stage[6:], int(event["done"]), int(event.get("total") or 0)
            if "loss" in metrics:
                self.loss.append((float(self.done), float(metrics["loss"])))
            self.eta_s = metrics.get("eta_s")
        elif stage.startswith("validate:") and "val_macro_f1" in metrics:
            self.val_f1.append((float(self.done), float(metrics["val_macro_f1"])))
            self.log.append(f"{stage[9:]} epoch {event['done']}/{event.get('total')}: validation macro F1 "
                            f"{metrics['val_macro_f1']:.4f}")


def time_left(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "time left: estimating"
    seconds = int(round(seconds))
    return f"time left: {seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"time left: {seconds} s"


def scores_metrics(labels: np.ndarray, p_bhb: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Per-class and macro P/R/F1, confusion matrix, ROC and P–R curves of some scores (core.science.metrics)."""
    labels = np.asarray(labels, dtype=np.int64)
    p_bhb = np.asarray(p_bhb, dtype=float)
    pred = (p_bhb >= threshold).astype(np.int64)
    report: dict[str, Any] = classification_report(labels, pred)
    fpr, tpr, _ = roc_curve(labels, p_bhb)
    precision, recall, _ = precision_recall_curve(labels, p_bhb)
    both = 0 < labels.sum() < len(labels)
    report.update(
        auc=auc(fpr, tpr) if both else float("nan"),
        confusion=confusion_matrix(labels, pred).tolist(),
        roc={"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        pr={"precision": precision.tolist(), "recall": recall.tolist()},
        threshold=threshold,
    )
    return report


def run_results(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A finished run's test split: rows, labels, scores and their metrics (``scores_metrics``)."""
    run = Path(run_dir)
    test = read_json(run / "test.json")
    labels, p_bhb = np.asarray(test["label"]), np.asarray(test["p_bhb"])
    return {"rows": test.get("row", []), "labels": labels.tolist(), "p_bhb": p_bhb.tolist(),
            **scores_metrics(labels, p_bhb)}


def model_card(run_dir: Path, name: str) -> str:
    """A short model card: what was trained on what, how it scored, how to reproduce it, what not to use it for."""
    config = read_json(run_dir / "config.json")
    training = config.get("training", {})
    test = (config.get("metrics") or {}).get("test") or {}
    macro, bhb = test.get("macro", {}), test.get("BHB", {})
    record = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}  # no machine paths
    source = (record.get("provenance") or {}).get("source", "unknown")
    size = f"{record['count']} stars, {record['n_bhb']} BHB, " if {"count", "n_bhb"} <= set(record) else ""
    lines = [
        f"# {name}",
        "",
        f"Trained with the bhb_viewer training wizard on {datetime.now(UTC).isoformat(timespec='seconds')}.",
        "",
        f"- model: {training.get('model')} ({training.get('size')}), seed {training.get('seed')}, "
        f"split {training.get('fractions')}, {training.get('epochs')} epochs per stage, "
        f"batch {training.get('batch_size')}, "
        f"lr {training.get('lr')}, device {training.get('device')}",
        f"- data set: {training.get('dataset')} ({size}manifest hash {config.get('dataset_hash', '')[:16]}…; "
        f"source: {source})",
        f"- test split: macro P {macro.get('precision', float('nan')):.4f} R {macro.get('recall', float('nan')):.4f} "
        f"F1 {macro.get('f1', float('nan')):.4f}, AUC {test.get('auc', float('nan')):.4f}"
        + (f"; BHB class P {bhb['precision']:.4f} R {bhb['recall']:.4f} F1 {bhb['f1']:.4f}" if bhb else ""),
        "",
        "Reproduce: `bhb train --config train-config.json --dataset DIR --out RUN` (the config in this folder; "
        "DIR is the data set named above).",
        "",
        "Limits: the numbers hold for data like the training set only; a set built from one person's verdicts "
        "carries that person's choices, and simulated data is not for science.",
    ]
    return "\n".join(lines) + "\n"


def install_model(run_dir: str | os.PathLike, name: str, index: ModelIndex, make_active: bool = True) -> ModelEntry:
    """Copy a finished run into the data folder's models as ``name`` with a model card; make it active.

    The copy goes to a temporary sibling first and is renamed into place, so a failure leaves no
    half model in the list. Resume files of the run are not copied.

    Parameters
    ----------
    run_dir : path
        A finished run of ``bhb train`` (network or baseline).
    name : str
        The model's name; its folder is this name made safe (suffixed when taken).
    index : ModelIndex
        The data folder's model list.
    make_active : bool
        Record it as the active model.

    Returns
    -------
    ModelEntry
        The installed model as the Models menu lists it.
    """
    run = Path(run_dir)
    if not (run / "config.json").is_file():
        raise FileNotFoundError(f"{run}: no finished model here (config.json missing)")
    dest = index.new_model_dir(name)
    tmp = dest.with_name(f".partial-{dest.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        config = read_json(run / "config.json")
        weights = [config["weights"]["file"]] if "weights" in config else list(config.get("files", []))
        for fname in [*RUN_FILES, *weights]:
            if (run / fname).is_file() and fname != CONFIG_FILE:
                shutil.copy2(run / fname, tmp / fname)
        # the config as the checkpoint keeps it: data set and run folder by name, no machine paths
        (tmp / CONFIG_FILE).write_text(json.dumps(config.get("training", {}), indent=1))
        (tmp / CARD_FILE).write_text(model_card(run, name))
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("installed model %s from %s", dest, run)
    return index.set_active(dest) if make_active else describe(dest, "trained")
