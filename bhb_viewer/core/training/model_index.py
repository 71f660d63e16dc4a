"""The checkpoints the app knows: shipped, trained in the user data folder, and recently used.

The Models menu, the training wizard and ``bhb models --json`` show the same list, so it is built
here from the checkpoints' own ``config.json`` (no torch needed): what each model is, the data set
it was trained on (its manifest hash), its test metrics, when it was made, and which one is active.
The choice of the active model and the recently used list live in ``models.json`` in the data
folder, written atomically; a folder that no longer holds a checkpoint is listed as missing, never
silently dropped from the recent list until it is replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import bhb_viewer
from bhb_viewer.core.files import write_atomic

log = logging.getLogger(__name__)

STATE_FILE = "models.json"
TRAINED_DIR = "models"  # under the data folder: where the wizard saves models
RECENT_MAX = 10
SHIPPED_DIR = Path(bhb_viewer.__file__).resolve().parents[1] / "models"  # beside the package, in a clone


def user_data_dir() -> Path:
    """The app's data folder (sessions, trained models, ``models.json``)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("bhb_viewer", appauthor=False))


def _read_config(path: Path) -> dict[str, Any] | None:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    known = isinstance(config, dict) and (config.get("format") == "bhb-checkpoint" or config.get("kind") == "baseline")
    return config if known else None


def version_of(config: dict[str, Any]) -> str:
    """The identity scores carry: ``name-size@`` + 10 hex of the weights' sha256 (of the config for a baseline)."""
    model = config.get("model")
    if isinstance(model, dict):  # a network checkpoint
        return f"{model['name']}-{model['size']}@{config['weights']['sha256'][:10]}"
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
    return f"{model}-{config.get('size', '')}@{digest}"


@dataclass
class ModelEntry:
    """One known checkpoint, as the Models menu and ``bhb models --json`` show it."""

    path: str
    label: str  # the folder's name
    origin: str  # shipped, trained or recent
    model: str = ""  # registry name (batmm, svm, ...)
    size: str = ""
    kind: str = "network"  # network or baseline
    version: str = ""
    created: str = ""
    dataset_hash: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # test macro precision/recall/f1, auc
    active: bool = False
    problem: str = ""  # why it cannot be used (missing folder, unreadable config)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(path: str | os.PathLike, origin: str) -> ModelEntry:
    """A ModelEntry from a checkpoint folder; an unreadable one carries the problem instead of failing."""
    path = Path(path)
    entry = ModelEntry(str(path.resolve()), path.name, origin)
    config = _read_config(path)
    if config is None:
        entry.problem = "no checkpoint here (config.json missing or not a bhb checkpoint)"
        return entry
    model = config.get("model")
    entry.kind = "network" if isinstance(model, dict) else "baseline"
    entry.model = model["name"] if isinstance(model, dict) else str(model)
    entry.size = model["size"] if isinstance(model, dict) else str(config.get("size", ""))
    entry.created = str(config.get("created") or _mtime(path / "config.json"))
    entry.dataset_hash = str(config.get("dataset_hash", ""))
    try:
        entry.version = version_of(config)
    except (KeyError, TypeError):
        entry.problem = "config.json has no weights record"
    test = (config.get("metrics") or {}).get("test") or {}
    macro = test.get("macro") or {}
    entry.metrics = {k: float(v) for k, v in {**macro, "auc": test.get("auc")}.items()
                     if k in ("precision", "recall", "f1", "auc") and isinstance(v, (int, float))}
    return entry


def _mtime(path: Path) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


class ModelIndex:
    """The known checkpoints and the active one, kept in ``data_dir/models.json``."""

    def __init__(
        self, data_dir: str | os.PathLike | None = None, shipped: str | os.PathLike | None = SHIPPED_DIR
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else user_data_dir()
        self.shipped = Path(shipped) if shipped is not None else None

    @property
    def trained_dir(self) -> Path:
        return self.data_dir / TRAINED_DIR

    def _state(self) -> dict[str, Any]:
        try:
            state = json.loads((self.data_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return {"active": None, "recent": []}
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s); starting a fresh model list", self.data_dir / STATE_FILE, exc)
            return {"active": None, "recent": []}
        recent = [p for p in state.get("recent", []) if isinstance(p, str)]
        active = state.get("active") if isinstance(state.get("active"), str) else None
        return {"active": active, "recent": recent}

    def _write_state(self, state: dict[str, Any]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(state, indent=1)
        write_atomic(self.data_dir / STATE_FILE, lambda tmp: tmp.write_text(text))

    def entries(self) -> list[ModelEntry]:
        """Shipped, then trained (newest first), then recently used elsewhere; the active one marked."""
        state = self._state()
        seen: set[str] = set()
        out: list[ModelEntry] = []
        groups = [("shipped", _subfolders(self.shipped)), ("trained", _subfolders(self.trained_dir)),
                  ("recent", [Path(p) for p in state["recent"]])]
        for origin, folders in groups:
            found = [describe(f, origin) for f in folders if str(f.resolve()) not in seen]
            if origin != "recent":
                found = [e for e in found if not e.problem]  # folders there that are not models are not models
            if origin == "trained":
                found.sort(key=lambda e: e.created, reverse=True)
            for e in found:
                seen.add(e.path)
                e.active = e.path == state["active"]
                if origin == "recent" and not Path(e.path).exists():
                    e.problem = "folder not found"
            out += found
        return out

    def active(self) -> ModelEntry | None:
        """The model chosen last (None when none was chosen, or it is gone)."""
        path = self._state()["active"]
        if path is None or not Path(path).is_dir():
            return None
        entry = describe(path, "active")
        return None if entry.problem else entry

    def set_active(self, path: str | os.PathLike) -> ModelEntry:
        """Make a checkpoint the active model (and recently used); ValueError when it is not one."""
        entry = describe(path, "recent")
        if entry.problem:
            raise ValueError(f"{path}: {entry.problem}")
        state = self._state()
        state["active"] = entry.path
        state["recent"] = [entry.path, *[p for p in state["recent"] if p != entry.path][:RECENT_MAX - 1]]
        self._write_state(state)
        entry.active = True
        return entry

    def remember(self, path: str | os.PathLike) -> None:
        """Add a checkpoint to the recent list without making it active."""
        resolved = str(Path(path).resolve())
        state = self._state()
        state["recent"] = [resolved, *[p for p in state["recent"] if p != resolved][:RECENT_MAX - 1]]
        self._write_state(state)

    def new_model_dir(self, name: str) -> Path:
        """A fresh folder under the trained-models folder for ``name`` (suffixed when taken)."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.strip()) or "model"
        candidate, k = self.trained_dir / safe, 1
        while candidate.exists():
            k += 1
            candidate = self.trained_dir / f"{safe}-{k}"
        return candidate


def _subfolders(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir())
