"""A tiny demo-like data set (random but star-like, in the real on-disk format) for GUI and e2e tests.

A plain module, not a conftest, so the e2e tests can import it too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from bhb_viewer.core.dataset import write_dataset
from bhb_viewer.core.grid import NPIX, wavelength


def make_dataset(path: Path, n: int = 12, size: int = 64, seed: int = 0, photometry: bool = False) -> Path:
    """``n`` stars with a sloped continuum, an Hδ/Hγ-like dip, noise, and a centred PSF in 5 bands.

    ``photometry`` adds u,g,r,i,z and their errors whose u−g (a Balmer jump) alone tells the classes apart.
    """
    rng = np.random.default_rng(seed)
    wave = wavelength()
    cont = 100.0 * (wave / 5000.0) ** -2
    lines = sum(1 - 0.5 * np.exp(-0.5 * ((wave - w0) / 8.0) ** 2) for w0 in (4102.9, 4341.7, 4862.7))
    spectra = (cont * lines * rng.uniform(0.5, 2.0, (n, 1)) + rng.normal(0, 2.0, (n, NPIX))).astype(np.float32)
    ivar = np.full((n, NPIX), 0.25, dtype=np.float32)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    psf = np.exp(-(xx**2 + yy**2) / (2 * 1.5**2))
    stars = psf[None, None] * rng.uniform(5, 50, (n, 5, 1, 1))
    cutouts = (stars + rng.normal(0, 0.3, (n, 5, size, size))).astype(np.float32)
    catalog = Table({
        "id": [f"star{i:03d}" for i in range(n)],
        "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-10, 60, n),
        "g": rng.uniform(15, 19, n), "u_g": rng.uniform(0.9, 1.3, n), "g_r": rng.uniform(-0.3, 0.0, n),
        "label": np.arange(n) % 2,
    })
    if photometry:
        _add_magnitudes(catalog, rng)
    return write_dataset(path, catalog, spectra, ivar, cutouts, {"source": "test"})


def _add_magnitudes(catalog: Table, rng: np.random.Generator) -> None:
    """ugriz and errors: BHB stars (label 1) 0.25 mag redder in u−g than the others, nothing else differs."""
    n = len(catalog)
    catalog["u_g"] = np.where(catalog["label"] == 1, 1.2, 0.95) + rng.normal(0, 0.04, n)
    g = np.asarray(catalog["g"])
    r = g - np.asarray(catalog["g_r"])
    i = r - rng.normal(-0.1, 0.05, n)
    mags = {"u": g + np.asarray(catalog["u_g"]), "g": g, "r": r, "i": i, "z": i - rng.normal(-0.05, 0.05, n)}
    for band, values in mags.items():
        catalog[band] = values
        catalog[f"{band}_err"] = rng.uniform(0.01, 0.05, n)
