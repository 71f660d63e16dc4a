"""torch.distributed as ``bhb score`` and ``bhb train`` use it under ``torchrun``.

torchrun (one node or many, through its rendezvous) starts one process per rank and tells each its
place in the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR...). Without those variables
everything here is a no-op for a single process, so the same code runs under plain ``bhb`` and
under ``torchrun -m bhb_viewer``. The backend is NCCL when ranks run on CUDA devices, gloo
otherwise (CPU clusters, and the tests).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from bhb_viewer.ml.device import pick_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the ranks of one run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes outputs, checkpoints and progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def ranks_from_env() -> Ranks:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them; one rank when they are absent."""
    return Ranks(
        int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
    )


def rank_device(name: str, ranks: Ranks) -> torch.device:
    """The device for this rank: with several ranks on a CUDA node, ``auto``/``cuda`` means this
    rank's own GPU (``cuda:LOCAL_RANK``), so ranks never share one by accident."""
    device = pick_device(name)
    if device.type == "cuda" and device.index is None and ranks.distributed:
        device = torch.device("cuda", ranks.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def start(device: torch.device) -> Ranks:
    """Join the process group when torchrun started several ranks; return this process's ranks."""
    ranks = ranks_from_env()
    if ranks.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        log.info("rank %d of %d joined (%s)", ranks.rank, ranks.world_size, dist.get_backend())
    return ranks


def stop() -> None:
    """Leave the process group (after the last collective)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_sum(values: np.ndarray) -> np.ndarray:
    """Element-wise sum over ranks of a small integer or float array (counts, flags)."""
    if not dist.is_initialized():
        return np.asarray(values)
    t = torch.as_tensor(np.asarray(values, dtype=np.float64)).to(_collective_device())
    dist.all_reduce(t)
    return t.cpu().numpy().astype(np.asarray(values).dtype)


def broadcast(values: np.ndarray, src: int = 0) -> np.ndarray:
    """Rank ``src``'s float array on every rank (same shape on all), so ranks take one decision."""
    if not dist.is_initialized():
        return np.asarray(values)
    t = torch.as_tensor(np.ascontiguousarray(values, dtype=np.float64)).to(_collective_device())
    dist.broadcast(t, src)
    return t.cpu().numpy()


def _collective_device() -> torch.device:
    """NCCL moves only CUDA tensors; gloo takes CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def block(n: int, ranks: Ranks) -> range:
    """This rank's contiguous share of ``n`` items (sizes differ by at most one)."""
    return range(ranks.rank * n // ranks.world_size, (ranks.rank + 1) * n // ranks.world_size)
