"""Labels as a survey would assign them: the physical class, and the class of the Xue et al. cuts.

The paper's positives are Xue et al. (2011)'s BHB stars, selected by cuts on Balmer-line
measurements (D0.2 and fm of Hδ, b and c of Hγ), and its negatives stars failing them; the
simulator's physical class (horizontal-branch gravity or not) agrees with that for most but not
all stars. Both are recorded; ``bhb simulate --labels`` picks which one becomes ``label``.

The trap to avoid: cut labels taken from the app's own Balmer fit of the *same observed*
spectrum would agree with the classical baseline by construction (same noise, same estimator).
An independent catalogue measured its own spectrum, so here the cut label comes from the star's
*true* line parameters (the fit of its noise-free spectrum) plus an independent measurement error
of the size such a catalogue has at the star's S/N. That size is the scatter of a Sérsic-profile
fit at that S/N (the method Xue et al. used, on spectra of the same survey), measured once with
this project's fit on repeated noise draws (``LabelModel`` says the values) and scaling as 1/(S/N).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bhb_viewer.core.dataset import LABEL_BHB, LABEL_NON_BHB
from bhb_viewer.core.grid import wavelength
from bhb_viewer.core.science.balmer import measure_arrays, passes_cuts

LABEL_CHOICES = ("xue", "physical")
SN_WINDOW = (4000.0, 5500.0)  # Å: the g band, where SDSS quotes a spectrum's S/N


@dataclass(frozen=True)
class LabelModel:
    """1σ measurement errors at a median per-pixel S/N of 20 (scaled as 20/SN, S/N floored at 3)."""

    # Robust σ of (fit of the observed spectrum − fit of the noise-free one)·S/N/20 over 1,024
    # simulated stars (seed 3), i.e. this fit's own scatter on SDSS-like spectra at S/N 20.
    d02_err: float = 1.43  # Å
    fm_err: float = 0.028
    b_err: float = 0.57  # Å (Hγ)
    c_err: float = 0.10

    def as_dict(self) -> dict:
        return asdict(self)


def median_snr(flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """Median per-pixel S/N over the g band's unmasked pixels (NaN when all are masked)."""
    wave = wavelength()
    sel = (wave >= SN_WINDOW[0]) & (wave <= SN_WINDOW[1])
    iv = np.asarray(ivar[:, sel], dtype=float)
    sn = np.where(iv > 0, np.asarray(flux[:, sel], dtype=float) * np.sqrt(np.maximum(iv, 0.0)), np.nan)
    with np.errstate(all="ignore"):
        return np.nanmedian(sn, axis=1) if sn.size else np.zeros(len(flux))


def xue_labels(
    model: LabelModel, rng: np.random.Generator, clean: np.ndarray, flux: np.ndarray, ivar: np.ndarray
) -> dict[str, np.ndarray]:
    """Cut labels and the line parameters behind them for stars with noise-free spectra ``clean``.

    ``flux``/``ivar`` (the observed spectra) only set the size of the measurement error, through
    the S/N; the error itself is an independent draw.
    """
    true = measure_arrays(clean, np.ones_like(clean))
    snr = median_snr(flux, ivar)
    scale = 20.0 / np.clip(np.nan_to_num(snr, nan=3.0), 3.0, None)
    n = len(clean)
    out = {"snr": snr}
    errs = {"d02": model.d02_err, "fm": model.fm_err, "b_hg": model.b_err, "c_hg": model.c_err}
    for key, err in errs.items():
        out[f"{key}_true"] = true[key]
        out[f"{key}_xue"] = true[key] + err * scale * rng.standard_normal(n)
    passed = passes_cuts(out["d02_xue"], out["fm_xue"], out["b_hg_xue"], out["c_hg_xue"]) & true["balmer_ok"]
    out["label_xue"] = np.where(passed, LABEL_BHB, LABEL_NON_BHB).astype(np.int64)
    return out
