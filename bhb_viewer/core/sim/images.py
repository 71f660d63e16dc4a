"""Simulated SDSS ugriz cutouts (nanomaggies, sky-subtracted, 0.396″/px) and the matching PSF photometry.

The star is a double-Gaussian PSF (core + 10 % wing at twice the width) whose width follows the
night's seeing (r-band quartiles 1.30/1.43/1.58″; u about 1.3× wider than r, as the real stamps'
PSF models say), with faint diffraction spikes along the rows and columns (the secondary's
support vanes); bright stars saturate and their excess charge bleeds along the column. Each band has its
own sky brightness, and the per-pixel noise is sky + object photon noise with a gain set so that a
point source at the band's limiting magnitude has S/N 5 under median seeing: u and z come out much
noisier than g and r, as in SDSS. Neighbours (field stars and small galaxies, number counts rising
to faint magnitudes) are scattered over the stamp. Everything is separable Gaussians integrated over
pixels (erf differences), so thousands of 5×64×64 stamps render in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import erf

from bhb_viewer.core.grid import BANDS, PIXEL_SCALE_ARCSEC

SKY_MAG = {"u": 22.1, "g": 21.9, "r": 20.86, "i": 20.3, "z": 19.0}  # mag/arcsec², SKY_FACTS.md
LIMIT_MAG = {"u": 22.3, "g": 23.3, "r": 23.1, "i": 22.3, "z": 20.8}  # S/N 5 point source
# PSF FWHM relative to r: u/r 1.26–1.34 on real SDSS fields (issue 9's audit), 1.24 along x on the
# stamps of run 3900 (their PSF_P* models); g 1.10, i 1.03, z 0.90 there.
SEEING_BAND_FACTOR = {"u": 1.28, "g": 1.10, "r": 1.0, "i": 1.0, "z": 0.95}
# Saturation: 35,000 counts above the sky × the real stamps' nanomaggies per count (NMGY keyword),
# so a g ≈ 14 star at good seeing has a flat core, as real ones do; SDSS saturates near r ≈ 14.
SATURATION_COUNTS = 35_000.0
NMGY_PER_COUNT = {"u": 0.0123267, "g": 0.00367446, "r": 0.00514772, "i": 0.00648873, "z": 0.0338764}
SPIKE_FRACTION = 0.004  # of the star's flux in each of the two spikes (rows, columns): visible on bright stars only
SPIKE_SCALE_PX = 6.0  # 1/(1 + (d/scale)²) fall-off along a spike
SEEING_MEDIAN_R = 1.43  # arcsec FWHM; quartiles 1.30 / 1.58
SEEING_LN_SIGMA = np.log(1.58 / 1.30) / 1.349
SKY_LN_SIGMA = np.log(10.0) * 0.4 * (21.03 - 20.70) / 1.349  # r-band sky quartiles 20.70 / 21.03
WING_FRACTION, WING_SCALE = 0.1, 2.0
CALIBRATION_FLOOR = 0.01  # mag, added in quadrature to PSF magnitude errors


@dataclass(frozen=True)
class ImageModel:
    neighbours_per_stamp: float = 1.5
    neighbour_mag: tuple[float, float] = (16.0, 23.5)
    neighbour_count_slope: float = 0.3  # dN/dm ∝ 10^(slope·m)
    galaxy_fraction: float = 0.6
    min_neighbour_distance_px: float = 5.0
    centre_jitter_px: float = 0.25

    def as_dict(self) -> dict:
        return asdict(self)


def sky_per_pixel(band: str, sky_offset_mag: np.ndarray | float = 0.0) -> np.ndarray:
    """Sky level in nanomaggies per pixel."""
    return 10.0 ** (-0.4 * (SKY_MAG[band] + np.asarray(sky_offset_mag) - 22.5)) * PIXEL_SCALE_ARCSEC**2


def _sigma_px(fwhm_arcsec: np.ndarray | float) -> np.ndarray:
    return np.asarray(fwhm_arcsec) / 2.3548 / PIXEL_SCALE_ARCSEC


def _effective_pixels(sigma_px: np.ndarray) -> np.ndarray:
    """Noise-equivalent area of the double-Gaussian PSF (pixels)."""
    s1, s2 = sigma_px, sigma_px * WING_SCALE
    f1, f2 = 1.0 - WING_FRACTION, WING_FRACTION
    inv = f1**2 / (4 * np.pi * s1**2) + f2**2 / (4 * np.pi * s2**2) + 2 * f1 * f2 / (2 * np.pi * (s1**2 + s2**2))
    return 1.0 / inv


def electrons_per_nanomaggy(band: str) -> float:
    """Gain that makes a limiting-magnitude point source S/N 5 on the median sky and seeing."""
    flux = 10.0 ** (-0.4 * (LIMIT_MAG[band] - 22.5))
    n_eff = _effective_pixels(_sigma_px(SEEING_MEDIAN_R * SEEING_BAND_FACTOR[band]))
    # S/N = F·k / sqrt(F·k + n_eff·sky·k) = 5  →  k = 25 (F + n_eff·sky) / F²
    return float(25.0 * (flux + n_eff * sky_per_pixel(band)) / flux**2)


def psf_snr(mag: np.ndarray, band: str, seeing_r: np.ndarray, sky_offset_mag: np.ndarray | float = 0.0) -> np.ndarray:
    flux = 10.0 ** (-0.4 * (np.asarray(mag) - 22.5))
    k = electrons_per_nanomaggy(band)
    n_eff = _effective_pixels(_sigma_px(np.asarray(seeing_r) * SEEING_BAND_FACTOR[band]))
    return flux * k / np.sqrt(flux * k + n_eff * sky_per_pixel(band, sky_offset_mag) * k)


def psf_mag_error(
    mag: np.ndarray, band: str, seeing_r: np.ndarray, sky_offset_mag: np.ndarray | float = 0.0
) -> np.ndarray:
    snr = psf_snr(mag, band, seeing_r, sky_offset_mag)
    return np.hypot(1.0857 / snr, CALIBRATION_FLOOR)


def draw_conditions(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Seeing (r FWHM, arcsec) and sky offset (mag, same for all bands) per star."""
    return {
        "seeing_r": SEEING_MEDIAN_R * np.exp(rng.normal(0.0, SEEING_LN_SIGMA, n)),
        "sky_offset": rng.normal(0.0, SKY_LN_SIGMA / (0.4 * np.log(10.0)), n),
    }


def _pixel_profile(centre: np.ndarray, sigma: np.ndarray, size: int) -> np.ndarray:
    """A unit Gaussian integrated over each pixel along one axis (N×size); pixel i spans [i, i+1)."""
    edges = np.arange(size + 1, dtype=float)[None, :]
    z = (edges - np.asarray(centre)[:, None]) / (np.sqrt(2.0) * np.asarray(sigma)[:, None])
    cdf = 0.5 * (1.0 + erf(z))
    return np.diff(cdf, axis=1)


def _add_gaussians(img: np.ndarray, flux: np.ndarray, x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> None:
    """img (N×S×S) += flux · 2-D Gaussian at (x, y) with width sigma (all length N)."""
    size = img.shape[-1]
    gx = _pixel_profile(x, sigma, size)
    gy = _pixel_profile(y, sigma, size)
    img += np.asarray(flux)[:, None, None] * gy[:, :, None] * gx[:, None, :]


def _add_psf(img, flux, x, y, sigma):
    _add_gaussians(img, flux * (1.0 - WING_FRACTION), x, y, sigma)
    _add_gaussians(img, flux * WING_FRACTION, x, y, sigma * WING_SCALE)


def render_cutouts(
    model: ImageModel,
    rng: np.random.Generator,
    mags: dict[str, np.ndarray],
    seeing_r: np.ndarray,
    sky_offset: np.ndarray,
    size: int,
) -> np.ndarray:
    """N×5×size×size float32 stamps in nanomaggies, the target at the centre."""
    n = len(seeing_r)
    out = np.zeros((n, len(BANDS), size, size), dtype=np.float32)
    centre = size / 2.0
    cx = centre + rng.uniform(-model.centre_jitter_px, model.centre_jitter_px, n)
    cy = centre + rng.uniform(-model.centre_jitter_px, model.centre_jitter_px, n)
    # Neighbours: positions, magnitudes (power-law counts), type, colours and sizes, shared by bands.
    k = rng.poisson(model.neighbours_per_stamp, n)
    kmax = int(k.max()) if n else 0
    m_lo, m_hi = model.neighbour_mag
    a = model.neighbour_count_slope * np.log(10.0)
    uu = rng.uniform(size=(n, kmax))
    nb_r = np.log(np.exp(a * m_lo) + uu * (np.exp(a * m_hi) - np.exp(a * m_lo))) / a
    angle = rng.uniform(0, 2 * np.pi, (n, kmax))
    radius = np.sqrt(rng.uniform((model.min_neighbour_distance_px / size) ** 2, 0.5, (n, kmax))) * size
    nb_x = centre + radius * np.cos(angle)
    nb_y = centre + radius * np.sin(angle)
    galaxy = rng.uniform(size=(n, kmax)) < model.galaxy_fraction
    # colours relative to r: stars along the main-sequence locus, galaxies red
    gr = np.where(galaxy, rng.normal(0.9, 0.3, (n, kmax)), rng.uniform(0.3, 1.5, (n, kmax)))
    nb_mag = {
        "r": nb_r,
        "g": nb_r + gr,
        "u": nb_r + gr + np.where(galaxy, rng.normal(1.6, 0.4, (n, kmax)), 1.0 + 1.2 * gr),
        "i": nb_r - 0.4 * gr,
        "z": nb_r - 0.6 * gr,
    }
    gal_size = np.where(galaxy, rng.lognormal(np.log(0.8), 0.5, (n, kmax)) / PIXEL_SCALE_ARCSEC, 0.0)
    present = np.arange(kmax)[None, :] < k[:, None]
    for bi, band in enumerate(BANDS):
        sigma = _sigma_px(seeing_r * SEEING_BAND_FACTOR[band])
        img = np.zeros((n, size, size))
        _add_psf(img, 10.0 ** (-0.4 * (mags[band] - 22.5)), cx, cy, sigma)
        for j in range(kmax):
            flux = np.where(present[:, j], 10.0 ** (-0.4 * (nb_mag[band][:, j] - 22.5)), 0.0)
            width = np.hypot(sigma, gal_size[:, j])
            _add_psf(img, flux, nb_x[:, j], nb_y[:, j], width)
        _add_spikes(img, 10.0 ** (-0.4 * (mags[band] - 22.5)), cx, cy, sigma)
        gain = electrons_per_nanomaggy(band)
        sky = sky_per_pixel(band, sky_offset)[:, None, None]
        noise = np.sqrt((np.maximum(img, 0.0) + sky) / gain)
        observed = img + noise * rng.standard_normal(img.shape)
        saturate(observed, SATURATION_COUNTS * NMGY_PER_COUNT[band])
        out[:, bi] = observed
    return out


def _add_spikes(img: np.ndarray, flux: np.ndarray, x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> None:
    """Two diffraction spikes (along rows and columns through the star), each SPIKE_FRACTION of its flux."""
    size = img.shape[-1]
    centres = np.arange(size) + 0.5
    across_x = _pixel_profile(x, 0.5 * sigma, size)  # narrow across the spike
    across_y = _pixel_profile(y, 0.5 * sigma, size)
    along_x = 1.0 / (1.0 + ((centres[None, :] - x[:, None]) / SPIKE_SCALE_PX) ** 2)
    along_y = 1.0 / (1.0 + ((centres[None, :] - y[:, None]) / SPIKE_SCALE_PX) ** 2)
    along_x /= along_x.sum(1, keepdims=True)
    along_y /= along_y.sum(1, keepdims=True)
    f = SPIKE_FRACTION * np.asarray(flux)[:, None, None]
    img += f * (across_y[:, :, None] * along_x[:, None, :] + along_y[:, :, None] * across_x[:, None, :])


def saturate(img: np.ndarray, level: float) -> None:
    """Clip pixels at ``level`` and bleed each column's excess charge up and down from its peak (in place).

    Only the few stars that reach the level are visited, so the common case costs one comparison.
    """
    over = (img > level).any(axis=(1, 2))
    for k in np.flatnonzero(over):
        stamp = img[k]
        excess = np.maximum(stamp - level, 0.0).sum(axis=0)
        np.minimum(stamp, level, out=stamp)
        for col in np.flatnonzero(excess > 0):
            row = int(np.argmax(stamp[:, col]))
            left, step = excess[col], 1
            while left > 0 and step < stamp.shape[0]:
                for r in (row - step, row + step):
                    if 0 <= r < stamp.shape[0] and left > 0:
                        room = max(level - stamp[r, col], 0.0)
                        take = min(room, left / 2 if r == row - step else left)
                        stamp[r, col] += take
                        left -= take
                step += 1
