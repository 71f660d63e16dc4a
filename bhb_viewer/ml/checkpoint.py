"""Checkpoints as a directory of ``config.json`` + ``weights.safetensors``; nothing is ever unpickled.

``config.json`` says everything needed to rebuild the model and to preprocess its inputs
(format and code versions, model name, size, architecture, preprocessing constants with the grid
and band statistics, class names, data-set hash, metrics, creation time) plus the weights' sha256.
Loading checks all of it and refuses a mismatch with a ``CheckpointError`` naming the problem,
instead of letting a model silently score with the wrong shapes, grid or weights.

A checkpoint is untrusted input. Before anything big is built, the architecture's numbers are
checked for type and range, the model is laid out on the ``meta`` device (no memory) and every
tensor shape it wants is compared with the safetensors header, whose offsets must lie inside
the file; so a 1 MB checkpoint can never make the loader allocate gigabytes. The weights file
must sit in the checkpoint's own folder. Non-finite weights, preprocessing statistics or scores
are errors naming the checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bhb_viewer import __version__
from bhb_viewer.core import errors
from bhb_viewer.core.dataset import CLASS_NAMES
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import file_sha256, write_atomic
from bhb_viewer.ml.models import MODEL_CODE_VERSION, BhbModel, build_model
from bhb_viewer.ml.preprocess import Preprocessor

FORMAT_NAME = "bhb-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


# Architecture knobs: (type, lowest, highest). Ranges are generous (the paper model is well inside)
# but keep a forged config from asking for 10^7 layers or a 10^5-pixel cutout.
ARCH_LIMITS: dict[str, tuple[type, float, float]] = {
    "resnet_width": (int, 1, 1024), "d_model": (int, 1, 8192), "n_layers": (int, 1, 128), "n_heads": (int, 1, 256),
    "ffn_dim": (int, 1, 65536), "k_s": (int, 1, 3522), "d_k": (int, 1, 4096), "se_hidden": (int, 1, 4096),
    "cutout_size": (int, 8, 1024), "dropout": (float, 0.0, 0.99), "positional": (bool, 0, 1),
    "photometry": (bool, 0, 1), "segment_norm": (bool, 0, 1), "diagnostics": (bool, 0, 1),
}
ARCH_LIST_LIMITS: dict[str, tuple[int, int, int]] = {  # name: (most entries, lowest, highest value)
    "vgg_widths": (8, 1, 4096), "vgg_depths": (8, 1, 64), "resnet_blocks": (8, 1, 64),
}
_ST_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER_BYTES = 100 * 2**20


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
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "class_names": list(CLASS_NAMES),
        **config,
        "model": {"name": model.name, "size": model.size, "arch": model.arch.to_dict()},
        "weights": {"file": WEIGHTS_FILE, "sha256": file_sha256(weights)},
    }
    text = json.dumps(full, indent=2, default=float)
    write_atomic(directory / CONFIG_FILE, lambda p: p.write_text(text))
    return directory


def read_json(path: Path) -> Any:
    """A checkpoint's JSON file (a network's or a baseline's config), or a CheckpointError naming it."""
    return errors.read_json(path, CheckpointError)


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The checked ``config.json`` of a checkpoint, without touching the weights (for listings, model cards)."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise CheckpointError(directory, "is not a checkpoint directory")
    if not path.is_file():
        raise CheckpointError(path, "missing: not a checkpoint directory")
    config = read_json(path)
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise CheckpointError(path, f"not a {FORMAT_NAME} config")
    checks = (
        ("format_version", FORMAT_VERSION, "checkpoint format"),
        ("model_code_version", MODEL_CODE_VERSION, "model code"),
    )
    for key, ours, what in checks:
        if config.get(key) != ours:
            raise CheckpointError(
                path,
                f"{what} version {config.get(key)!r} is not this program's {ours} (written by bhb_viewer "
                f"{config.get('code_version', '?')}, this is {__version__}); retrain or use a matching version",
            )
    if config.get("class_names") != list(CLASS_NAMES):
        raise CheckpointError(path, f"class names {config.get('class_names')} are not {list(CLASS_NAMES)}")
    for key in ("model", "preprocess", "weights"):
        if not isinstance(config.get(key), dict):
            raise CheckpointError(path, f"the '{key}' entry is missing")
    check_arch(config["model"].get("arch", {}), path)
    return config


def check_arch(arch: Any, path: Path) -> None:
    """Types and ranges of the architecture numbers (see ARCH_LIMITS), before any model is built."""
    if not isinstance(arch, dict):
        raise CheckpointError(path, "model.arch must be a JSON object")
    for key, value in arch.items():
        where = f"model.arch.{key}"
        if key in ARCH_LIMITS:
            kind, low, high = ARCH_LIMITS[key]
            number = isinstance(value, int | float) and not isinstance(value, bool)
            ok_type = isinstance(value, bool) if kind is bool else number and (kind is float or isinstance(value, int))
            if not ok_type:
                raise CheckpointError(path, f"{where} must be {kind.__name__}, not {type(value).__name__} {value!r}")
            if kind is not bool and not (math.isfinite(value) and low <= value <= high):
                raise CheckpointError(path, f"{where} = {value!r} is outside {low:g}-{high:g}")
        elif key in ARCH_LIST_LIMITS:
            most, low, high = ARCH_LIST_LIMITS[key]
            if not (isinstance(value, list) and 1 <= len(value) <= most and all(
                    isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value)):
                raise CheckpointError(path, f"{where} must be a list of 1-{most} whole numbers in {low}-{high}, "
                                            f"not {value!r}")


def weights_path(directory: Path, config: dict[str, Any]) -> Path:
    """The weights file the config names, which must be a plain name inside the checkpoint folder."""
    name = config["weights"].get("file", WEIGHTS_FILE)
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise CheckpointError(directory / CONFIG_FILE,
                              f"weights.file {name!r} must name a file in the checkpoint folder")
    path = directory / name
    if path.is_symlink() and directory.resolve() not in path.resolve().parents:
        raise CheckpointError(path, "points outside the checkpoint folder")
    return path


def read_safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) from a safetensors header, reading the header only; every tensor's
    byte range must match its shape and lie inside the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(path, f"unreadable safetensors file: {size} bytes, no header")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(path, f"unreadable safetensors file: header of {n:,} bytes in a file of {size:,}")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(path, f"unreadable safetensors header ({exc})") from exc
    if not isinstance(header, dict):
        raise CheckpointError(path, "unreadable safetensors header: not a JSON object")
    data_bytes = size - 8 - n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(int(d) for d in entry["shape"]), entry["data_offsets"]
            width = _ST_DTYPES[dtype]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(path, f"safetensors entry {name!r} is malformed ({exc!r})") from exc
        if not (0 <= begin <= end <= data_bytes) or end - begin != width * math.prod(shape):
            raise CheckpointError(path, f"tensor {name} {list(shape)} {dtype} claims bytes {begin:,}-{end:,}, "
                                        f"but the file holds {data_bytes:,} bytes of data")
        out[name] = (dtype, shape)
    return out


def check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse weights holding NaN or infinity (they would score every star NaN), naming the tensors."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        names = ", ".join(sorted(bad)[:3])
        raise CheckpointError(path, f"non-finite weights (NaN or infinity) in {len(bad)} tensor(s): {names}")


def _non_finite_numbers(value: Any, where: str = "") -> list[str]:
    if isinstance(value, dict):
        return [w for k, v in value.items() for w in _non_finite_numbers(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, list):
        return [w for i, v in enumerate(value) for w in _non_finite_numbers(v, f"{where}[{i}]")]
    if isinstance(value, float) and not math.isfinite(value):
        return [where]
    return []


def check_scores(p_bhb: np.ndarray, checkpoint: str | os.PathLike, start: int = 0) -> None:
    """Refuse non-finite P(BHB) from a model (called by the Predictor on every batch), naming the checkpoint."""
    bad = ~np.isfinite(np.asarray(p_bhb, dtype=np.float64))
    if bad.any():
        row = start + int(np.flatnonzero(bad)[0])
        raise CheckpointError(checkpoint, f"the model gave {int(bad.sum())} non-finite P(BHB) in a batch "
                                          f"(first at row {row}): its weights or statistics are broken, "
                                          "or the input holds values it cannot take")


def load_preprocessor(config: dict[str, Any], directory: str | os.PathLike = "") -> Preprocessor:
    """The checkpoint's preprocessing, refusing one for another grid or band layout."""
    bad = _non_finite_numbers(config.get("preprocess"), "preprocess")
    if bad:
        raise CheckpointError(Path(directory) / CONFIG_FILE, f"non-finite preprocessing numbers: {', '.join(bad[:3])}")
    try:
        return Preprocessor.from_config(config["preprocess"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(Path(directory) / CONFIG_FILE, f"preprocessing: {exc}") from exc


def load_checkpoint(
    directory: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[BhbModel, dict[str, Any]]:
    """Rebuild the model of a checkpoint with its weights, in eval mode on ``device``, and its config."""
    directory = Path(directory)
    config = read_config(directory)
    config_path = directory / CONFIG_FILE
    preprocessor = load_preprocessor(config, directory)
    spec = config["model"]
    if bool(spec.get("arch", {}).get("photometry", False)) != (preprocessor.photometry is not None):
        raise CheckpointError(config_path, "model.arch.photometry and preprocess.photometry disagree: a model that "
                                           "reads colours needs their statistics, and only such a model has them")
    if bool(spec.get("arch", {}).get("diagnostics", False)) != (preprocessor.diagnostics is not None):
        raise CheckpointError(config_path, "model.arch.diagnostics and preprocess.diagnostics disagree: a model with "
                                           "the Balmer-diagnostics branch needs their statistics, and only it has them")
    weights = weights_path(directory, config)
    if not weights.is_file():
        raise CheckpointError(weights, "missing: the checkpoint has no weights")
    if file_sha256(weights) != config["weights"].get("sha256"):
        raise CheckpointError(
            weights, f"does not match the sha256 recorded in {CONFIG_FILE}: edited or from another checkpoint"
        )
    header = read_safetensors_header(weights)
    try:
        with torch.device("meta"):  # the layout only: nothing allocated until the shapes agree with the file
            layout = build_model(spec["name"], spec["size"], **spec.get("arch", {}))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(config_path, f"cannot rebuild the model: {exc}") from exc
    _check_shapes(layout, {k: shape for k, (_, shape) in header.items()}, weights)
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(weights, f"unreadable safetensors file ({exc})") from exc
    check_finite(state, weights)
    model = build_model(spec["name"], spec["size"], **spec.get("arch", {}))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), config


def _check_shapes(model: BhbModel, shapes: dict[str, tuple[int, ...]], path: Path) -> None:
    """Name every missing, unexpected or misshapen tensor, so a mismatch reads as one clear message."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = [f"missing {k}" for k in expected.keys() - shapes.keys()]
    problems += [f"unexpected {k}" for k in shapes.keys() - expected.keys()]
    problems += [f"{k} is {tuple(shapes[k])}, model wants {v}"
                 for k, v in expected.items() if k in shapes and tuple(shapes[k]) != v]
    if problems:
        shown = "; ".join(sorted(problems)[:5]) + (f"; … {len(problems) - 5} more" if len(problems) > 5 else "")
        raise CheckpointError(path, f"weights do not fit {model.name} ({model.size}): {shown}")


def model_version(config: dict[str, Any]) -> str:
    """A short identity for scores and logs: model name, size and the first 10 hex of the weights' sha256."""
    return f"{config['model']['name']}-{config['model']['size']}@{config['weights']['sha256'][:10]}"
