"""Fixtures of the window tests: a tiny data set (the tiny checkpoint is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinysky import make_dataset


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    return make_dataset(tmp_path / "tiny")
