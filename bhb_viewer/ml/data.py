"""Seeded splits and torch loaders over a memory-mapped data set.

Rows are read and preprocessed a batch at a time (``__getitems__``), so the numpy cost of fancy
indexing and scaling is paid once per batch rather than once per star, and nothing but the batch
is ever in RAM. Batch order is a pure function of (seed, stage, epoch): a resumed run replays the
very same batches without having to restore a sampler's hidden state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from bhb_viewer.core.dataset import Dataset
from bhb_viewer.core.dataset import read_rows as read_stored
from bhb_viewer.ml.diagnostics import N_BALMER, dataset_balmer
from bhb_viewer.ml.photometry import dataset_magnitudes

MODALITIES = ("spectrum", "image")
PHOTOMETRY = "photometry"  # the catalogue colours: an input beside the modalities, for models with Arch.photometry
DIAGNOSTICS = "diagnostics"  # the spectrum's Balmer diagnostics, for models with Arch.diagnostics


def stratified_split(
    labels: Sequence[int] | np.ndarray, seed: int, fractions: Sequence[float] = (0.7, 0.2, 0.1)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train/validation/test row indices, stratified by class and fixed by ``seed``.

    Rows with an unknown label (-1) go to no split. Each index array is sorted.
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (3,) or np.any(fr < 0) or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for cls in np.unique(labels[labels >= 0]):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_train = int(round(fr[0] * len(idx)))
        n_val = int(round(fr[1] * len(idx)))
        for part, chunk in zip(parts, np.split(idx, [n_train, n_train + n_val]), strict=False):
            part.append(chunk)
    return tuple(np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts)  # type: ignore[return-value]


def read_rows(
    dataset: Dataset, rows: np.ndarray, preprocessor: Any, modalities: Sequence[str] = MODALITIES,
    mags: np.ndarray | None = None, balmer: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Preprocessed arrays for some rows: ``spectrum`` (n, 3522), ``image`` (n, 5, S, S), ``label`` (n,)
    and, when ``modalities`` include PHOTOMETRY, ``photometry`` (n, 12) from ``mags``, the data set's
    (N, 15) catalogue magnitudes (``ml.photometry.dataset_magnitudes``); with DIAGNOSTICS,
    ``diagnostics`` (n, 8) from ``balmer``, the (N, 4) Balmer diagnostics of the data set's rows."""
    rows = np.asarray(rows, dtype=np.int64)
    out: dict[str, np.ndarray] = {"label": dataset.labels[rows]}
    if "spectrum" in modalities:
        out["spectrum"] = preprocessor.spectra(read_stored(dataset.spectra, rows), read_stored(dataset.ivar, rows))
    if "image" in modalities:
        out["image"] = preprocessor.images(read_stored(dataset.cutouts, rows))
    if PHOTOMETRY in modalities:
        if mags is None:
            raise ValueError("reading the photometry input needs the data set's magnitudes")
        out[PHOTOMETRY] = preprocessor.colours(mags[rows])
    if DIAGNOSTICS in modalities:
        if balmer is None:
            raise ValueError("reading the diagnostics input needs the rows' Balmer diagnostics")
        out[DIAGNOSTICS] = preprocessor.balmer(balmer[rows])
    return out


class StarDataset(torch.utils.data.Dataset):
    """A split of a data set as float32 tensors, preprocessed with the model's own preprocessor.

    With PHOTOMETRY among ``modalities`` the catalogue's magnitudes are read once here (N × 15
    numbers, small beside one batch of cutouts), not per batch; with DIAGNOSTICS the split's Balmer
    lines are fitted once here, unless ``balmer`` (N, 4), the data set's rows' diagnostics, is given.
    """

    def __init__(
        self, dataset: Dataset, indices: np.ndarray, preprocessor: Any, modalities: Sequence[str] = MODALITIES,
        balmer: np.ndarray | None = None,
    ) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.preprocessor = preprocessor
        self.modalities = tuple(modalities)
        self.mags = dataset_magnitudes(dataset) if PHOTOMETRY in self.modalities else None
        self.balmer = balmer
        if DIAGNOSTICS in self.modalities and balmer is None:  # fitted here once (~5,000 spectra/s), not per batch
            self.balmer = np.full((len(dataset.labels), N_BALMER), np.nan)
            self.balmer[self.indices] = dataset_balmer(dataset, self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitems__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        arrays = read_rows(self.dataset, self.indices[np.asarray(positions, dtype=np.int64)], self.preprocessor,
                           self.modalities, self.mags, self.balmer)
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([position]).items()}


class MixedStars(torch.utils.data.Dataset):
    """Several StarDatasets read as one, in order: a fine-tune's own training split followed by
    stars of the model's training sky (``ml.training``'s base), so one shuffled loader mixes both
    into every epoch."""

    def __init__(self, parts: Sequence[StarDataset]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0, *(len(p) for p in self.parts)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitems__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        positions_arr = np.asarray(positions, dtype=np.int64)
        owner = np.searchsorted(self.starts, positions_arr, side="right") - 1
        reads = [
            self.parts[k].__getitems__((positions_arr[owner == k] - self.starts[k]).tolist()) for k in np.unique(owner)
        ]
        return {key: torch.cat([r[key] for r in reads]) for key in reads[0]}

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([position]).items()}


def _already_batched(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return batch


def epoch_batches(
    n: int, batch_size: int, shuffle: bool, seed: int | Sequence[int] = 0, drop_last: bool = False,
    rank: int = 0, world_size: int = 1,
) -> list[list[int]]:
    """Positions per batch for one epoch; the order depends only on ``seed`` (an int or a tuple of them).

    With ``world_size`` ranks this is a distributed sampler (what torch's DistributedSampler does,
    kept as a pure function of the seed so a resumed run replays it): each rank takes every
    ``world_size``-th position of the epoch's permutation, all ranks the same number, so their
    DistributedDataParallel steps pair up.
    """
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    if world_size > 1:
        order = order[: n - n % world_size][rank::world_size]
    m = len(order)
    stop = m - m % batch_size if drop_last and m > batch_size else m
    return [order[i : i + batch_size].tolist() for i in range(0, stop, batch_size)]


def make_loader(
    data: StarDataset | MixedStars,
    batch_size: int,
    shuffle: bool = False,
    seed: int | Sequence[int] = 0,
    skip_batches: int = 0,
    max_batches: int | None = None,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader yielding dicts of batched tensors.

    Shuffled (training) loaders drop a trailing partial batch (a batch of one breaks BatchNorm);
    ``skip_batches`` leaves out the batches a resumed run already saw, ``max_batches`` caps an epoch;
    ``rank``/``world_size`` give this rank its share (see :func:`epoch_batches`). Workers read the
    memory-mapped set and preprocess in their own processes; ``pin_memory`` (CUDA) lets the copy
    to the GPU run without blocking.
    """
    batches = epoch_batches(len(data), batch_size, shuffle, seed, drop_last=shuffle, rank=rank,
                            world_size=world_size)[skip_batches:max_batches]
    return DataLoader(
        data,
        batch_sampler=batches,
        # torch's stub types collate_fn as taking a list of samples; with __getitems__ it gets the batch
        collate_fn=_already_batched,  # type: ignore[arg-type]
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator(),  # else every new iterator draws its base seed from the global RNG,
    )  # which would make a resumed run's dropout differ from the uninterrupted run's
