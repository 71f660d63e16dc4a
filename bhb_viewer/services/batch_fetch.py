"""Fetch SDSS spectra and cutouts for many candidates at once: the app's background job, with no Qt in it.

``BatchFetch(service, catalog, rows)`` is a generator job of the form the app's task runner
takes, ``job(cancel, progress) -> Iterator``: it yields one :class:`FetchedItem` per candidate as
soon as its spectrum and cube are in (a few candidates are fetched at once, results come back in
the order asked), then one :class:`BatchSummary`. Cancel stops between candidates; what was
downloaded stays in the service's cache, so running the job again over the same rows resumes:
cached candidates come back at once, without a request.

It never raises for what a network does: a candidate that fails carries its problems, and a
network that is absent or goes away ends the job early with the reason in the summary, which
names the app's own control (SDSS → Offline) rather than the CLI's ``--offline``. Only
``Cancelled`` leaves the generator, as the runner expects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Row, Table

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import CUTOUT_SIZE
from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent
from bhb_viewer.core.readers.spectra import GridSpectrum
from bhb_viewer.services.builder import _Ahead, row_spectrum
from bhb_viewer.services.sdss import NetworkUnavailable, SDSSError, SDSSService

log = logging.getLogger(__name__)

APP_OFFLINE_HINT = "or choose SDSS → Offline to work from the cache"
STAGE = "sdss-batch"


@dataclass
class FetchedItem:
    """One candidate's results: what arrived (None where not) and a line per part that did not."""

    row: int  # index into the catalog the job was given
    id: str
    spectrum: GridSpectrum | None = None
    cube: np.ndarray | None = None
    cutout_source: str | None = None  # 'hips' or 'frames'
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.spectrum is not None and self.cube is not None


@dataclass
class BatchSummary:
    """The job's last item: counts, per-candidate problems, and why it stopped early (None if it did not)."""

    total: int
    done: int = 0
    spectra: int = 0
    cubes: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, problems)
    stopped: str | None = None

    @property
    def message(self) -> str:
        """One line for the status bar."""
        text = f"SDSS: {self.spectra} spectra and {self.cubes} cutouts for {self.done} of {self.total} candidates"
        if self.failed:
            text += f"; {len(self.failed)} with problems"
        return f"{text}; stopped: {self.stopped}" if self.stopped else text


class BatchFetch:
    """Spectra and cubes of ``rows`` of ``catalog`` (all rows when None) through ``service``.

    ``skip`` holds rows the caller already has both parts for (they are not fetched or yielded);
    ``workers`` candidates are fetched at once. The service's offline hint is set to the app's
    menu item, since this job runs in the app.
    """

    def __init__(self, service: SDSSService, catalog: Table, rows: Iterable[int] | None = None, *,
                 size: int = CUTOUT_SIZE, skip: Iterable[int] = (), workers: int = 4) -> None:
        service.offline_hint = APP_OFFLINE_HINT
        self.service, self.catalog, self.size, self.workers = service, catalog, size, workers
        skipped = set(skip)
        self.rows = [int(r) for r in (range(len(catalog)) if rows is None else rows) if int(r) not in skipped]
        self.summary = BatchSummary(total=len(self.rows))

    def __call__(self, cancel: CancelToken, progress: ProgressCallback) -> Iterator[FetchedItem | BatchSummary]:
        summary = self.summary
        progress(ProgressEvent(STAGE, 0, summary.total, "SDSS: starting"))
        if not self.service.offline:
            try:
                self.service.ensure_online()
            except NetworkUnavailable as exc:
                summary.stopped = str(exc)
                yield summary
                return
        table = self.catalog[self.rows] if self.rows else self.catalog[:0]
        ahead = _Ahead(self._fetch, table, self.workers)
        try:
            for k, row in enumerate(table):
                cancel.check()
                item = ahead.get(row)
                summary.done += 1
                summary.spectra += item.spectrum is not None
                summary.cubes += item.cube is not None
                if item.problems:
                    summary.failed.append((item.id, "; ".join(item.problems)))
                progress(
                    ProgressEvent(
                        STAGE, k + 1, summary.total, f"SDSS: {item.id}",
                        {"spectra": summary.spectra, "cubes": summary.cubes, "failed": len(summary.failed)},
                    )
                )
                yield item
        except NetworkUnavailable as exc:
            summary.stopped = f"{exc}. Run the fetch again to resume: what arrived is cached"
        finally:  # also on Cancelled, which goes on to the runner
            ahead.close()
        yield summary

    def _fetch(self, row: Row) -> FetchedItem:
        """Both parts of one candidate; NetworkUnavailable (stop) passes, anything else becomes a problem line."""
        item = FetchedItem(row=self.rows[row.index], id=str(row["id"]))
        try:
            item.spectrum = row_spectrum(self.service, row)
        except NetworkUnavailable:
            raise
        except (SDSSError, BadInputError) as exc:
            item.problems.append(f"spectrum: {exc}")
        except Exception as exc:  # a file no reader expected: this candidate only, named, no traceback
            log.warning("spectrum of %s: unexpected %s: %s", item.id, type(exc).__name__, exc)
            item.problems.append(f"spectrum: unexpected {type(exc).__name__}: {exc}")
        position = _position(row, item.spectrum)
        if position is None:
            item.problems.append("cutouts: no RA/Dec (and no spectrum to take them from)")
            return item
        ra, dec = position
        try:
            cube = self.service.cube(ra, dec, self.size)
            item.cube, item.cutout_source = cube.data, cube.meta.get("cutout_source")
        except NetworkUnavailable:
            raise
        except (SDSSError, BadInputError) as exc:
            item.problems.append(f"cutouts: {exc}")
        except Exception as exc:
            log.warning("cutouts of %s: unexpected %s: %s", item.id, type(exc).__name__, exc)
            item.problems.append(f"cutouts: unexpected {type(exc).__name__}: {exc}")
        return item


def _position(row: Row, spectrum: GridSpectrum | None) -> tuple[float, float] | None:
    """The row's RA/Dec, else its spectrum's fibre position (catalogs of plate/mjd/fiber only), else None."""
    ra, dec = float(row["ra"]), float(row["dec"])
    if np.isfinite(ra) and np.isfinite(dec):
        return ra, dec
    if spectrum is not None and spectrum.meta.get("ra") is not None and spectrum.meta.get("dec") is not None:
        return float(spectrum.meta["ra"]), float(spectrum.meta["dec"])
    return None
