"""One training configuration for ``bhb train``, the wizard and ``bhb evaluate``, checked in one place.

``TrainConfig`` is plain data (no torch): the command line fills it from flags or a .json/.toml
file, the wizard's pages fill it field by field and run ``bhb train --config`` on what
:func:`write_config` wrote, and ``ml.training.fit`` trains what it says. :meth:`TrainConfig.check`
refuses an impossible value naming its command-line flag, so every entrance gives the same message.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bhb_viewer.core.files import write_atomic

CONFIG_FILE = "train-config.json"  # what the wizard writes into the run folder
FINETUNE = "full"  # the models' name for the end-to-end stage
# A warm start trains one stage: "encoders" keeps both encoders frozen and retrains the fusion and
# head (few verdicts cannot retrain a spectrum encoder without forgetting), "none" trains end to end,
# "fusion" keeps all of that and trains only the Balmer-diagnostics branch (model_overrides diagnostics)
FREEZE_CHOICES = {"encoders": "fusion", "none": FINETUNE, "fusion": "diagnostics"}
SCHEDULES = ("cosine", "constant")
# the smallest value of each integer option (None, where allowed, leaves torch or the data its own)
_MINIMUM = {"epochs": 1, "patience": 1, "batch_size": 1, "threads": 1, "max_steps_per_epoch": 1, "num_workers": 0}


def default_lr(size: str) -> float:
    """AdamW's learning rate when none is given: the spec's 1e-4 for the paper size; 1e-3 for lite and
    tiny, which barely move at 1e-4 in a few epochs from scratch (the shipped lite model used 1e-3)."""
    return 1e-4 if size == "paper" else 1e-3


# Defaults the wizard offers (and benchmarks/bench_76_verdicts.py reproduces) for small sets.
# From scratch on ~1,000 stars a lite encoder's validation F1 stays flat for ~8 epochs and then
# climbs (measured on simulated stars): 10 epochs with patience 3 stop it before it learns.
FEW_STARS, FEW_STARS_EPOCHS, FEW_STARS_PATIENCE = 5000, 20, 8
# From scratch, 76 verdicts (28 BHB, 45 non-BHB) gave a lite BATMM that scores every star 0.30 ± 0.01;
# below this many stars of a class the wizard offers only fine-tuning the active model.
SCRATCH_MIN_PER_CLASS = 100
FINETUNE_LR = 1e-4  # a warm start moves the fusion gently: 1e-3 would undo much of what it learnt


@dataclass
class TrainConfig:
    """Everything a training run depends on; a JSON/TOML file, command-line flags or the wizard fill it."""

    dataset: str
    model: str = "batmm"
    size: str = "lite"
    seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1)
    stages: list[str] | None = None  # None: the model's own stages (BATMM: spectrum, image, fusion)
    finetune: bool = False  # append an end-to-end stage with everything unfrozen
    epochs: int = 10  # per stage
    patience: int = 3  # epochs without a new best validation macro-F1 or AUC before a stage stops
    batch_size: int = 64
    lr: float = math.nan  # NaN (not given): default_lr(size)
    weight_decay: float = 5e-2
    schedule: str = "cosine"  # "cosine" (linear warm-up then cosine decay) or "constant"
    warmup_fraction: float = 0.05
    device: str = "auto"
    num_workers: int = 0
    threads: int | None = None  # torch CPU threads; None keeps torch's default. On a shared CPU 1 can be 10× faster
    max_steps_per_epoch: int | None = None  # cap for smoke runs and benchmarks
    image_scale: str = "ratio_asinh"  # ml.preprocess.IMAGE_SCALES; "minmax_cube" is the spec's Eq. 14
    model_overrides: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # warm start: a checkpoint folder of the same model and size (None: from scratch)
    freeze: str = "encoders"  # with init_from: FREEZE_CHOICES' key for what stays frozen
    base: str | None = (
        None  # with init_from: the checkpoint's own training sky, some of whose stars join the training split
    )
    base_ratio: float = 1.0  # base stars drawn per training star of ``dataset`` (stratified, seeded)
    base_any: bool = False  # accept a base whose manifest hash is not the one the checkpoint records
    out: str = "runs/run"

    def __post_init__(self) -> None:
        if math.isnan(self.lr):
            self.lr = default_lr(self.size)

    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides: Any) -> TrainConfig:
        """Read a .json or .toml config; non-None ``overrides`` (command-line flags) win, and
        ``model_overrides`` among them add to the file's."""
        path = Path(path)
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        if overrides.get("model_overrides"):
            merged = {**data.get("model_overrides", {}), **overrides["model_overrides"]}
            overrides = {**overrides, "model_overrides": merged}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A checked config from a mapping of its fields; ValueError names an unknown or impossible one."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(unknown)}")
        data = dict(data)
        if "fractions" in data:
            data["fractions"] = tuple(float(x) for x in data["fractions"])
        return cls(**data).check()

    def replace(self, **overrides: Any) -> TrainConfig:
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None}).check()

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["fractions"] = list(self.fractions)
        return d

    def check(self) -> TrainConfig:
        """This config, or ValueError naming the flag of the first impossible value."""
        check_options(self.to_dict())
        if len(self.fractions) != 3 or min(self.fractions) <= 0 or abs(sum(self.fractions) - 1) > 1e-6:
            raise ValueError(
                f"fractions must be three positive shares of 1 (train, validation, test), got {list(self.fractions)}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if self.freeze not in FREEZE_CHOICES:
            raise ValueError(f"--freeze must be one of {', '.join(FREEZE_CHOICES)}, got {self.freeze!r}")
        if self.freeze == "fusion" and self.init_from and not self.model_overrides.get("diagnostics"):
            raise ValueError("--freeze fusion trains only the Balmer-diagnostics branch: give --diagnostics too")
        if self.model_overrides.get("diagnostics") and not self.model_overrides.get("photometry", self.init_from):
            raise ValueError("--diagnostics reads the catalogue colours beside the Balmer lines: give --photometry too")
        if self.base and not self.init_from:
            raise ValueError(
                "--base mixes in the training sky of the model being fine-tuned: give --init-from MODEL_DIR too"
            )
        if not self.base_ratio > 0:
            raise ValueError(f"--base-ratio must be > 0, got {self.base_ratio!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"--weight-decay must be ≥ 0, got {self.weight_decay!r}")
        return self


def check_options(values: dict[str, Any]) -> None:
    """ValueError naming the flag of the first impossible count or learning rate among ``values``
    (also what ``bhb train --resume`` may change)."""
    for key, low in _MINIMUM.items():
        value = values.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ValueError(f"--{key.replace('_', '-')} must be an integer ≥ {low}, got {value!r}")
    lr = values.get("lr")
    if lr is not None and not lr > 0:
        raise ValueError(f"--lr must be > 0, got {lr!r}")


def write_config(config: TrainConfig) -> Path:
    """Write the checked config into its run folder (created) and return the file's path."""
    text = json.dumps(config.check().to_dict(), indent=1)
    run = Path(config.out)
    run.mkdir(parents=True, exist_ok=True)
    return write_atomic(run / CONFIG_FILE, lambda tmp: tmp.write_text(text))


def train_command(config: TrainConfig, python: str | None = None) -> list[str]:
    """argv of the child process that trains ``config`` (its config file written first)."""
    return [
        python or sys.executable, "-m", "bhb_viewer", "train", "--config", str(write_config(config)), "--progress-json",
    ]
