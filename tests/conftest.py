import logging
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REAL_DATA = Path(__file__).resolve().parent / "data" / "real"
SHIPPED_CATALOGS = Path(__file__).resolve().parents[1] / "bhb_viewer" / "resources" / "catalogs"


@pytest.fixture(autouse=True)
def review_subscribers_never_fail(caplog):
    """A view's callback that raises is logged and skipped by the review's events (so the app goes
    on); in a test it is a failure."""
    yield
    failed = [r for r in caplog.records if r.name == "bhb_viewer.review.events" and r.levelno >= logging.ERROR]
    assert not failed, f"{failed[0].getMessage()}: {failed[0].exc_text}"


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory) -> Path:
    """The small real files the tests read, laid out as ``real/`` (tests/data/real) and ``catalogs/``
    (the shipped bhb_viewer/resources/catalogs): all in the repository, so a fresh clone runs every test."""
    folder = tmp_path_factory.mktemp("real-data")
    (folder / "real").symlink_to(REAL_DATA, target_is_directory=True)
    (folder / "catalogs").symlink_to(SHIPPED_CATALOGS, target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny BATMM checkpoint with a small validation file, for scoring and export tests."""
    import json

    import torch

    from bhb_viewer.ml.checkpoint import save_checkpoint
    from bhb_viewer.ml.models import build_model
    from bhb_viewer.ml.preprocess import Preprocessor

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    model = build_model("batmm", "tiny", n_layers=1)
    save_checkpoint(path, model, {"preprocess": Preprocessor(np.full(5, 0.3), np.full(5, 0.1)).to_config()})
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 100)
    p_val = np.clip(0.5 * labels + rng.uniform(0, 0.5, 100), 0, 1)
    (path / "validation.json").write_text(json.dumps({"label": labels.tolist(), "p_bhb": p_val.tolist()}))
    return path
