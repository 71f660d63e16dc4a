"""``bhb inspect PATH…``: what the core reads from each file, or the reason it cannot.

Kinds: ``catalog`` (CSV, ECSV, FITS/VOTable table, CDS with ReadMe), ``spectra`` (spec, spSpec,
spPlate), ``cube`` (a cutout cube file), ``image`` (one band's stamp or frame with WCS) and
``dataset`` (a data-set directory). ``--json`` prints one JSON object per path, one per line,
with at least ``path``, ``kind``, ``ok``, ``error``, ``count``; the exit status is 0 when every
path was read, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

TEXT_ROWS = 10  # spectra / rejections listed per file in text mode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="catalog, spectrum, cutout or image file, or data-set directory"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per path")


def run(args: argparse.Namespace) -> int:
    reports = [inspect_path(p) for p in args.paths]
    for report in reports:
        if args.json:
            print(json.dumps(report, default=str))
        else:
            _print_text(report)
    return 0 if all(r["ok"] for r in reports) else 1


def inspect_path(path: str | Path) -> dict[str, Any]:
    """Read one path with the core and describe it; a BadInputError becomes ``ok: false`` with its problem."""
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.files import require_regular_file
    from bhb_viewer.core.readers.input_kind import detect_kind

    report: dict[str, Any] = {"path": str(path), "kind": None, "ok": False, "error": None, "count": 0}
    try:
        if not Path(path).is_dir():
            require_regular_file(path)  # a named pipe called x.fits would block the reader forever
        kind = detect_kind(Path(path))
        report["kind"] = kind
        report.update(_DESCRIBE[kind](Path(path)))
        report["ok"] = True
    except BadInputError as exc:
        # the problem alone where it is about the path itself; with its file where that is a file inside (a data set's)
        inside = exc.path is not None and Path(exc.path) != Path(path)
        report["error"] = f"{exc.path}: {exc.problem}" if inside else exc.problem
    return report


def _describe_catalog(path: Path) -> dict[str, Any]:
    from bhb_viewer.core.ingest.build import labels_of
    from bhb_viewer.core.readers.candidates import ALIASES, has_pmf, read_candidates

    t = read_candidates(path)
    labels_of(t, path)  # a label column with values a build would refuse is an error here too
    canonical = [c for c in ALIASES if c in t.colnames]
    return {
        "count": len(t),
        "canonical_columns": canonical,
        "other_columns": [c for c in t.colnames if c not in ALIASES],
        "with_plate_mjd_fiber": int(has_pmf(t).sum()),
        "with_position": int((t["ra"] == t["ra"]).sum()),
        "first_ids": [str(i) for i in t["id"][:3]],
    }


def _describe_spectra(path: Path) -> dict[str, Any]:
    from bhb_viewer.core.grid import grid_dict
    from bhb_viewer.core.readers.spectra import read_spectra

    batch = read_spectra(path)
    first = batch.spectra[0].meta if batch.spectra else {}
    return {
        "count": len(batch),
        "format": first.get("format"),
        "grid": grid_dict(),
        "aligned": first.get("aligned"),
        "ivar_known": first.get("ivar_known"),
        "spectra": [{"id": s.id, "valid_pixels": int(s.meta["n_valid"]), "valid_fraction": s.meta.get("valid_fraction"),
                     "resolution": s.meta.get("resolution"), "resolution_source": s.meta.get("resolution_source"),
                     "flags": s.meta.get("flags", [])} for s in batch.spectra],
        "rejected": [{"id": i, "reason": r} for i, r in batch.rejected],
    }


def _wcs_summary(wcs, size_xy: tuple[int, int]) -> dict[str, Any]:
    import numpy as np

    cx, cy = (size_xy[0] - 1) / 2, (size_xy[1] - 1) / 2
    ra, dec = wcs.pixel_to_world_values(cx, cy)
    scale = float(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * 3600)
    return {
        "ctype": list(wcs.wcs.ctype),
        "centre_ra": float(ra),
        "centre_dec": float(dec),
        "pixel_scale_arcsec": round(scale, 4),
    }


def _describe_cube(path: Path) -> dict[str, Any]:
    from bhb_viewer.core.readers.cutouts import read_cube

    cube = read_cube(path)
    return {
        "count": 1,
        "shape": list(cube.data.shape),
        "bands": list(cube.bands),
        "wcs": _wcs_summary(cube.wcs, (cube.size, cube.size)),
        "masked_fraction": {b: round(float(cube.mask[i].mean()), 4) for i, b in enumerate(cube.bands)},
    }


def _describe_image(path: Path) -> dict[str, Any]:
    from bhb_viewer.core.readers.cutouts import load_band_image

    img = load_band_image(path)
    return {
        "count": 1,
        "band": img.band,
        "shape": list(img.data.shape),
        "wcs": _wcs_summary(img.wcs, img.data.shape[::-1]),
    }


def _describe_dataset(path: Path) -> dict[str, Any]:
    from bhb_viewer.core.dataset import open_dataset

    ds = open_dataset(path)
    m = ds.manifest
    return {
        "count": len(ds),
        "n_bhb": m.get("n_bhb"),
        "n_non_bhb": m.get("n_non_bhb"),
        "spectra_shape": list(ds.spectra.shape),
        "cutouts_shape": list(ds.cutouts.shape),
        "bands": m.get("bands"),
        "provenance": m.get("provenance"),
    }


_DESCRIBE = {
    "catalog": _describe_catalog,
    "spectra": _describe_spectra,
    "cube": _describe_cube,
    "image": _describe_image,
    "dataset": _describe_dataset,
}


def _print_text(r: dict[str, Any]) -> None:
    if not r["ok"]:
        print(f"error: {r['path']}: {r['error']}", file=sys.stderr)
        return
    kind = r["kind"]
    print(f"{r['path']}: {kind}")
    if kind == "catalog":
        print(
            f"  {r['count']} rows; {r['with_position']} with RA/Dec, {r['with_plate_mjd_fiber']} with plate/mjd/fiber"
        )
        print(f"  canonical columns: {', '.join(r['canonical_columns'])}")
        print(f"  other columns: {', '.join(r['other_columns']) or '-'}")
        print(f"  first ids: {', '.join(r['first_ids'])}")
    elif kind == "spectra":
        how = "exact SDSS pixels" if r["aligned"] else "interpolated"
        ivar = "" if r["ivar_known"] in (None, True) else "; no ivar in file: finite pixels count as valid"
        print(
            f"  {r['format']}: {r['count']} spectra on the {r['grid']['npix']}-pixel "
            f"grid ({how}{ivar}), {len(r['rejected'])} rejected"
        )
        for s in r["spectra"][:TEXT_ROWS]:
            res = f", R ≈ {s['resolution']:,.0f}" if s.get("resolution") else ""
            print(f"    {s['id']:<24} {s['valid_pixels']:>5}/{r['grid']['npix']} valid pixels{res}")
            for flag in s.get("flags", []):
                print(f"      ! {flag}")
        if len(r["spectra"]) > TEXT_ROWS:
            print(f"    … {len(r['spectra']) - TEXT_ROWS} more")
        for s in r["rejected"][:TEXT_ROWS]:
            print(f"    rejected {s['id']}: {s['reason']}")
    elif kind in ("cube", "image"):
        w = r["wcs"]
        what = f"bands {','.join(r['bands'])}" if kind == "cube" else f"band {r['band']}"
        print(f"  shape {'×'.join(map(str, r['shape']))}, {what}")
        print(
            f"  WCS {'/'.join(w['ctype'])}, centre {w['centre_ra']:.6f} "
            f"{w['centre_dec']:+.6f}, {w['pixel_scale_arcsec']}″/px"
        )
        if kind == "cube":
            print("  masked: " + ", ".join(f"{b} {f:.1%}" for b, f in r["masked_fraction"].items()))
    elif kind == "dataset":
        print(
            f"  {r['count']} stars ({r['n_bhb']} BHB, {r['n_non_bhb']} non-BHB); "
            f"spectra {r['spectra_shape']}, cutouts {r['cutouts_shape']}"
        )
