"""Which torch device to run on: shared by training and scoring, so scoring needn't import the trainer."""

from __future__ import annotations

import os

import torch


def pick_device(name: str = "auto") -> torch.device:
    """auto: CUDA, then Apple MPS, then CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def leave_one_core() -> int:
    """Let torch's CPU kernels use all cores but one, so an interactive caller (the review window's
    GUI thread) never waits for a core while the model scores; returns the thread count set."""
    threads = max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(threads)
    return threads
