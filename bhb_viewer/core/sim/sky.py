"""The built-in sky: labelled BHB and non-BHB stars with SDSS-like spectra and ugriz cutouts.

It stands in for SDSS where there is no network, so it must be as hard as the real problem, no
easier: the population (:mod:`.population`), spectra (:mod:`.spectra`) and images (:mod:`.images`)
follow the stars' physics, :mod:`.labels` labels them as a survey would, and :mod:`.calibration`
and :mod:`.realism` check the result against real SDSS data with the project's own code. Same
seed, same arrays: every random draw comes from a generator derived from the seed, in
fixed-size chunks.

What a data set holds is what a survey would publish: observed photometry (reddened unless
``extinction_corrected``, which removes the true reddening: an idealised sky), its errors from the
observed magnitudes, a dust map's E(B−V) (the truth with the map's error), observing conditions,
and the chosen ``label``. The truth (Teff, log g, [Fe/H], kind, both label definitions, intrinsic
magnitudes and line parameters) goes to a separate ``truth.ecsv`` beside the data set, never
into the catalogue a model or a classifier reads.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.table import Table

from bhb_viewer.core.dataset import LABEL_BHB, LABEL_NON_BHB, write_dataset
from bhb_viewer.core.files import file_sha256, staged_directory, write_atomic
from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE, NPIX
from bhb_viewer.core.progress import ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.science.spectral_engine import default_engine
from bhb_viewer.core.sim.images import SEEING_BAND_FACTOR, ImageModel, draw_conditions, psf_mag_error, render_cutouts
from bhb_viewer.core.sim.labels import LABEL_CHOICES, LabelModel, xue_labels
from bhb_viewer.core.sim.mixture import Mixture, draw_parameters
from bhb_viewer.core.sim.population import PopulationModel, draw_stars, in_colour_box
from bhb_viewer.core.sim.spectra import BAND_EXTINCTION, SpectrumModel, fibre_fraction, simulate_spectra
from bhb_viewer.core.sim.stellar import intrinsic_magnitudes, observed_flux

SIMULATOR_VERSION = "3.1"  # 3.0: the empirical (MILES) engine and its mixture of kinds; "parametric" is 2.0's sky;
# 3.1: the catalogue's E(B−V) is a dust map's estimate (MAP_EBV_SCATTER), not the truth; every other array unchanged
PAPER_N_BHB, PAPER_N_NON_BHB = 4752, 7280
DEFAULT_N = PAPER_N_BHB + PAPER_N_NON_BHB
DEFAULT_BHB_FRACTION = PAPER_N_BHB / DEFAULT_N
DEFAULT_LABELS = "physical"  # what the shipped model is trained on; "xue" (the paper's cut labels) stays available
ENGINES = ("empirical", "parametric")
DEFAULT_ENGINE = "empirical"
CHUNK = 256  # stars per generator stream: fixed, so results never depend on memory settings
TRUTH_FILE = "truth.ecsv"
# The catalogue's E(B−V) is what a dust map gives, not the star's own: Schlegel, Finkbeiner & Davis
# (1998) quote their map's reddening as accurate to 16 %. Drawn from its own stream, so every
# other array of a 3.0 sky of the same seed is unchanged.
MAP_EBV_SCATTER = 0.16


@dataclass(frozen=True)
class SimulatorConfig:
    population: PopulationModel = field(default_factory=PopulationModel)
    spectrum: SpectrumModel = field(default_factory=SpectrumModel)
    image: ImageModel = field(default_factory=ImageModel)
    labels: LabelModel = field(default_factory=LabelModel)
    label_kind: str = DEFAULT_LABELS
    extinction_corrected: bool = False
    engine: str = DEFAULT_ENGINE
    mixture: Mixture = field(default_factory=Mixture)

    def __post_init__(self) -> None:
        if self.label_kind not in LABEL_CHOICES:
            raise ValueError(f"labels must be one of {', '.join(LABEL_CHOICES)}, not {self.label_kind!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")

    def as_dict(self) -> dict:
        out = {"engine": self.engine, "spectrum": self.spectrum.as_dict(), "image": self.image.as_dict(),
               "labels": self.labels.as_dict(), "label_kind": self.label_kind,
               "extinction_corrected": self.extinction_corrected}
        if self.engine == "empirical":
            out["population"] = self.mixture.as_dict()
            out["engine_provenance"] = default_engine().provenance()
        else:
            out["population"] = self.population.as_dict()
        return out


class Sky(NamedTuple):
    """A simulated sky: the published catalogue, its pixels, and the truth kept apart."""

    catalog: Table
    spectra: np.ndarray
    ivar: np.ndarray
    cutouts: np.ndarray | None
    truth: Table


def _draw(
    config: SimulatorConfig, rng: np.random.Generator, m: int, bhb: bool, rejected: dict[str, int]
) -> dict[str, np.ndarray]:
    """m stars of one class with parameters and intrinsic magnitudes, from the configured engine."""
    if config.engine == "parametric":
        stars = draw_stars(config.population, rng, m, bhb)
        stars["kind"] = np.where(bhb, "BHB", np.where(stars["feh"] < -1.0, "blue straggler", "main-sequence A"))
        return stars
    engine = default_engine()
    stars, rej = draw_parameters(config.mixture, engine, rng, m, bhb)
    for k, v in rej.items():
        rejected[k] = rejected.get(k, 0) + v
    stars["engine_star"] = engine.pick_residuals(rng, stars["teff"], stars["logg"], stars["feh"])
    mags = intrinsic_magnitudes(
        engine, config.spectrum, stars["teff"], stars["logg"], stars["feh"], stars["engine_star"], stars.pop("g_true")
    )
    stars.update({f"{b}_true": mags[b] for b in BANDS})
    return stars


def _class_stars(config: SimulatorConfig, rng: np.random.Generator, n: int, bhb: bool,
                 rejected: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """n stars of one class whose dereddened observed colours fall in the candidate box.

    ``rejected`` collects, per kind, the empirical engine's draws refused for want of a MILES star near.
    """
    rejected = {} if rejected is None else rejected
    parts: list[dict[str, np.ndarray]] = []
    have = 0
    while not parts or have < n:  # at least one batch, so n = 0 still yields typed empty columns
        m = max(64, int(1.6 * (n - have)))
        stars = _draw(config, rng, m, bhb, rejected)
        stars.update(draw_conditions(rng, m))
        stars["ebv"] = rng.uniform(0.0, config.spectrum.extinction_max, m)
        for b in BANDS:
            reddened = stars[f"{b}_true"] + BAND_EXTINCTION[b] * stars["ebv"]
            noise = psf_mag_error(reddened, b, stars["seeing_r"], stars["sky_offset"])
            stars[f"{b}_obs"] = reddened + noise * rng.standard_normal(m)
        dered = {b: stars[f"{b}_obs"] - BAND_EXTINCTION[b] * stars["ebv"] for b in "ugr"}
        keep = in_colour_box(dered["u"] - dered["g"], dered["g"] - dered["r"])
        parts.append({k: v[keep] for k, v in stars.items()})
        have += int(keep.sum())
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


def simulate_population(n: int, seed: int, bhb_fraction: float = DEFAULT_BHB_FRACTION,
                        config: SimulatorConfig | None = None) -> tuple[Table, Table]:
    """(catalogue, truth) of n stars in random order; no pixels and no Xue-cut labels yet."""
    config = config or SimulatorConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    n_bhb = int(round(n * bhb_fraction))
    rejected: dict[str, int] = {}
    bhb = _class_stars(config, rng, n_bhb, True, rejected)
    non = _class_stars(config, rng, n - n_bhb, False, rejected)
    order = rng.permutation(n)
    cols = {k: np.concatenate([bhb[k], non[k]])[order] for k in bhb}
    physical = np.concatenate([np.full(n_bhb, LABEL_BHB), np.full(n - n_bhb, LABEL_NON_BHB)])[order].astype(np.int64)
    kind = cols["kind"]
    # High-latitude positions (|b| ≳ 30°, as for SDSS halo targets), uniform on the sphere.
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-0.3, 0.95, n)))
    ids = [f"sim-{seed}-{i:06d}" for i in range(n)]
    shift = {b: (BAND_EXTINCTION[b] * cols["ebv"] if config.extinction_corrected else 0.0) for b in BANDS}
    mags = {b: cols[f"{b}_obs"] - shift[b] for b in BANDS}

    catalog = Table()
    catalog["id"] = ids
    catalog["ra"], catalog["dec"] = ra, dec
    catalog["label"] = physical  # replaced by the chosen definition once the spectra exist
    for b in BANDS:
        catalog[b] = mags[b]
    for b in BANDS:  # errors as a pipeline reports them: from the observed magnitude, not the true one
        catalog[f"{b}_err"] = psf_mag_error(cols[f"{b}_obs"], b, cols["seeing_r"], cols["sky_offset"])
    catalog["u_g"] = mags["u"] - mags["g"]
    catalog["g_r"] = mags["g"] - mags["r"]
    catalog["r_i"] = mags["r"] - mags["i"]
    catalog["i_z"] = mags["i"] - mags["z"]
    catalog["ebv"] = map_ebv(cols["ebv"], seed)
    catalog["g_fib"] = cols["g_obs"] - 2.5 * np.log10(fibre_fraction(cols["seeing_r"] * SEEING_BAND_FACTOR["g"]))
    catalog["seeing_r"] = cols["seeing_r"]
    catalog["sky_offset"] = cols["sky_offset"]
    for name, unit in (("ra", "deg"), ("dec", "deg"), ("seeing_r", "arcsec")):
        catalog[name].unit = unit
    catalog.meta.update(simulator_version=SIMULATOR_VERSION, extinction_corrected=config.extinction_corrected)
    if config.engine == "empirical":
        catalog.meta["coverage_rejections"] = rejected

    truth = Table()
    truth["id"] = ids
    truth["kind"] = kind
    truth["label_physical"] = physical
    for k in ("teff", "logg", "feh", "rv", "ebv"):
        truth[k] = cols[k]
    if "engine_star" in cols:
        truth["engine_star"] = cols["engine_star"].astype(np.int64)  # whose MILES residual the star carries
    for b in BANDS:
        truth[f"{b}_true"] = cols[f"{b}_true"]
    truth["teff"].unit, truth["rv"].unit = "K", "km/s"
    return catalog, truth


def map_ebv(ebv: np.ndarray, seed: int) -> np.ndarray:
    """A dust map's E(B−V) for stars of true reddening ``ebv``: MAP_EBV_SCATTER relative error, never negative."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    return np.maximum(np.asarray(ebv, dtype=float) * (1.0 + MAP_EBV_SCATTER * rng.standard_normal(len(ebv))), 0.0)


def _chunk_rngs(seed: int, chunk: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    spec, img, lab = np.random.SeedSequence([seed, 1, chunk]).spawn(3)
    return np.random.default_rng(spec), np.random.default_rng(img), np.random.default_rng(lab)


def _simulate_chunk(task: tuple) -> tuple[slice, dict[str, np.ndarray], np.ndarray | None, dict[str, np.ndarray]]:
    """Pixels and cut labels of one CHUNK of stars (a pure function of its arguments: any process may run it)."""
    config, seed, ci, sl, truth_cols, seeing, sky_offset, cutout_size, with_cutouts = task
    rng_spec, rng_img, rng_lab = _chunk_rngs(seed, ci)
    true_mags = {b: truth_cols[f"{b}_true"] for b in BANDS}
    intrinsic = None
    if config.engine == "empirical":
        intrinsic = observed_flux(
            default_engine(), config.spectrum, truth_cols["teff"], truth_cols["logg"], truth_cols["feh"],
            truth_cols["engine_star"], true_mags["g"], truth_cols["rv"],
        )
    sim = simulate_spectra(
        config.spectrum, rng_spec, true_mags, truth_cols["teff"], truth_cols["logg"], truth_cols["feh"],
        truth_cols["rv"], truth_cols["ebv"], seeing, deredden=config.extinction_corrected, intrinsic=intrinsic,
    )
    labels = xue_labels(config.labels, rng_lab, sim["clean"], sim["flux"], sim["ivar"])
    cutouts = None
    if with_cutouts:
        reddened = {b: v + BAND_EXTINCTION[b] * truth_cols["ebv"] for b, v in true_mags.items()}
        cutouts = render_cutouts(config.image, rng_img, reddened, seeing, sky_offset, cutout_size)
    return sl, {"flux": sim["flux"], "ivar": sim["ivar"]}, cutouts, labels


def simulate(
    n: int,
    seed: int,
    bhb_fraction: float = DEFAULT_BHB_FRACTION,
    cutout_size: int = CUTOUT_SIZE,
    progress: ProgressCallback | None = None,
    config: SimulatorConfig | None = None,
    with_cutouts: bool = True,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    workers: int = 1,
) -> Sky:
    """The catalogue, spectra N×NPIX, ivar N×NPIX, cutouts N×5×S×S (or None) and truth of n stars.

    ``out`` may hold preallocated (e.g. memory-mapped) spectra, ivar and cutouts arrays to fill.
    ``workers`` > 1 renders chunks in that many processes; every chunk has its own random streams,
    so the arrays are the same for any number of workers.
    """
    config = config or SimulatorConfig()
    progress = progress or no_progress
    catalog, truth = simulate_population(n, seed, bhb_fraction, config)
    if out is None:
        spectra = np.empty((n, NPIX), dtype=np.float32)
        ivar = np.empty((n, NPIX), dtype=np.float32)
        cutouts = np.empty((n, len(BANDS), cutout_size, cutout_size), dtype=np.float32) if with_cutouts else None
    else:
        spectra, ivar, cutouts = out
    names = (
        "teff", "logg", "feh", "rv", "ebv", *(f"{b}_true" for b in BANDS),
        *(("engine_star",) if "engine_star" in truth.colnames else ()),
    )
    cols = {k: np.asarray(truth[k]) for k in names}
    seeing, sky_offset = np.asarray(catalog["seeing_r"]), np.asarray(catalog["sky_offset"])
    tasks = []
    for ci, start in enumerate(range(0, n, CHUNK)):
        sl = slice(start, min(start + CHUNK, n))
        tasks.append(
            (
                config, seed, ci, sl, {k: v[sl] for k, v in cols.items()}, seeing[sl], sky_offset[sl], cutout_size,
                cutouts is not None,
            )
        )
    label_parts = []
    with _pool(workers, len(tasks)) as pool:
        for sl, spec, cut, labels in (pool.map(_simulate_chunk, tasks) if pool else map(_simulate_chunk, tasks)):
            spectra[sl], ivar[sl] = spec["flux"], spec["ivar"]
            if cutouts is not None:
                cutouts[sl] = cut
            label_parts.append(labels)
            progress(ProgressEvent("simulate", sl.stop, n))
    for key in label_parts[0] if label_parts else ():
        truth[key] = np.concatenate([p[key] for p in label_parts])
    if not label_parts:
        truth["label_xue"] = np.zeros(0, dtype=np.int64)
    catalog["label"] = np.asarray(
        truth["label_xue" if config.label_kind == "xue" else "label_physical"], dtype=np.int64
    )
    catalog.meta["labels"] = config.label_kind
    return Sky(catalog, spectra, ivar, cutouts, truth)


@contextlib.contextmanager
def _pool(workers: int, n_tasks: int):
    """A process pool (fork, so nothing is re-imported) when it can help, else None."""
    if workers <= 1 or n_tasks <= 1:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, n_tasks), mp_context=multiprocessing.get_context("fork")) as pool:
        yield pool


def provenance(n: int, seed: int, bhb_fraction: float, cutout_size: int, config: SimulatorConfig) -> dict:
    return {
        "source": "bhb_viewer simulator",
        "simulator_version": SIMULATOR_VERSION,
        "engine": config.engine,
        "seed": seed,
        "n": n,
        "bhb_fraction": bhb_fraction,
        "cutout_size": cutout_size,
        "labels": config.label_kind,
        "extinction_corrected": config.extinction_corrected,
        "parameters": config.as_dict(),
    }


def write_simulated(
    path: str | os.PathLike,
    n: int = DEFAULT_N,
    seed: int = 0,
    bhb_fraction: float = DEFAULT_BHB_FRACTION,
    cutout_size: int = CUTOUT_SIZE,
    progress: ProgressCallback | None = None,
    config: SimulatorConfig | None = None,
    workers: int = 1,
) -> Path:
    """Simulate straight into scratch memory maps and write a data set at ``path``, with the truth in
    ``truth.ecsv`` beside it (its sha256 in the manifest's provenance). All of it is written in a
    temporary sibling folder renamed into place at the end, so a kill leaves no half set at ``path``."""
    config = config or SimulatorConfig()
    path = Path(path)
    with staged_directory(path) as staged:
        scratch = [staged / f".scratch-{name}.npy" for name in ("spectra", "ivar", "cutouts")]
        shapes = [(n, NPIX), (n, NPIX), (n, len(BANDS), cutout_size, cutout_size)]
        spectra, ivar, cutouts = (np.lib.format.open_memmap(p, mode="w+", dtype=np.float32, shape=s)
                                  for p, s in zip(scratch, shapes, strict=True))
        try:
            sky = simulate(n, seed, bhb_fraction, cutout_size, progress, config, out=(spectra, ivar, cutouts),
                           workers=workers)
            for a in (spectra, ivar, cutouts):
                a.flush()
            write_atomic(staged / TRUTH_FILE, lambda tmp: sky.truth.write(tmp, format="ascii.ecsv", overwrite=True))
            prov = provenance(n, seed, bhb_fraction, cutout_size, config)
            prov["truth"] = {"file": TRUTH_FILE, "sha256": file_sha256(staged / TRUTH_FILE)}
            write_dataset(staged, sky.catalog, spectra, ivar, cutouts, prov)
        finally:
            del spectra, ivar, cutouts
            for p in scratch:
                p.unlink(missing_ok=True)
    return path


def read_truth(path: str | os.PathLike) -> Table:
    """The truth table written beside a simulated data set."""
    from bhb_viewer.core.errors import BadInputError

    file = Path(path) / TRUTH_FILE
    if not file.is_file():
        raise BadInputError(file, "missing: not a simulated data set, or written before simulator 2.0")
    return Table.read(file, format="ascii.ecsv")
