"""The paper's training set from SDSS: labelled catalogs in, spectra and cutouts fetched, a data set out.

``bhb dataset build --positives xue2011 --negatives bss`` runs :func:`build_from_sdss`:
positives are the Xue et al. (2011) BHBs, negatives the blue-straggler list's SDSS rows (those
with plate/mjd/fiber or a decodable specobjid) minus any within 2″ of a known BHB: a positive, or
a star of the other known-BHB catalogs (Barbosa et al. 2022 by default). The list is noisy: of its
3,183 SDSS rows 51 lie within 2″ of a Xue BHB and 191 within 2″ of a Barbosa BHB (160 of those
not near a Xue one), so 211 are dropped and 2,972 kept; each dropped id is listed in the manifest. Every star's spectrum
and 5-band cube come through :class:`SDSSService` (cache, offline mode, retry; HiPS or frame cutouts, recorded in the
manifest); a star that fails is skipped with its reason in the manifest's rejection log, while a machine without
network, or a network lost mid-build, stops the build (nothing written; a rerun resumes from the cache).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Row, Table, vstack

from bhb_viewer.core.dataset import LABEL_BHB, LABEL_NON_BHB
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import CUTOUT_SIZE
from bhb_viewer.core.ingest.build import BuildReport, assemble, pick_spectrum, place_from_spectrum, row_pmf
from bhb_viewer.core.progress import CancelToken, ProgressCallback, no_progress
from bhb_viewer.core.readers.candidates import CROSSMATCH_ARCSEC, find_near, has_pmf, read_candidates
from bhb_viewer.core.readers.quality import add_quality_columns, set_quality
from bhb_viewer.core.readers.spectra import GridSpectrum, read_spectra
from bhb_viewer.core.resources import ROOT as RESOURCES
from bhb_viewer.services.sdss import NetworkUnavailable, SDSSError, SDSSService, decode_specobjid
from bhb_viewer.services.vizier import fetch_catalog

CATALOG_ALIASES = {
    "xue2011": "xue2011_bhb.dat",  # Xue et al. 2011, 4,985 SDSS DR8 BHBs (CDS table + ReadMe)
    "bss": "bss_candidates.csv",  # blue stragglers, 3,183 SDSS + 551 LAMOST rows
    "barbosa2022": "barbosa2022_bhb.csv",  # Barbosa et al. 2022 SEGUE BHBs, positions only
}
CATALOG_DIR_ENV = "BHB_VIEWER_CATALOGS"
SHIPPED_CATALOGS = RESOURCES / "catalogs"
KEEP_COLUMNS = ("g", "u_g", "g_r")
DEFAULT_KNOWN_BHB = ("barbosa2022",)  # besides the positives: negatives near these are dropped

log = logging.getLogger(__name__)


def catalog_dirs() -> list[Path]:
    """Where catalog aliases are looked up: $BHB_VIEWER_CATALOGS, ./catalogs, then the catalogues the
    app ships (bhb_viewer/resources/catalogs: Xue 2011, the blue stragglers, Barbosa 2022, with their README)."""
    dirs = [Path(os.environ[CATALOG_DIR_ENV])] if os.environ.get(CATALOG_DIR_ENV) else []
    return [*dirs, Path.cwd() / "catalogs", SHIPPED_CATALOGS]


def resolve_catalog(name: str | os.PathLike, folder: str | os.PathLike | None = None, offline: bool = False) -> Path:
    """An alias (xue2011, bss, barbosa2022) to its file, or a path as given.

    ``folder`` names the one folder to look in. Otherwise the alias is looked up in :func:`catalog_dirs`
    and, where no copy is there (an installation without the shipped catalogues), in the user's cache
    of VizieR catalogues, fetched into it first when the network is allowed (:mod:`bhb_viewer.services.vizier`).
    """
    if str(name) not in CATALOG_ALIASES:
        return Path(name)
    dirs = [Path(folder)] if folder else catalog_dirs()
    for d in dirs:
        if (d / CATALOG_ALIASES[str(name)]).is_file():
            return d / CATALOG_ALIASES[str(name)]
    searched = ", ".join(str(d) for d in dirs)
    if folder:
        raise BadInputError(
            CATALOG_ALIASES[str(name)],
            f"catalog {name!r} not found in {searched}; give its path or set ${CATALOG_DIR_ENV}",
        )
    try:
        return fetch_catalog(str(name), offline=offline)
    except BadInputError as exc:
        raise BadInputError(
            CATALOG_ALIASES[str(name)], f"catalog {name!r}: {exc.problem} (looked in {searched})"
        ) from exc


def has_sdss_spectrum_id(table: Table) -> np.ndarray:
    """Rows that name an SDSS spectrum: plate/mjd/fiber, or a specobjid that decodes to them."""
    ok = has_pmf(table)
    if "specobjid" in table.colnames:
        for i in np.flatnonzero(~ok & ~np.ma.getmaskarray(table["specobjid"])):
            try:
                decode_specobjid(table["specobjid"][i])
                ok[i] = True
            except ValueError:
                pass
    return ok


def paper_stars(positives: Table, negatives: Table, radius_arcsec: float = CROSSMATCH_ARCSEC,
                limit: int | None = None, known_bhb: dict[str, Table] | None = None) -> tuple[Table, dict[str, Any]]:
    """One labelled table: all positives, then the negatives with an SDSS spectrum and no known BHB within the radius.

    Known BHBs are the positives plus every table of ``known_bhb`` (name → catalog): a negative
    that close to any of them is most likely the BHB itself, so it is dropped and its id listed.
    ``limit`` keeps the first N of each class (a quick trial build). Returns the table and the
    selection figures recorded in the manifest.
    """
    sdss = has_sdss_spectrum_id(negatives)
    near_positive = find_near(negatives, positives, radius_arcsec)
    near_known = {name: find_near(negatives, table, radius_arcsec) for name, table in (known_bhb or {}).items()}
    near = near_positive.copy()
    for mask in near_known.values():
        near |= mask
    kept_neg = negatives[sdss & ~near]
    pos = positives if limit is None else positives[:limit]
    kept_neg = kept_neg if limit is None else kept_neg[:limit]
    stats = {
        "n_positives": len(positives),
        "n_negatives_input": len(negatives),
        "n_negatives_not_sdss": int(np.sum(~sdss)),
        "n_negatives_near_positive": int(np.sum(sdss & near_positive)),
        "negatives_near_positive": [str(i) for i in negatives["id"][sdss & near_positive]],
        "known_bhb_catalogs": sorted(near_known),
        "n_negatives_near_known_bhb": {name: int(np.sum(sdss & m)) for name, m in near_known.items()},
        "n_negatives_near_any_bhb": int(np.sum(sdss & near)),
        "negatives_near_known_bhb": [str(i) for i in negatives["id"][sdss & near & ~near_positive]],
        "crossmatch_radius_arcsec": radius_arcsec,
        "n_negatives_kept": len(kept_neg),
        "limit_per_class": limit,
    }
    table = _stack([(pos, LABEL_BHB), (kept_neg, LABEL_NON_BHB)])
    return table, stats


def known_bhb_catalogs(names: Sequence[str | os.PathLike] | None, folder: str | os.PathLike | None = None,
                       offline: bool = False) -> dict[str, Table]:
    """The known-BHB catalogs by name; ``None`` means the defaults, skipped with a warning where absent."""
    tables = {}
    for name in DEFAULT_KNOWN_BHB if names is None else names:
        try:
            path = resolve_catalog(name, folder, offline)
            tables[str(name)] = read_candidates(path)
        except BadInputError as exc:
            if names is not None:
                raise
            log.warning(
                "known-BHB catalog %s not found (%s): negatives are checked against the positives only", name, exc
            )
    return tables


def _stack(parts: list[tuple[Table, int]]) -> Table:
    """Canonical columns only, so catalogs with different extras stack; masked where a catalog lacks one."""
    names = ("id", "ra", "dec", "plate", "mjd", "fiber", "specobjid", *KEEP_COLUMNS)
    tables = []
    for table, label in parts:
        sub = table[[c for c in names if c in table.colnames]]
        sub["label"] = np.full(len(sub), label, np.int64)
        tables.append(sub)
    return vstack(tables, join_type="outer", metadata_conflicts="silent")


def build_from_sdss(
    out: str | os.PathLike,
    positives: str | os.PathLike = "xue2011",
    negatives: str | os.PathLike = "bss",
    *,
    service: SDSSService | None = None,
    catalog_dir: str | os.PathLike | None = None,
    radius_arcsec: float = CROSSMATCH_ARCSEC,
    limit: int | None = None,
    known_bhb: Sequence[str | os.PathLike] | None = None,
    size: int = CUTOUT_SIZE,
    workers: int = 4,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> BuildReport:
    """Fetch every selected star's spectrum and cube through ``service`` and write the data set.

    ``known_bhb`` names catalogs (aliases or paths) whose stars are BHBs besides the positives
    (default: barbosa2022 where it can be found). ``workers`` stars are fetched at once, ahead of
    the loop that writes them in catalog order. A network lost mid-build raises
    ``NetworkUnavailable`` and writes nothing; what was downloaded stays in the cache.
    """
    service = service or SDSSService()
    if not service.offline:
        service.ensure_online()  # no network: one clear error before any work, not one per star
    pos_path = resolve_catalog(positives, catalog_dir, service.offline)
    neg_path = resolve_catalog(negatives, catalog_dir, service.offline)
    known = known_bhb_catalogs(known_bhb, catalog_dir, service.offline)
    stars, stats = paper_stars(read_candidates(pos_path), read_candidates(neg_path), radius_arcsec, limit, known)

    def fetch(row: Row) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        try:
            spectrum = row_spectrum(service, row)
            place_from_spectrum(row, spectrum)
            set_quality(row, spectrum.meta)
            cube = service.cube(float(row["ra"]), float(row["dec"]), size)
            row["cutout_source"] = cube.meta.get("cutout_source", service.cutouts)
        except (NetworkUnavailable, BadInputError):
            raise
        except SDSSError as exc:
            raise BadInputError(str(row["id"]), str(exc)) from exc
        except Exception as exc:  # one odd file must not end an hours-long download; the log names it
            raise BadInputError(str(row["id"]), f"unexpected {type(exc).__name__}: {exc}") from exc
        return spectrum.flux, spectrum.ivar, cube.data

    stars["cutout_source"] = np.full(len(stars), "", dtype="U6")  # hips or frames, per star (filled by fetch)
    add_quality_columns(stars)
    provenance = {
        "builder": "sdss",
        "positives": str(pos_path),
        "negatives": str(neg_path),
        "data_release": service.data_release,
        "offline": service.offline,
        "cutouts": service.cutouts,
        **stats,
    }
    ahead = _Ahead(fetch, stars, workers)
    try:
        return assemble(
            out, stars, ahead.get, provenance=provenance, size=size, progress=progress, cancel=cancel, stage="sdss"
        )
    except NetworkUnavailable as exc:
        done = int(np.sum(stars["cutout_source"] != ""))
        raise NetworkUnavailable(
            f"{exc}. Stopped with {done} of {len(stars)} stars fetched; nothing "
            "written: run the same command again to resume from the cache"
        ) from exc
    finally:
        ahead.close()


class _Ahead:
    """Runs ``fetch`` on the next ``workers`` rows in threads while the assembly loop takes them in order.

    Downloads are latency-bound (a few requests per star), so a few in flight divide the wall time
    by about as many; results and errors come back to the loop in catalog order.
    """

    def __init__(self, fetch: Callable[[Row], Any], rows: Table, workers: int) -> None:
        self.fetch, self.rows, self.workers = fetch, rows, max(1, workers)
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sdss-fetch")
        self.futures: dict[int, Future] = {}
        self.submitted = 0

    def get(self, row: Row) -> Any:
        i = row.index
        while self.submitted < min(len(self.rows), i + self.workers):
            self.futures[self.submitted] = self.pool.submit(self.fetch, self.rows[self.submitted])
            self.submitted += 1
        return self.futures.pop(i).result()

    def close(self) -> None:
        """Drop what was not started (a cancel or an error) and wait for the requests in flight."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def row_spectrum(service: SDSSService, row: Row) -> GridSpectrum:
    """The row's spectrum by plate/mjd/fiber, else specobjid, else position (also the GUI's fetch)."""
    pmf = row_pmf(row)
    if pmf is not None:
        path = service.spectrum_file(*pmf)
    elif "specobjid" in row.colnames and not np.ma.is_masked(row["specobjid"]):
        path = service.spectrum_file_by_specobjid(int(row["specobjid"]))
    else:
        path = service.spectrum_file_at(float(row["ra"]), float(row["dec"]))
    return pick_spectrum(read_spectra(path), path, pmf)
