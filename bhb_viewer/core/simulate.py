"""The built-in sky: labelled BHB and non-BHB stars with SDSS-like spectra and ugriz cutouts.

It stands in for SDSS where there is no network, so it must be as hard as the real problem, no
easier: the population (:mod:`simulate_population`), spectra (:mod:`simulate_spectra`) and images
(:mod:`simulate_images`) follow the stars' physics, and :func:`calibration_report` checks the result
against the real Xue et al. (2011) sample with the project's own Balmer-line code. Same seed, same
arrays: every random draw comes from a generator derived from the seed, in fixed-size chunks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from bhb_viewer.core.dataset import LABEL_BHB, LABEL_NON_BHB, write_dataset
from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE, NPIX
from bhb_viewer.core.progress import ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.simulate_images import ImageModel, draw_conditions, psf_mag_error, render_cutouts
from bhb_viewer.core.simulate_population import PopulationModel, draw_stars, in_colour_box
from bhb_viewer.core.simulate_spectra import SpectrumModel, simulate_spectra

SIMULATOR_VERSION = "1.0"
PAPER_N_BHB, PAPER_N_NON_BHB = 4752, 7280
DEFAULT_N = PAPER_N_BHB + PAPER_N_NON_BHB
DEFAULT_BHB_FRACTION = PAPER_N_BHB / DEFAULT_N
CHUNK = 256  # stars per generator stream: fixed, so results never depend on memory settings


@dataclass(frozen=True)
class SimulatorConfig:
    population: PopulationModel = field(default_factory=PopulationModel)
    spectrum: SpectrumModel = field(default_factory=SpectrumModel)
    image: ImageModel = field(default_factory=ImageModel)

    def as_dict(self) -> dict:
        return {"population": self.population.as_dict(), "spectrum": self.spectrum.as_dict(), "image": self.image.as_dict()}


def _class_stars(config: SimulatorConfig, rng: np.random.Generator, n: int, bhb: bool) -> dict[str, np.ndarray]:
    """n stars of one class inside the candidate colour box, with observed PSF magnitudes."""
    parts: list[dict[str, np.ndarray]] = []
    have = 0
    while not parts or have < n:  # at least one batch, so n = 0 still yields typed empty columns
        m = max(64, int(1.6 * (n - have)))
        stars = draw_stars(config.population, rng, m, bhb)
        stars.update(draw_conditions(rng, m))
        for b in BANDS:
            err = psf_mag_error(stars[f"{b}_true"], b, stars["seeing_r"], stars["sky_offset"])
            stars[f"{b}_err"] = err
            stars[b] = stars[f"{b}_true"] + err * rng.standard_normal(m)
        keep = in_colour_box(stars["u"] - stars["g"], stars["g"] - stars["r"])
        parts.append({k: v[keep] for k, v in stars.items()})
        have += int(keep.sum())
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


def simulate_catalog(n: int, seed: int, bhb_fraction: float = DEFAULT_BHB_FRACTION, config: SimulatorConfig | None = None) -> Table:
    """The stars (truth and observed photometry), in random order; no pixels yet."""
    config = config or SimulatorConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    n_bhb = int(round(n * bhb_fraction))
    bhb = _class_stars(config, rng, n_bhb, True)
    non = _class_stars(config, rng, n - n_bhb, False)
    order = rng.permutation(n)
    cols = {k: np.concatenate([bhb[k], non[k]])[order] for k in bhb}
    label = np.concatenate([np.full(n_bhb, LABEL_BHB), np.full(n - n_bhb, LABEL_NON_BHB)])[order]
    kind = np.where(label == LABEL_BHB, "BHB", np.where(cols["feh"] < -1.0, "blue straggler", "main-sequence A"))
    # High-latitude positions (|b| ≳ 30°, as for SDSS halo targets), uniform on the sphere.
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-0.3, 0.95, n)))
    table = Table()
    table["id"] = [f"sim-{seed}-{i:06d}" for i in range(n)]
    table["ra"], table["dec"] = ra, dec
    table["label"] = label.astype(np.int64)
    table["kind"] = kind
    for b in BANDS:
        table[b] = cols[b]
    for b in BANDS:
        table[f"{b}_err"] = cols[f"{b}_err"]
    table["u_g"] = cols["u"] - cols["g"]
    table["g_r"] = cols["g"] - cols["r"]
    table["r_i"] = cols["r"] - cols["i"]
    table["i_z"] = cols["i"] - cols["z"]
    for k in ("teff", "logg", "feh", "rv", "seeing_r", "sky_offset"):
        table[k] = cols[k]
    for b in BANDS:
        table[f"{b}_true"] = cols[f"{b}_true"]
    for name, unit in (("ra", "deg"), ("dec", "deg"), ("teff", "K"), ("rv", "km/s"), ("seeing_r", "arcsec")):
        table[name].unit = unit
    table.meta["simulator_version"] = SIMULATOR_VERSION
    return table


def _chunk_rngs(seed: int, chunk: int) -> tuple[np.random.Generator, np.random.Generator]:
    spec, img = np.random.SeedSequence([seed, 1, chunk]).spawn(2)
    return np.random.default_rng(spec), np.random.default_rng(img)


def simulate(
    n: int,
    seed: int,
    bhb_fraction: float = DEFAULT_BHB_FRACTION,
    cutout_size: int = CUTOUT_SIZE,
    progress: ProgressCallback | None = None,
    config: SimulatorConfig | None = None,
    with_cutouts: bool = True,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray | None]:
    """(catalog, spectra N×NPIX, ivar N×NPIX, cutouts N×5×S×S or None) for n stars.

    ``out`` may hold preallocated (e.g. memory-mapped) spectra, ivar and cutouts arrays to fill.
    """
    config = config or SimulatorConfig()
    progress = progress or no_progress
    catalog = simulate_catalog(n, seed, bhb_fraction, config)
    if out is None:
        spectra = np.empty((n, NPIX), dtype=np.float32)
        ivar = np.empty((n, NPIX), dtype=np.float32)
        cutouts = np.empty((n, len(BANDS), cutout_size, cutout_size), dtype=np.float32) if with_cutouts else None
    else:
        spectra, ivar, cutouts = out
    true_mags = {b: np.asarray(catalog[f"{b}_true"]) for b in BANDS}
    for ci, start in enumerate(range(0, n, CHUNK)):
        sl = slice(start, min(start + CHUNK, n))
        rng_spec, rng_img = _chunk_rngs(seed, ci)
        mags = {b: v[sl] for b, v in true_mags.items()}
        rows = catalog[sl]
        spectra[sl], ivar[sl] = simulate_spectra(
            config.spectrum, rng_spec, mags, np.asarray(rows["teff"]), np.asarray(rows["logg"]), np.asarray(rows["feh"]), np.asarray(rows["rv"])
        )
        if cutouts is not None:
            cutouts[sl] = render_cutouts(config.image, rng_img, mags, np.asarray(rows["seeing_r"]), np.asarray(rows["sky_offset"]), cutout_size)
        progress(ProgressEvent("simulate", sl.stop, n))
    return catalog, spectra, ivar, cutouts


def provenance(n: int, seed: int, bhb_fraction: float, cutout_size: int, config: SimulatorConfig) -> dict:
    return {
        "source": "bhb_viewer simulator",
        "simulator_version": SIMULATOR_VERSION,
        "seed": seed,
        "n": n,
        "bhb_fraction": bhb_fraction,
        "cutout_size": cutout_size,
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
) -> Path:
    """Simulate straight into scratch memory maps under ``path`` and write a data set there."""
    config = config or SimulatorConfig()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    scratch = [path / f".scratch-{name}.npy" for name in ("spectra", "ivar", "cutouts")]
    shapes = [(n, NPIX), (n, NPIX), (n, len(BANDS), cutout_size, cutout_size)]
    arrays = [np.lib.format.open_memmap(p, mode="w+", dtype=np.float32, shape=s) for p, s in zip(scratch, shapes)]
    try:
        catalog, spectra, ivar, cutouts = simulate(n, seed, bhb_fraction, cutout_size, progress, config, out=tuple(arrays))
        for a in arrays:
            a.flush()
        return write_dataset(path, catalog, spectra, ivar, cutouts, provenance(n, seed, bhb_fraction, cutout_size, config))
    finally:
        del arrays
        for p in scratch:
            p.unlink(missing_ok=True)


def calibration_report(n: int = 3000, seed: int = 1, **kwargs) -> dict:
    """The calibration figures (a) and (b); see :mod:`bhb_viewer.core.simulate_calibration`."""
    from bhb_viewer.core.simulate_calibration import calibration_report as report

    return report(n=n, seed=seed, **kwargs)
