"""Checkpoints as a directory of ``config.json`` + ``weights.safetensors``; nothing is ever unpickled.

``config.json`` says everything needed to rebuild the model and to preprocess its inputs
(format and code versions, model name, size, architecture, preprocessing constants with the grid
and band statistics, class names, data-set hash, metrics, creation time) plus the weights' sha256.
Loading checks all of it and refuses a mismatch with a ``CheckpointError`` naming the problem,
instead of letting a model silently score with the wrong shapes, grid or weights.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bhb_viewer import __version__
from bhb_viewer.core.dataset import CLASS_NAMES
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import file_sha256, write_atomic
from bhb_viewer.ml.models import MODEL_CODE_VERSION, BhbModel, build_model
from bhb_viewer.ml.preprocess import Preprocessor

FORMAT_NAME = "bhb-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


class CheckpointError(BadInputError):
    """A checkpoint that cannot be used as it is: missing, corrupt, or made for other code or data."""


def save_checkpoint(directory: str | os.PathLike, model: BhbModel, config: dict[str, Any]) -> Path:
    """Write ``model`` and ``config`` (must hold ``"preprocess"``; may hold class names, data-set hash,
    metrics, training settings) to ``directory``. The model's identity and the versions are added here.

    The weights go first and the config last, each by an atomic rename, so a directory with a
    config always has the weights it describes.
    """
    if "preprocess" not in config:
        raise ValueError("a checkpoint config needs the 'preprocess' entry (Preprocessor.to_config())")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    weights = directory / WEIGHTS_FILE
    write_atomic(weights, lambda p: save_file(state, str(p), metadata={"format": FORMAT_NAME}))
    full = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "code_version": __version__,
        "model_code_version": MODEL_CODE_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "class_names": list(CLASS_NAMES),
        **config,
        "model": {"name": model.name, "size": model.size, "arch": model.arch.to_dict()},
        "weights": {"file": WEIGHTS_FILE, "sha256": file_sha256(weights)},
    }
    text = json.dumps(full, indent=2, default=float)
    write_atomic(directory / CONFIG_FILE, lambda p: p.write_text(text))
    return directory


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The checked ``config.json`` of a checkpoint, without touching the weights (for listings, model cards)."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise CheckpointError(directory, "is not a checkpoint directory")
    if not path.is_file():
        raise CheckpointError(path, "missing: not a checkpoint directory")
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"unreadable JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise CheckpointError(path, f"not a {FORMAT_NAME} config")
    checks = (
        ("format_version", FORMAT_VERSION, "checkpoint format"),
        ("model_code_version", MODEL_CODE_VERSION, "model code"),
    )
    for key, ours, what in checks:
        if config.get(key) != ours:
            raise CheckpointError(
                path, f"{what} version {config.get(key)!r} is not this program's {ours} "
                f"(written by bhb_viewer {config.get('code_version', '?')}, this is {__version__}); retrain or use a matching version"
            )
    if config.get("class_names") != list(CLASS_NAMES):
        raise CheckpointError(path, f"class names {config.get('class_names')} are not {list(CLASS_NAMES)}")
    for key in ("model", "preprocess", "weights"):
        if not isinstance(config.get(key), dict):
            raise CheckpointError(path, f"the '{key}' entry is missing")
    return config


def load_preprocessor(config: dict[str, Any], directory: str | os.PathLike = "") -> Preprocessor:
    """The checkpoint's preprocessing, refusing one for another grid or band layout."""
    try:
        return Preprocessor.from_config(config["preprocess"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(Path(directory) / CONFIG_FILE, f"preprocessing: {exc}") from exc


def load_checkpoint(directory: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[BhbModel, dict[str, Any]]:
    """Rebuild the model of a checkpoint with its weights, in eval mode on ``device``, and its config."""
    directory = Path(directory)
    config = read_config(directory)
    config_path = directory / CONFIG_FILE
    load_preprocessor(config, directory)
    spec = config["model"]
    try:
        model = build_model(spec["name"], spec["size"], **spec.get("arch", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(config_path, f"cannot rebuild the model: {exc}") from exc
    weights = directory / config["weights"].get("file", WEIGHTS_FILE)
    if not weights.is_file():
        raise CheckpointError(weights, "missing: the checkpoint has no weights")
    if file_sha256(weights) != config["weights"].get("sha256"):
        raise CheckpointError(weights, f"does not match the sha256 recorded in {CONFIG_FILE}: edited or from another checkpoint")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(weights, f"unreadable safetensors file ({exc})") from exc
    _check_state(model, state, weights)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), config


def _check_state(model: BhbModel, state: dict[str, torch.Tensor], path: Path) -> None:
    """Name every missing, unexpected or misshapen tensor, so a mismatch reads as one clear message."""
    expected = model.state_dict()
    problems = [f"missing {k}" for k in expected.keys() - state.keys()]
    problems += [f"unexpected {k}" for k in state.keys() - expected.keys()]
    problems += [
        f"{k} is {tuple(state[k].shape)}, model wants {tuple(v.shape)}"
        for k, v in expected.items() if k in state and state[k].shape != v.shape
    ]
    if problems:
        shown = "; ".join(sorted(problems)[:5]) + (f"; … {len(problems) - 5} more" if len(problems) > 5 else "")
        raise CheckpointError(path, f"weights do not fit {model.name} ({model.size}): {shown}")


def model_version(config: dict[str, Any]) -> str:
    """A short identity for scores and logs: model name, size and the first 10 hex of the weights' sha256."""
    return f"{config['model']['name']}-{config['model']['size']}@{config['weights']['sha256'][:10]}"
