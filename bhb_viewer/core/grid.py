"""The fixed spectral grid and band layout of BATMM_SPEC: every reader, the simulator and the model share it."""

from __future__ import annotations

import numpy as np

LOGLAM0 = 3.6021  # log10 of the first pixel's wavelength (4000 Å)
DLOGLAM = 1e-4  # SDSS coadd step in log10 λ
NPIX = 3522  # 4000–9000 Å
BANDS = ("u", "g", "r", "i", "z")
CUTOUT_SIZE = 64  # pixels per side, 0.396″ each
PIXEL_SCALE_ARCSEC = 0.396
N_SEGMENTS = 7
SEGMENT_LENGTH = 503  # 7 × 503 = 3521: the last pixel is dropped


def loglam() -> np.ndarray:
    """log10 λ (vacuum Å) of every grid pixel."""
    return LOGLAM0 + DLOGLAM * np.arange(NPIX)


def wavelength() -> np.ndarray:
    """Vacuum wavelength in Å of every grid pixel."""
    return 10.0 ** loglam()


def grid_dict() -> dict:
    """The grid as stored in manifests and checkpoint configs."""
    return {"loglam0": LOGLAM0, "dloglam": DLOGLAM, "npix": NPIX}
