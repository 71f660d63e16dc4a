"""``bhb dataset``: build a data set from SDSS or from files on disk, and describe one.

From SDSS (the paper's set; needs a network, or ``--offline`` with a filled cache)::

    bhb dataset build --positives xue2011 --negatives bss --out DIR [--offline] [--cache DIR]

From files on disk::

    bhb dataset build --catalog CAT [--spectra DIR] [--images DIR] [--label bhb] --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys

BUILD_HELP = """\
Two sources:

  SDSS (default): --positives and --negatives name labelled catalogs: a path, or one of the
  aliases xue2011 (Xue et al. 2011 BHBs), bss (blue stragglers; SDSS rows only) and barbosa2022
  (Barbosa et al. 2022 BHBs), looked up in --catalogs DIR, $BHB_VIEWER_CATALOGS or the project's
  shared data folder. Negatives within --radius arcsec of a known BHB (a positive, or a star of
  --known-bhb, default barbosa2022) are dropped. Spectra and ugriz cutouts (SDSS HiPS via
  hips2fits, or whole frames with --cutouts frames) come through an on-disk cache (--cache DIR,
  $BHB_VIEWER_CACHE, or the user cache folder); --offline uses the cache only. An interrupted
  build (Ctrl-C, lost network) resumes by running the same command again: what was downloaded
  is read from the cache.

  Files: --catalog CAT (CSV, ECSV, FITS, VOTable; id, ra, dec, optional label, optional
  columns naming files relative to the catalog: spectrum_file, and a cube file (cutout) or
  u_file ... z_file). Spectra (SDSS, LAMOST, 1-D FITS; .gz/.bz2 too): the file a row names, else
  spec-PLATE-MJD-FIBER.fits / spSpec-MJD-PLATE-FIBER.fit / spPlate-PLATE-MJD.fits under --spectra
  matched by the row's plate/mjd/fiber. Cutouts: the files a row names, else a 5-band cube cut
  at the row's RA/Dec from per-band frames or stamps with WCS (or a centred cube file) under
  --images; a star nothing names or covers is kept spectrum-only (has_cutout false).

Stars that fail (no spectrum, short coverage, missing band...) are skipped and listed with their
reasons; the list is kept in the data set's manifest.json (provenance.rejected).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bhb_viewer.core.grid import CUTOUT_SIZE

    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    build = sub.add_parser("build", help="build a data set from SDSS or from files on disk", description=BUILD_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument(
        "--out", metavar="DIR",
        help="data set directory to write; default ./POSITIVES-NEGATIVES (SDSS) or ./CATALOG-dataset (files)",
    )
    build.add_argument("--force", action="store_true", help="replace a data set already in --out")
    build.add_argument("--size", type=_cutout_size, default=CUTOUT_SIZE,
                       help=f"cutout side in pixels ({MIN_SIZE}-{MAX_SIZE}); default {CUTOUT_SIZE}")
    build.add_argument("--json", action="store_true", help="print the build report as one JSON object")
    build.add_argument("--progress-json", action="store_true", help="JSON lines on stdout instead of a progress bar")
    sdss = build.add_argument_group("from SDSS")
    sdss.add_argument("--positives", metavar="CAT", help="BHB catalog: path or alias; default xue2011")
    sdss.add_argument("--negatives", metavar="CAT", help="non-BHB catalog: path or alias; default bss")
    sdss.add_argument("--catalogs", metavar="DIR", help="folder holding the aliased catalogs")
    sdss.add_argument(
        "--radius", type=float,
        help="drop negatives this close (arcsec) to a positive; default: the builder's cross-match radius, 2",
    )
    sdss.add_argument("--limit", type=int, help="keep only the first N stars of each class (a trial build)")
    sdss.add_argument("--offline", action="store_true", help="use only the cache; never touch the network")
    sdss.add_argument("--cache", metavar="DIR", help="cache folder (default $BHB_VIEWER_CACHE or the user cache)")
    sdss.add_argument("--timeout", type=float, default=60.0, help="seconds per SDSS request; default 60")
    sdss.add_argument("--retries", type=int, default=3, help="retries after a transient failure; default 3")
    sdss.add_argument(
        "--cutouts",
        choices=("hips", "frames"),
        default="hips",
        help="hips: 5-band cutouts from the SDSS HiPS via hips2fits (~100 kB a star; default); frames: "
        "cut from whole SDSS frames (~15 MB a star), also the fallback where the HiPS has no data",
    )
    sdss.add_argument("--known-bhb", metavar="CAT", action="append",
                      help="a catalog of known BHBs (alias or path; repeatable): negatives within --radius of one are "
                           "dropped; default barbosa2022 where found, besides the positives")
    build.add_argument("--workers", type=int,
                       help="SDSS: stars downloaded at once (default 4); files: processes reading files at once, "
                            "each building one part of a sharded data set (default 1)")
    files = build.add_argument_group("from files on disk")
    files.add_argument("--catalog", metavar="CAT", help="catalog of the stars to build (switches to this source)")
    files.add_argument("--spectra", metavar="DIR", help="folder of spec/spSpec/spPlate files")
    files.add_argument("--images", metavar="DIR", help="folder of per-band frames/stamps with WCS or cube files")
    files.add_argument("--label", choices=("bhb", "non-bhb"), help="label every row (catalog without a label column)")
    files.add_argument(
        "--partial",
        action="store_true",
        help="keep spectra that cover only part of 4000–9000 Å (e.g. "
        "a stellar library's), the rest masked; one process only",
    )
    files.add_argument("--shard", metavar="K/N",
                       help="build only part K (1..N) of the catalog into OUT/part-K-of-N, e.g. one job of a cluster "
                            "array; OUT opens as one data set once all N parts are built")
    convert = sub.add_parser("convert", help="rewrite a data set (flat or sharded) as one flat set in another dtype")
    convert.add_argument("path", metavar="DIR")
    convert.add_argument("--out", required=True, metavar="DIR")
    convert.add_argument("--dtype", required=True, choices=("float32", "float16", "scaled16"),
                         help="scaled16: half the size, scores within 1e-3 of float32; float16: plain IEEE halves")
    from_session = sub.add_parser(
        "from-session", help="a data set from the verdicts of a review session",
        description="Verdicts become labels: BHB → 1; blue straggler, main-sequence A, non-BHB → 0; other, unsure "
                    "and bad data are left out (counted). Spectra and cutouts come from the session's data set, the "
                    "base set, files the catalog names, or the SDSS cache (offline); candidates without data are "
                    "listed and skipped. A set with one class, or fewer than 10 stars of a class, is refused.")
    from_session.add_argument("session", metavar="SESSION", help="the session file (.session.sqlite)")
    from_session.add_argument("--out", metavar="DIR", required=True, help="data set directory to write (new or empty)")
    from_session.add_argument("--base", metavar="DATASET", help="merge with this data set (the person's verdict wins)")
    from_session.add_argument("--cache", metavar="DIR", help="SDSS cache to read (offline) for candidates without data")
    from_session.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    info = sub.add_parser("info", help="describe a data set directory")
    info.add_argument("path", metavar="DIR")
    info.add_argument("--json", action="store_true", help="print one JSON object")


MIN_SIZE, MAX_SIZE = 8, 1024  # a cube smaller than the PSF says nothing; larger ones cost gigabytes per thousand stars


def _cutout_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"{value} pixels is outside {MIN_SIZE}-{MAX_SIZE}")
    return value


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        return _build(args)
    if args.action == "info":
        return _info(args)
    if args.action == "from-session":
        return _from_session(args)
    if args.action == "convert":
        return _convert(args)
    print("usage: bhb dataset {build,convert,from-session,info} ... (see bhb dataset build --help)", file=sys.stderr)
    return 2


def _build(args: argparse.Namespace) -> int:
    from bhb_viewer.core.dataset import is_dataset
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.progress import Cancelled, CancelToken, JsonLinesProgress, TerminalProgress, cancel_on_signals
    from bhb_viewer.services.sdss import SDSSError

    if args.catalog and (args.positives or args.negatives):
        raise BadInputError(None, "give either --catalog (files on disk) or --positives/--negatives (SDSS), not both")
    args.positives, args.negatives = (
        (None, None) if args.catalog else (args.positives or "xue2011", args.negatives or "bss")
    )
    args.out = args.out or _default_out(args)
    if args.shard and not args.catalog:
        raise BadInputError(None, "--shard splits a catalog of files on disk: give --catalog")
    if args.workers is not None and args.workers < 1:
        raise BadInputError(None, f"--workers must be ≥ 1, got {args.workers}")
    if is_dataset(_target(args)) and not args.force:
        raise BadInputError(_target(args), "already holds a data set; use --force to replace it")
    progress = JsonLinesProgress() if args.progress_json else TerminalProgress()
    try:  # the first SIGINT/SIGTERM stops between stars, a second one at once
        with cancel_on_signals(CancelToken()) as cancel:
            report = _from_files(args, progress, cancel) if args.catalog else _from_sdss(args, progress, cancel)
    except SDSSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Cancelled:
        print("cancelled: nothing written", file=sys.stderr)
        return 130
    if args.json or args.progress_json:
        print(json.dumps({"event": "done", **report.to_dict()} if args.progress_json else report.to_dict()))
    else:
        print(f"wrote {report.path}: {report.count} stars ({report.n_bhb} BHB, {report.n_non_bhb} non-BHB); "
              f"{len(report.rejected)} rejected")
        for star, reason in report.rejected[:10]:
            print(f"  skipped {star}: {reason}")
        if len(report.rejected) > 10:
            print(f"  ... and {len(report.rejected) - 10} more (manifest.json: provenance.rejected)")
        for item in report.skipped_files[:10]:
            print(f"  ignored file {item['path']}: {item['reason']}")
        if len(report.skipped_files) > 10:
            print(f"  ... and {len(report.skipped_files) - 10} more files (manifest.json: provenance.skipped_files)")
    return 0


def _target(args: argparse.Namespace):
    """The folder this build writes: a shard's own part, or the whole --out."""
    from pathlib import Path

    if not args.shard:
        return args.out
    from bhb_viewer.core.dataset import part_name
    from bhb_viewer.core.ingest.build_parallel import parse_shard

    k, n = parse_shard(args.shard)
    return Path(args.out) / part_name(k - 1, n)


def _default_out(args: argparse.Namespace) -> str:
    """A folder in the working directory named after the inputs (``xue2011-bss`` for the paper's set)."""
    from pathlib import Path

    if args.catalog:
        return f"{Path(args.catalog).name.split('.')[0]}-dataset"
    return "-".join(Path(str(c)).name.split(".")[0] for c in (args.positives, args.negatives))


def _from_sdss(args, progress, cancel):
    from bhb_viewer.services.builder import CROSSMATCH_ARCSEC, build_from_sdss
    from bhb_viewer.services.sdss import CLI_OFFLINE_HINT, SDSSService

    service = SDSSService(
        args.cache, offline=args.offline, timeout=args.timeout, retries=args.retries, cutouts=args.cutouts,
        offline_hint=CLI_OFFLINE_HINT,
    )
    radius = CROSSMATCH_ARCSEC if args.radius is None else args.radius
    return build_from_sdss(args.out, args.positives, args.negatives, service=service,
                           catalog_dir=args.catalogs, radius_arcsec=radius, limit=args.limit, known_bhb=args.known_bhb,
                           size=args.size, workers=args.workers or 4, progress=progress, cancel=cancel)


def _from_files(args, progress, cancel):
    from bhb_viewer.core.dataset import LABEL_BHB, LABEL_NON_BHB
    from bhb_viewer.core.ingest.build import build_from_files

    label = {"bhb": LABEL_BHB, "non-bhb": LABEL_NON_BHB, None: None}[args.label]
    files = dict(
        spectra=args.spectra, images=args.images, label=label, size=args.size, progress=progress, cancel=cancel
    )
    if args.partial and (args.shard or (args.workers or 1) > 1):
        from bhb_viewer.core.errors import BadInputError

        raise BadInputError(args.catalog, "--partial builds in one process: leave out --shard and --workers")
    if args.shard or (args.workers or 1) > 1:
        from bhb_viewer.core.ingest.build_parallel import build_parallel, build_shard, parse_shard

        if args.shard:
            return build_shard(args.out, args.catalog, *parse_shard(args.shard), **files)
        return build_parallel(args.out, args.catalog, args.workers, **files)
    return build_from_files(args.out, args.catalog, partial=args.partial, **files)


def _convert(args: argparse.Namespace) -> int:
    """Arrays are copied a block of rows at a time, so a set larger than memory converts too."""
    from pathlib import Path

    from bhb_viewer.core.dataset import is_dataset, open_dataset, unfinished_files, write_dataset
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.files import staged_directory

    out = Path(args.out)
    if is_dataset(out) or out.resolve() == Path(args.path).resolve():
        raise BadInputError(out, "already holds a data set; convert into a new folder")
    if out.is_dir() and any(out.iterdir()) and not unfinished_files(out):
        raise BadInputError(out, "folder is not empty; convert into a new folder")
    ds = open_dataset(args.path)
    provenance = {**ds.manifest.get("provenance", {}), "converted_from": str(ds.path), "source_hash": ds.manifest_hash}
    with staged_directory(out) as staged:  # a kill leaves no half set at --out (an unfinished one is replaced)
        write_dataset(staged, ds.catalog, ds.spectra, ds.ivar, ds.cutouts, provenance, dtype=args.dtype)
    print(f"wrote {args.out}: {len(ds)} stars as {args.dtype}")
    return 0


def _from_session(args: argparse.Namespace) -> int:
    from bhb_viewer.core.ingest.from_session import TooFewLabels, build_from_session
    from bhb_viewer.services.session_data import sdss_cache_loader

    try:
        report = build_from_session(args.session, args.out, base=args.base, extra_loader=sdss_cache_loader(args.cache))
    except TooFewLabels as exc:
        print(json.dumps({"error": exc.problem}) if args.json else f"refused: {exc.problem}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(f"wrote {report.path}: {report.n_bhb} BHB, {report.n_non_bhb} non-BHB ({report.n_from_session} vetted, "
          f"{report.n_from_base} from the base set); {report.n_excluded} excluded (other/unsure/bad data), "
          f"{report.n_without_data} without data")
    for star, reason in report.without_data:
        print(f"  skipped {star}: {reason}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from bhb_viewer.core.dataset import open_dataset

    ds = open_dataset(args.path)
    m = ds.manifest
    prov = m.get("provenance", {})
    summary = {"path": str(ds.path), "count": m["count"], "n_bhb": m["n_bhb"], "n_non_bhb": m["n_non_bhb"],
               "cutout_size": m["cutout_size"], "manifest_hash": ds.manifest_hash, "provenance": prov}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{ds.path}: {m['count']} stars ({m['n_bhb']} BHB, {m['n_non_bhb']} non-BHB, "
          f"{m['count'] - m['n_bhb'] - m['n_non_bhb']} unlabelled); cutouts {len(m['bands'])}×{m['cutout_size']}²")
    for key, value in prov.items():
        if isinstance(value, list):
            value = f"{len(value)} entries"
        print(f"  {key}: {value}")
    print(f"  manifest hash: {ds.manifest_hash}")
    return 0
