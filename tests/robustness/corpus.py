"""The bad-input corpus: broken files, data sets, checkpoints and arguments, generated on the fly.

Every case is one ``bhb`` command line (an entry point: inspect, dataset build/info, score, train,
simulate) run through :mod:`harness` with a timeout and an address-space limit, and judged:

========== =========================================================================================
clear      failed (or, for a bad file among good ones, skipped it) with a message naming the file
           and, where the case says so, the problem
unclear    failed, but the message names neither the file nor the problem
silent     bad data accepted without a word
traceback  a Python traceback reached the user
crash      killed by a signal (SIGBUS, SIGSEGV...)
hang       ran past its timeout
memory     hit the address-space limit (MemoryError)
lost       good data lost or damaged: good stars dropped with the bad one, an old data set or
           output file damaged, temporary files left behind
========== =========================================================================================

Nothing is committed as a binary: :func:`make_corpus` writes everything into a folder.
``python tests/robustness/corpus.py [--json]`` prints the table for the code on ``PYTHONPATH``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from sdss_files import SDSS_LOGLAM0, gaussian_star, smooth_flux, stamp_wcs, write_spec, write_stamp  # noqa: E402
from tinysky import make_dataset  # noqa: E402

HARNESS = Path(__file__).with_name("harness.py")
OUTCOMES = ("clear", "unclear", "silent", "traceback", "crash", "hang", "memory", "lost")
SIZE = 16  # cutout side of the corpus's data sets and model: small and fast
LOGLAM = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)
RA0, DEC0 = 150.0, 2.0
MEM_MB = 1536  # address space a case may add on top of the harness's own
JOBS = min(2, os.cpu_count() or 1)  # cases run at once (CI has 2 cores)
RSS_MB = 1000  # peak resident memory of a case (the harness's imports count, ~450-600 MB) judged excessive


@dataclass
class Case:
    """One command line and how to judge it (see the module doc)."""

    id: str
    entry: str
    argv: list[str]
    expect: str = "error"  # "error": must fail naming `names`; "ok": must succeed
    names: tuple[str, ...] = ()  # every one must appear in the output (file name, problem word)
    check: Callable[[dict], tuple[str, str] | None] | None = None  # (outcome, why) overrides the verdict
    timeout: float = 30.0
    owner: str | None = None  # a known failure owned by another issue's helper
    clean: str | None = None  # a mounted folder the case must leave empty (no scratch files)
    mounted: bool = False  # needs the small full / read-only folders


@dataclass
class Corpus:
    root: Path
    cases: list[Case] = field(default_factory=list)
    mounts: list[dict] = field(default_factory=list)

    def add(self, *cases: Case) -> None:
        self.cases.extend(cases)


# -- good material ------------------------------------------------------------------------------


def _positions(n: int) -> list[tuple[float, float]]:
    step = 20 * 0.396 / 3600
    return [(RA0 + (i - n / 2) * step, DEC0) for i in range(n)]


def _good_spec(path: Path, i: int, ra: float, dec: float) -> Path:
    return write_spec(
        path,
        LOGLAM,
        smooth_flux(LOGLAM, i) + 1,
        np.ones(LOGLAM.size),
        plate=300 + i,
        mjd=51600 + i,
        fiber=10 + i,
        ra=ra,
        dec=dec,
    )


def _frames(folder: Path, positions, size: int = 120) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, band in enumerate("ugriz"):
        wcs = stamp_wcs(RA0, DEC0, size, crpix=((size + 1) / 2 + k, (size + 1) / 2))
        image = np.full((size, size), 0.01)
        for ra, dec in positions:
            x, y = wcs.world_to_pixel_values(ra, dec)
            image += gaussian_star((size, size), x, y)
        write_stamp(folder / f"frame-{band}-000001-1-0001.fits", image, wcs, band)


def _stamps(folder: Path, ra: float, dec: float, size: int = 40) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    wcs = stamp_wcs(ra, dec, size)
    x, y = wcs.world_to_pixel_values(ra, dec)
    return {
        b: write_stamp(folder / f"stamp-{b}-x.fits", gaussian_star((size, size), x, y, sky=0.01), wcs, b)
        for b in "ugriz"
    }


def _checkpoint(path: Path) -> Path:
    import torch

    from bhb_viewer.ml.checkpoint import save_checkpoint
    from bhb_viewer.ml.models import build_model
    from bhb_viewer.ml.preprocess import Preprocessor

    torch.manual_seed(0)
    model = build_model("batmm", "tiny", cutout_size=SIZE)
    pre = Preprocessor(np.linspace(0.1, 0.5, 5, dtype=np.float32), np.full(5, 0.2, np.float32))
    config = pre.to_config()
    config["cutout_size"] = SIZE
    save_checkpoint(path, model, {"preprocess": config, "dataset_hash": "corpus"})
    return path


# -- editing helpers -------------------------------------------------------------------------------


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _variant(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _set_arch(**values) -> Callable[[dict], None]:
    return lambda c: c["model"]["arch"].update(values)


def _rewrite_weights(ckpt: Path, transform: Callable[[dict], dict]) -> None:
    """Replace the weights (safetensors) and record their sha256, as a forger would."""
    from safetensors.numpy import load_file, save_file

    weights = ckpt / "weights.safetensors"
    save_file(transform(load_file(str(weights))), str(weights))
    _edit_json(ckpt / "config.json", lambda c: c["weights"].update(sha256=_sha(weights)))


def _safetensors_header(path: Path, header: dict, data: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)


# -- judging -----------------------------------------------------------------------------------------


def judge(case: Case, result: dict) -> tuple[str, str]:
    """(outcome, one-line reason) for a harness result."""
    out = result.get("stdout", "") + result.get("stderr", "")
    last = (result.get("stderr", "").strip().splitlines() or [""])[-1][:300]
    if result.get("skipped"):
        return "skipped", result["skipped"]
    if result["timed_out"]:
        return "hang", f"no answer in {case.timeout:g} s"
    if result["signal"]:
        return "crash", f"killed by signal {result['signal']}"
    if "MemoryError" in out or "Cannot allocate memory" in out or "DefaultCPUAllocator: can't allocate" in out:
        return "memory", f"hit the {MEM_MB} MB limit: {last}"
    if "Traceback (most recent call last)" in out:
        return "traceback", last
    if result.get("max_rss_mb", 0) > RSS_MB:
        return "memory", f"peak RSS {result['max_rss_mb']:.0f} MB"
    if case.check is not None:
        verdict = case.check(result)
        if verdict is not None:
            return verdict
    if case.expect == "ok":
        if result["rc"] != 0:
            return "lost", f"exit {result['rc']}: {last}"
        missing = _missing(case.names, out)
        return ("clear", "") if not missing else ("unclear", f"output does not mention {missing}")
    if result["rc"] == 0:
        return "silent", "exit 0"
    missing = _missing(case.names, out)
    if missing:
        return "unclear", f"message does not mention {missing}: {last}"
    return "clear", last


def _missing(names: tuple[str, ...], text: str) -> list[str]:
    """Words of ``names`` the text lacks: the first (the file or folder) and file names anywhere, other
    words (the problem) outside the paths, so that a file called truncated.fits does not say "truncated"."""
    bare = re.sub(r"(?<![\w'])/\S+", " ", text).lower()  # absolute paths out
    return [n for i, n in enumerate(names) if n.lower() not in (text.lower() if i == 0 or "." in n else bare)]


# -- the cases ----------------------------------------------------------------------------------------


def _bad_fits_files(root: Path) -> dict[str, tuple[Path, tuple[str, ...], str | None]]:
    """name -> (file, words the message must hold, owner of a known failure)."""
    d = root / "fits"
    d.mkdir()
    good = _good_spec(d / "good-spec.fits", 0, RA0, DEC0)
    blob = good.read_bytes()
    files: dict[str, tuple[Path, tuple[str, ...], str | None]] = {}

    def add(name: str, data: bytes | None, words: tuple[str, ...] = (), owner: str | None = None) -> Path:
        path = d / name
        if data is not None:
            path.write_bytes(data)
        files[name] = (path, (name, *words), owner)
        return path

    add("empty.fits", b"")
    add("garbage.fits", np.random.default_rng(0).bytes(5000))
    add("text.fits", b"id,ra,dec\n1,2,3\n")
    add("truncated-header.fits", blob[:4000], ("truncated", "bytes"))
    add("truncated-data.fits", blob[: len(blob) - 20000], ("truncated", "bytes"))
    # a valid header declaring a 298 GiB image, and a table declaring 10^9 rows, with no data behind them
    big = fits.Header()
    big.update(SIMPLE=True, BITPIX=-32, NAXIS=2, NAXIS1=282_000, NAXIS2=283_700)
    add("huge-image.fits", big.tostring().encode())
    table = bytearray(blob)
    start = blob.index(b"NAXIS2  =", 2880)
    table[start : start + 30] = f"NAXIS2  = {10**9:>20d}".encode()
    add("billion-rows.fits", bytes(table))
    # the spectrum table in the wrong HDU: COADD behind an empty image extension
    with fits.open(good) as hdul:
        moved = fits.HDUList(
            [hdul[0].copy(), fits.ImageHDU(np.zeros((2, 2), np.float32)), hdul[1].copy(), hdul[2].copy()]
        )
        moved[2].name = "DATA"
        moved.writeto(d / "wrong-hdu.fits")
    files["wrong-hdu.fits"] = (d / "wrong-hdu.fits", ("wrong-hdu.fits",), None)
    os.mkfifo(d / "pipe.fits")
    files["pipe.fits"] = (d / "pipe.fits", ("pipe.fits", "regular file"), None)
    add("bad-gzip.fits.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 200)
    add("garbage-gzip.fits.gz", gzip.compress(np.random.default_rng(1).bytes(4000)))
    os.symlink("loop.fits", d / "loop.fits")
    files["loop.fits"] = (d / "loop.fits", ("loop.fits",), None)
    nan = write_spec(d / "nan-flux.fits", LOGLAM, np.full(LOGLAM.size, np.nan), np.ones(LOGLAM.size))
    files["nan-flux.fits"] = (nan, ("nan-flux.fits",), None)
    zero = write_spec(d / "zero-ivar.fits", LOGLAM, smooth_flux(LOGLAM), np.zeros(LOGLAM.size))
    files["zero-ivar.fits"] = (zero, ("zero-ivar.fits",), None)
    return files


def _bad_stamps(root: Path, ra: float, dec: float) -> dict[str, tuple[Path, tuple[str, ...], str]]:
    """Stamp sets for one star where one band's file is bad: name -> (folder, words, bad band)."""
    out = {}
    for name, band in (
        ("all-nan", "r"),
        ("galactic", "g"),
        ("band-mismatch", "i"),
        ("no-wcs", "u"),
        ("truncated", "z"),
    ):
        folder = root / "stamps" / name
        files = _stamps(folder, ra, dec)
        path = files[band]
        with fits.open(path) as hdul:
            data, header = hdul[0].data.copy(), hdul[0].header.copy()
        if name == "all-nan":
            data[:] = np.nan
        elif name == "galactic":
            header["CTYPE1"], header["CTYPE2"] = "GLON-TAN", "GLAT-TAN"
        elif name == "band-mismatch":
            header["BAND"] = "r"
        elif name == "no-wcs":
            header = fits.Header({"BAND": band})
        fits.PrimaryHDU(data, header=header).writeto(path, overwrite=True)
        if name == "truncated":
            path.write_bytes(path.read_bytes()[:4000])
        out[name] = (folder, (path.name,), band)
    return out


def _build_argv(catalog: Path, images: Path, out: Path, size: int = SIZE, force: bool = False) -> list[str]:
    """The argv of ``bhb dataset build`` from files on disk."""
    return ["dataset", "build", "--catalog", str(catalog), "--images", str(images), "--size", str(size),
            *(["--force"] if force else []), "--out", str(out)]


def _build_check(n_good: int, bad_names: tuple[str, ...], out: Path, old: dict | None = None):
    """A build with one bad file among good ones: the good stars kept, the bad one named."""

    def check(result: dict) -> tuple[str, str] | None:
        text = result.get("stdout", "") + result.get("stderr", "")
        if result["rc"] != 0:
            return "lost", f"build failed, {n_good} good stars lost: {text.strip().splitlines()[-1:]}"
        manifest = json.loads((out / "manifest.json").read_text())
        if manifest["count"] != n_good:
            return "silent" if manifest[
                "count"
            ] > n_good else "lost", f"kept {manifest['count']} stars, expected {n_good}"
        blob = text + json.dumps(manifest.get("provenance", {}))
        if not all(n in blob for n in bad_names):
            return "unclear", f"the rejection does not name {bad_names}"
        return "clear", ""

    return check


def make_corpus(root: Path) -> Corpus:
    """Write every input into ``root`` and list the cases (see module doc)."""
    root = Path(root)
    corpus = Corpus(root)
    add = corpus.add
    positions = _positions(4)
    spectra, cats = root / "spectra", root / "catalogs"
    spectra.mkdir(parents=True)
    cats.mkdir()
    good_specs = [
        _good_spec(spectra / f"spec-{300 + i:04d}-{51600 + i:05d}-{10 + i:04d}.fits", i, ra, dec)
        for i, (ra, dec) in enumerate(positions)
    ]
    _frames(root / "frames", positions[:3])
    far = (RA0 + 1.0, DEC0 + 1.0)  # the fourth star sits apart, on its own stamps
    _good_spec(spectra / "far-spec.fits", 9, *far)

    def build_catalog(path: Path, spectrum_of_fourth: Path, label=("BHB", "BSS", "BHB", "BSS")) -> Path:
        rows = [(f"star{i}", ra, dec, str(good_specs[i]), label[i]) for i, (ra, dec) in enumerate(positions[:3])]
        rows.append(("star3", far[0], far[1], str(spectrum_of_fourth), label[3]))
        Table(rows=rows, names=("id", "ra", "dec", "spectrum", "label")).write(path, format="ascii.ecsv")
        return path

    # 1. bad FITS files: inspect, and as one star's spectrum in a build of four
    good_far_stamps = root / "stamps-good"
    _stamps(good_far_stamps, *far)
    for name, (path, words, owner) in _bad_fits_files(root).items():
        listed = name in ("nan-flux.fits", "zero-ivar.fits")  # a readable file whose one spectrum is listed as rejected
        add(
            Case(
                f"fits/{name}",
                "inspect",
                ["inspect", str(path)],
                names=(*words, "rejected") if listed else words,
                expect="ok" if listed else "error",
                timeout=30,
                owner=owner,
            )
        )
        out = root / "out" / f"build-{name}"
        images = root / "images-good"
        if not images.exists():
            images.mkdir()
            for p in (root / "frames").iterdir():
                os.link(p, images / p.name)
            for p in good_far_stamps.iterdir():
                os.link(p, images / p.name)
        cat = build_catalog(cats / f"build-{name}.ecsv", path)
        add(
            Case(
                f"fits/{name}",
                "dataset build",
                _build_argv(cat, images, out),
                expect="ok",
                check=_build_check(3, (path.name,), out),
                owner=owner,
            )
        )

    # 2. bad stamps: inspect the bad band's file, and build (the fourth star on these stamps)
    for name, (folder, words, _band) in _bad_stamps(root, *far).items():
        bad_file = folder / words[0]
        add(Case(f"stamp/{name}", "inspect", ["inspect", str(bad_file)], names=words, timeout=30))
        images = root / f"images-{name}"
        images.mkdir()
        for p in (root / "frames").iterdir():
            os.link(p, images / p.name)
        for p in folder.iterdir():
            os.link(p, images / p.name)
        out = root / "out" / f"build-stamp-{name}"
        cat = build_catalog(root / "catalogs" / f"stamp-{name}.ecsv", spectra / "far-spec.fits")
        add(
            Case(
                f"stamp/{name}",
                "dataset build",
                _build_argv(cat, images, out),
                expect="ok",
                check=_build_check(3, words, out),
            )
        )

    # 3. bad catalogs: inspect, build, score against a good data set
    ds_good = make_dataset(root / "ds-good", n=24, size=SIZE)
    ckpt = _checkpoint(root / "ckpt-good")
    bad_cats: dict[str, tuple[Path, tuple[str, ...], str]] = {}

    def cat(name: str, text: str | bytes, words: tuple[str, ...] = (), expect: str = "error") -> None:
        path = cats / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        bad_cats[name] = (path, (name, *words), expect)

    cat("empty.csv", "")
    cat("header-only.csv", "id,ra,dec\n")
    cat("no-position.csv", "id,mag\na,1\nb,2\n", ("ra",))
    cat("garbage.csv", np.random.default_rng(2).bytes(3000))
    cat("duplicate-ids.csv", "id,ra,dec\na,1,2\na,3,4\n", ("duplicate",))
    cat("label-seven.csv", "id,ra,dec,label\na,1,2,7\nb,3,4,1\n", ("label",))
    cat("nan-position.csv", "id,ra,dec\na,nan,2\nb,3,4\n", ("ra",))
    cat(
        "yaml-payload.ecsv",
        "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: id, datatype: string}\n"
        "# meta: !!python/object/apply:os.system ['touch " + str(root / "PWNED") + "']\nid\na\n",
    )
    # an SDSS-like catalogue without ids: two spectra of one star at one position (ids made from positions)
    cat("repeat-observation.csv", "ra,dec,g\n150.0,2.0,17.1\n150.0,2.0,17.2\n151.0,2.5,16.0\n", (), "ok")
    for name, (path, words, expect) in bad_cats.items():
        add(
            Case(
                f"catalog/{name}",
                "inspect",
                ["inspect", str(path)],
                expect=expect,
                names=words,
                timeout=30,
                check=_pwned(root) if "yaml" in name else None,
            )
        )
        if expect == "error":
            add(
                Case(
                    f"catalog/{name}",
                    "dataset build",
                    _build_argv(path, root / "frames", root / "out" / f"cat-{name}"),
                    names=words,
                    check=_pwned(root) if "yaml" in name else None,
                )
            )
            add(
                Case(
                    f"catalog/{name}",
                    "score",  # labels are not used by score: a catalog with label 7 may fail otherwise
                    [
                        "score",
                        str(path),
                        "--dataset",
                        str(ds_good),
                        "--model",
                        str(ckpt),
                        "--out",
                        str(root / "out" / f"score-{name}.ecsv"),
                    ],
                    names=(name,) if "label" in name else words,
                    check=_pwned(root) if "yaml" in name else None,
                )
            )

    # formula injection through score --out *.csv: ids and notes that a spreadsheet would run
    inj = _variant(ds_good, root / "ds-injection")
    t = Table.read(inj / "catalog.ecsv")
    t["id"] = [
        f'=HYPERLINK("http://x/{i}")' if i % 3 == 0 else (f"+{i}" if i % 3 == 1 else f"@sum{i}") for i in range(len(t))
    ]
    t.write(inj / "catalog.ecsv", overwrite=True)
    _edit_json(inj / "manifest.json", lambda m: m["sha256"].update({"catalog.ecsv": _sha(inj / "catalog.ecsv")}))
    csv_out = root / "out" / "injection.csv"
    add(
        Case(
            "catalog/formula-injection",
            "score",
            ["score", str(inj), "--model", str(ckpt), "--out", str(csv_out)],
            expect="ok",
            check=_csv_neutral(csv_out),
        )
    )

    # 4. bad data sets: inspect, dataset info, score, train
    datasets: dict[str, tuple[Path, tuple[str, ...], tuple[str, ...]]] = {}

    def ds(name: str, words: tuple[str, ...] = (), entries=("inspect", "info", "score", "train")) -> Path:
        path = _variant(ds_good, root / "ds" / name)
        datasets[name] = (path, words, entries)
        return path

    (ds("no-manifest") / "manifest.json").unlink()
    (ds("bad-manifest") / "manifest.json").write_text("{not json")
    mixed = ds(
        "mixed-catalog", ("catalog.ecsv",)
    )  # what a killed `dataset build --force` left: new catalog, old manifest
    t = Table.read(mixed / "catalog.ecsv")
    t["label"] = 0
    t.write(mixed / "catalog.ecsv", overwrite=True)
    swapped = ds("swapped-array", ("spectra.npy",))  # arrays of another set of the same shape
    arr = np.load(swapped / "spectra.npy")
    np.save(swapped / "spectra.npy", arr[::-1].copy())
    trunc = ds("truncated-array", ("cutouts.npy",))
    raw = (trunc / "cutouts.npy").read_bytes()
    (trunc / "cutouts.npy").write_bytes(raw[: len(raw) // 2])
    pickled = ds("pickled-array", ("ivar.npy",))
    np.save(pickled / "ivar.npy", np.array([{"a": 1}] * 24, dtype=object), allow_pickle=True)
    lab7 = ds("label-seven", ("label",))  # a consistent manifest over a catalog with label 7
    t = Table.read(lab7 / "catalog.ecsv")
    t["label"][0] = 7
    t.write(lab7 / "catalog.ecsv", overwrite=True)
    _edit_json(lab7 / "manifest.json", lambda m: m["sha256"].update({"catalog.ecsv": _sha(lab7 / "catalog.ecsv")}))
    two = root / "ds" / "two-stars"
    make_dataset(two, n=2, size=SIZE)
    datasets["two-stars"] = (two, ("two-stars",), ("train",))
    for name, (path, words, entries) in datasets.items():
        words = (path.name, *words) if name != "two-stars" else words
        if "inspect" in entries:
            add(Case(f"dataset/{name}", "inspect", ["inspect", str(path)], names=words, timeout=30))
        if "info" in entries:
            add(Case(f"dataset/{name}", "dataset info", ["dataset", "info", str(path)], names=words, timeout=30))
        if "score" in entries:
            add(
                Case(
                    f"dataset/{name}",
                    "score",
                    ["score", str(path), "--model", str(ckpt), "--out", str(root / "out" / f"ds-{name}.ecsv")],
                    names=words,
                )
            )
        if "train" in entries:
            add(
                Case(
                    f"dataset/{name}",
                    "train",
                    [
                        "train",
                        "--dataset",
                        str(path),
                        "--model",
                        "batmm",
                        "--size",
                        "tiny",
                        "--epochs",
                        "1",
                        "--threads",
                        "1",
                        "--max-steps-per-epoch",
                        "1",
                        "--out",
                        str(root / "out" / f"train-{name}"),
                    ],
                    names=words,
                    timeout=60,
                )
            )

    # 5. bad checkpoints: score a good data set with each
    ckpts = root / "ckpt"
    ckpt_cases: dict[str, tuple[Path, tuple[str, ...]]] = {}

    def ck(name: str, words: tuple[str, ...] = ()) -> Path:
        path = _variant(ckpt, ckpts / name)
        ckpt_cases[name] = (path, words)
        return path

    (ck("no-config") / "config.json").unlink()
    (ck("bad-config") / "config.json").write_text("[1, 2")
    _edit_json(ck("layers-1e7", ("n_layers",)) / "config.json", _set_arch(n_layers=10**7))
    _edit_json(ck("cutout-1e5", ("cutout_size",)) / "config.json", _set_arch(cutout_size=10**5))
    _edit_json(
        ck("wide-4096", ("weights.safetensors",)) / "config.json", _set_arch(d_model=4096, ffn_dim=16384, d_k=512)
    )
    _edit_json(ck("layers-string", ("n_layers",)) / "config.json", _set_arch(n_layers="2"))
    _edit_json(ck("heads-negative", ("n_heads",)) / "config.json", _set_arch(n_heads=-2))
    _edit_json(ck("dropout-nan", ("dropout",)) / "config.json", _set_arch(dropout=float("nan")))
    _edit_json(ck("unknown-model", ("model",)) / "config.json", lambda c: c["model"].update(name="nosuch"))
    _edit_json(
        ck("nan-band-mean", ("band_mean",)) / "config.json",
        lambda c: c["preprocess"]["image"].update(band_mean=[float("nan")] * 5),
    )
    _edit_json(
        ck("zero-band-std", ("band",)) / "config.json", lambda c: c["preprocess"]["image"].update(band_std=[0.0] * 5)
    )
    _rewrite_weights(
        ck("nan-weights", ("weights.safetensors",)),
        lambda s: {k: (np.full_like(v, np.nan) if v.dtype.kind == "f" else v) for k, v in s.items()},
    )
    outside = ck("weights-outside", ("weights",))
    secret = root / "secret.safetensors"
    shutil.copy(outside / "weights.safetensors", secret)
    (outside / "weights.safetensors").unlink()
    _edit_json(outside / "config.json", lambda c: c["weights"].update(file=os.path.relpath(secret, outside)))
    trunc_w = ck("truncated-weights", ("weights.safetensors",))
    w = trunc_w / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:3000])
    _edit_json(trunc_w / "config.json", lambda c: c["weights"].update(sha256=_sha(w)))
    huge_w = ck("huge-tensor-header", ("weights.safetensors",))
    w = huge_w / "weights.safetensors"
    _safetensors_header(
        w, {"x": {"dtype": "F32", "shape": [200_000, 200_000], "data_offsets": [0, 160_000_000_000]}}, b"\0" * 64
    )
    _edit_json(huge_w / "config.json", lambda c: c["weights"].update(sha256=_sha(w)))
    (ck("no-weights", ("weights.safetensors",)) / "weights.safetensors").unlink()
    for name, (path, words) in ckpt_cases.items():
        add(
            Case(
                f"checkpoint/{name}",
                "score",
                ["score", str(ds_good), "--model", str(path), "--out", str(root / "out" / f"ck-{name}.ecsv")],
                names=(path.name, *words),
                check=_no_output(root / "out" / f"ck-{name}.ecsv"),
            )
        )

    # 6. arguments
    train = [
        "train",
        "--dataset",
        str(ds_good),
        "--model",
        "batmm",
        "--size",
        "tiny",
        "--threads",
        "1",
        "--max-steps-per-epoch",
        "1",
    ]
    a_file = root / "a-file.txt"
    a_file.write_text("not a folder")
    for name, extra, words in (
        ("batch-size-0", ["--batch-size", "0", "--epochs", "1"], ("batch",)),
        ("device-cuda7", ["--device", "cuda:7", "--epochs", "1"], ("cuda:7",)),
        ("out-is-file", ["--epochs", "1"], ("a-file.txt",)),
        ("epochs-negative", ["--epochs", "-1"], ("epochs",)),
    ):
        out = a_file if name == "out-is-file" else root / "out" / f"arg-{name}"
        add(
            Case(
                f"args/train-{name}",
                "train",
                [*train, *extra, "--out", str(out)],
                names=words,
                timeout=60,
            )
        )
    add(
        Case(
            "args/score-out-is-dir",
            "score",
            ["score", str(ds_good), "--model", str(ckpt), "--out", str(root / "out")],
            names=("out",),
        )
    )
    add(
        Case(
            "args/score-out-missing-folder",
            "score",
            ["score", str(ds_good), "--model", str(ckpt), "--out", str(root / "nosuch" / "x.ecsv")],
            names=("nosuch",),
        )
    )
    add(
        Case(
            "args/build-size-0",
            "dataset build",
            _build_argv(cats / "build-empty.fits.ecsv", root / "frames", root / "out" / "size0", size=0),
            names=("size",),
        )
    )
    add(
        Case(
            "args/simulate-over-dataset",
            "simulate",
            ["simulate", "--n", "4", "--seed", "0", "--out", str(_variant(ds_good, root / "ds-keep"))],
            names=("ds-keep", "force"),
            check=_unchanged(root / "ds-keep", ds_good),
        )
    )

    # 7. full and read-only folders (a small tmpfs each, mounted by the harness in its own namespace)
    full, small, ro = root / "mnt-full", root / "mnt-small", root / "mnt-ro"
    corpus.mounts = [
        {"path": str(full), "size": "256k", "fill": True},  # no free block at all
        {"path": str(small), "size": "256k"},  # room to start a build, not to finish it
        {"path": str(ro), "size": "64k", "ro": True},
    ]
    add(Case("disk/build-small-disk", "dataset build",
             ["dataset", "build", "--catalog", str(cats / "build-empty.fits.ecsv"),
              "--images", str(root / "images-good"), "--size", "64", "--out", str(small / "ds")],
             names=("space",), mounted=True, timeout=60, clean=str(small)))
    add(
        Case(
            "disk/score-out-full",
            "score",
            ["score", str(ds_good), "--model", str(ckpt), "--out", str(full / "s.ecsv")],
            names=("s.ecsv", "space"),
            mounted=True,
        )
    )
    add(
        Case(
            "disk/score-out-read-only",
            "score",
            ["score", str(ds_good), "--model", str(ckpt), "--out", str(ro / "s.ecsv")],
            names=("s.ecsv", "read-only"),
            mounted=True,
        )
    )
    good_cat = build_catalog(cats / "good.ecsv", spectra / "far-spec.fits")
    add(
        Case(
            "disk/build-full",
            "dataset build",
            _build_argv(good_cat, root / "images-good", full / "ds", size=64),
            names=("space",),
            mounted=True,
            timeout=60,
        )
    )
    keep = _variant(ds_good, root / "ds-keep-force")
    all_bad = cats / "all-bad.ecsv"
    Table(rows=[("bad0", RA0, DEC0, str(root / "fits" / "garbage.fits"))], names=("id", "ra", "dec", "spectrum")).write(
        all_bad
    )
    add(
        Case(
            "disk/build-force-all-bad",
            "dataset build",
            _build_argv(all_bad, root / "frames", keep, force=True),
            names=("no usable star",),
            check=_unchanged(keep, ds_good),
        )
    )
    add(
        Case(
            "args/build-out-is-file",
            "dataset build",
            _build_argv(good_cat, root / "images-good", a_file),
            names=("a-file.txt",),
        )
    )
    add(
        Case(
            "disk/build-read-only",
            "dataset build",
            _build_argv(good_cat, root / "images-good", ro / "ds"),
            names=("read-only",),
            mounted=True,
        )
    )
    return corpus


def _pwned(root: Path):
    def check(result: dict) -> tuple[str, str] | None:
        return ("lost", "the YAML payload ran") if (root / "PWNED").exists() else None

    return check


def _no_output(path: Path):
    def check(result: dict) -> tuple[str, str] | None:
        if result["rc"] == 0 and path.exists():
            p = np.asarray(Table.read(path)["p_bhb"], float)
            if not np.isfinite(p).all():
                return "silent", f"exit 0 with {int((~np.isfinite(p)).sum())} non-finite p_bhb"
        return None

    return check


def _csv_neutral(path: Path):
    def check(result: dict) -> tuple[str, str] | None:
        if result["rc"] != 0:
            return None
        cells = [c for line in path.read_text().splitlines() if not line.startswith("#") for c in line.split(",")]
        live = [c for c in cells if c.lstrip('"')[:1] in ("=", "+", "-", "@") and not _number(c.strip('"'))]
        return ("silent", f"{len(live)} cells a spreadsheet would run, e.g. {live[0]}") if live else ("clear", "")

    return check


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unchanged(path: Path, original: Path):
    def check(result: dict) -> tuple[str, str] | None:
        before = json.loads((original / "manifest.json").read_text())["sha256"]
        after = json.loads((path / "manifest.json").read_text())["sha256"] if (path / "manifest.json").is_file() else {}
        return ("lost", "the existing data set was replaced") if before != after else None

    return check


# -- running -------------------------------------------------------------------------------------------


def run_corpus(corpus: Corpus, pythonpath: str | None = None) -> list[dict]:
    """Run every case through the harness; each result carries its case, outcome and reason."""
    env = dict(
        os.environ,
        PYTHONPATH=pythonpath or os.environ.get("PYTHONPATH", ""),
        OMP_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
        BHB_VIEWER_CACHE=str(corpus.root / "cache"),
    )
    out_dir = corpus.root / "harness-out"
    out_dir.mkdir(exist_ok=True)
    cases = {f"c{i:03d}": c for i, c in enumerate(corpus.cases)}
    request = {
        "out_dir": str(out_dir),
        "mem_mb": MEM_MB,
        "mounts": corpus.mounts,
        "jobs": JOBS,
        "cases": [{"id": k, "argv": c.argv, "timeout": c.timeout, "cwd": str(corpus.root)} for k, c in cases.items()],
    }
    prefix = _unshare_prefix()
    if prefix is None:
        request["mounts"] = []
    proc = subprocess.run(
        [*(prefix or []), sys.executable, str(HARNESS)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    mounted = bool(lines and lines[0].get("mounted")) and prefix is not None
    by_id = {r["id"]: r for r in lines[1:] if "id" in r}
    listing = next((r["listing"] for r in lines if "listing" in r), {})
    results = []
    for key, case in cases.items():
        result = by_id.get(key)
        if result is None:
            result = (
                {"skipped": "no mount namespace"}
                if case.mounted and not mounted
                else {"skipped": f"harness died: {proc.stderr[-500:]}"}
            )
        elif case.mounted and not mounted:
            result = {"skipped": "no mount namespace"}
        outcome, why = judge(case, result)
        if case.clean and outcome == "clear" and listing.get(case.clean):
            outcome, why = "lost", f"left {listing[case.clean]} in {case.clean}"
        results.append({"case": case, "outcome": outcome, "why": why, **result})
    return results


def _unshare_prefix() -> list[str] | None:
    """``unshare`` into private user + mount namespaces so the harness may mount tmpfs, where allowed."""
    if not shutil.which("unshare"):
        return None
    probe = subprocess.run(["unshare", "-rm", "--propagation", "private", "true"], capture_output=True)
    return ["unshare", "-rm", "--propagation", "private"] if probe.returncode == 0 else None


def table(results: list[dict]) -> dict:
    """Counts per outcome over the cases run (skipped ones left out)."""
    counts = Counter(r["outcome"] for r in results if r["outcome"] != "skipped")
    row = {"runs": sum(counts.values()), "cases": len({r["case"].id for r in results if r["outcome"] != "skipped"})}
    row.update({k: counts.get(k, 0) for k in OUTCOMES})
    return row


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="write the corpus here and keep it")
    parser.add_argument("--only", metavar="PREFIX", help="run only the cases whose id starts with PREFIX")
    args = parser.parse_args(argv)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bhb-corpus-"))
    try:
        corpus = make_corpus(root / "corpus")
        corpus.cases = [c for c in corpus.cases if c.id.startswith(args.only or "")]
        results = run_corpus(corpus)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    for r in results:
        owner = f" [{r['case'].owner}]" if r["case"].owner else ""
        print(
            f"{r['outcome']:<9} {r['case'].entry:<14} {r['case'].id:<34} {r.get('seconds', 0):6.2f}s "
            f"{r.get('max_rss_mb', 0):7.0f}MB{owner} {r['why'][:150]}"
        )
    print(json.dumps(table(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
