"""Parallel and sharded ingest from files on disk: ``bhb dataset build --workers N`` and ``--shard K/N``.

Both build **parts** of a sharded data set (core.dataset): part K of N is the K-th contiguous block
of the catalog's rows, built by ``build_from_files`` into ``OUT/part-000K-of-000N``, and every part
comes with the same top manifest listing all N. ``--workers N`` builds the N parts at once in a
process pool on one machine; ``--shard K/N`` builds one part, so the N jobs of a cluster array can
share the work (each writes only its own folder; the identical top manifest is written atomically
by all). Readers open the top folder and see one data set once every part is there.

Plate files are preferred where they exist: when the spectra folder holds spPlate files the rows
are ordered by plate and MJD before they are cut into blocks, so each spPlate (hundreds of spectra)
is read by one worker once, instead of once per spec file per star. The data set's rows then
follow that order; its catalog keeps every star's id.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from bhb_viewer.core.dataset import LABEL_BHB, LABEL_NON_BHB, open_dataset, part_name, write_sharded_manifest
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.ingest.build import BuildReport, SpectrumFiles, build_from_files
from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.readers.candidates import read_candidates

log = logging.getLogger(__name__)


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (1 ≤ K ≤ N, as a job array counts) -> (K, N)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise BadInputError(None, f"--shard must be K/N with 1 ≤ K ≤ N (e.g. 3/8), got {text!r}")
    return int(m[1]), int(m[2])


def ingest_order(table: Table, spectra: str | os.PathLike | None) -> np.ndarray:
    """Row order for the blocks: by plate then MJD where the spectra folder holds spPlate files (so
    a plate's stars fall into one block), else the catalog's own order."""
    n = len(table)
    if spectra is None or not {"plate", "mjd"} <= set(table.colnames) or not SpectrumFiles(spectra).plates:
        return np.arange(n)
    plate = np.ma.filled(np.ma.asarray(table["plate"]).astype(float), np.inf)
    mjd = np.ma.filled(np.ma.asarray(table["mjd"]).astype(float), np.inf)
    return np.lexsort((np.arange(n), mjd, plate))


def shard_rows(order: np.ndarray, k: int, n_parts: int) -> np.ndarray:
    """Rows of part ``k`` (1-based) of ``n_parts``: its contiguous block of ``order``."""
    n = len(order)
    return order[(k - 1) * n // n_parts : k * n // n_parts]


def build_shard(out: str | os.PathLike, catalog: str | os.PathLike, k: int, n_parts: int, *,
                spectra=None, images=None, label: int | None = None, size: int | None = None,
                progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> BuildReport:
    """Build part ``k`` of ``n_parts`` of ``catalog`` into ``out`` (one job of an array)."""
    out = Path(out)
    table = read_candidates(catalog)
    write_sharded_manifest(out, n_parts, _provenance(catalog, spectra, images, n_parts))
    rows = shard_rows(ingest_order(table, spectra), k, n_parts)
    kwargs: dict[str, Any] = {} if size is None else {"size": size}
    return build_from_files(out / part_name(k - 1, n_parts), catalog, spectra=spectra, images=images, label=label,
                            progress=progress, cancel=cancel, rows=rows, **kwargs)


def build_parallel(out: str | os.PathLike, catalog: str | os.PathLike, workers: int, *,
                   spectra=None, images=None, label: int | None = None, size: int | None = None,
                   progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> BuildReport:
    """Build ``catalog`` as ``workers`` parts at once, one process each; returns the combined report.

    Progress from the workers is summed into one ``build`` stage. A cancel stops every worker and
    removes the unfinished parts (and the top manifest when no part was finished).
    """
    out = Path(out)
    n = len(read_candidates(catalog))
    write_sharded_manifest(out, workers, _provenance(catalog, spectra, images, workers))
    # fork starts a worker in milliseconds (spawn re-imports astropy: seconds per worker); where it is
    # missing (Windows) or unsafe (macOS) the platform's default is used
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    events = ctx.Queue()
    done = [0] * workers
    args = dict(spectra=spectra, images=images, label=label, size=size)
    with ctx.Pool(workers, initializer=_init_worker, initargs=(events,)) as pool:
        pending = [
            pool.apply_async(_build_part, (str(out), str(catalog), k, workers, args)) for k in range(1, workers + 1)
        ]
        try:
            while not all(p.ready() for p in pending):
                if cancel is not None and cancel.cancelled:
                    pool.terminate()
                    _drop_unfinished(out, workers)
                    cancel.check()
                try:
                    k, count = events.get(timeout=0.2)
                    done[k - 1] = count
                    progress(ProgressEvent("build", sum(done), n, f"{workers} workers"))
                except queue.Empty:
                    pass
            reports = [p.get() for p in pending]
            failed = [r["error"] for r in reports if "error" in r]
            if failed:
                raise BadInputError(out, f"{len(failed)} of {workers} parts failed: {'; '.join(failed[:3])}")
        except BaseException:
            pool.terminate()
            _drop_unfinished(out, workers)
            raise
    progress(ProgressEvent("build", n, n, f"{workers} workers"))
    rejected = [r for report in reports for r in report["rejected"]]
    data = open_dataset(out)
    return BuildReport(out, len(data), int(np.sum(data.labels == LABEL_BHB)), int(np.sum(data.labels == LABEL_NON_BHB)),
                       rejected)


_events: Any = None


def _init_worker(events) -> None:
    global _events
    _events = events


def _build_part(out: str, catalog: str, k: int, n_parts: int, args: dict) -> dict:
    """One worker: build part k and send its progress (rows done) to the parent."""
    last = [0]

    def report(event: ProgressEvent) -> None:
        if (event.stage == "build" and event.done - last[0] >= 16) or event.done == event.total:
            last[0] = event.done
            _events.put((k, event.done))

    try:
        result = build_shard(out, catalog, k, n_parts, progress=report, **args)
    except BadInputError as exc:  # sent back as text: the exception's own pickle would not rebuild it
        return {"error": str(exc)}
    return {"rejected": result.rejected}


def _drop_unfinished(out: Path, n_parts: int) -> None:
    """After a cancel or a failure: remove parts that hold no finished data set."""
    finished = 0
    for k in range(n_parts):
        part = out / part_name(k, n_parts)
        if (part / "manifest.json").is_file():
            finished += 1
        elif part.exists():
            shutil.rmtree(part, ignore_errors=True)
    if not finished:
        (out / "manifest.json").unlink(missing_ok=True)
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def _provenance(catalog, spectra, images, n_parts: int) -> dict[str, Any]:
    return {"builder": "files", "catalog": str(catalog), "spectra": None if spectra is None else str(spectra),
            "images": None if images is None else str(images), "parts": n_parts}
