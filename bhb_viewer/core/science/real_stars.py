"""The real-star check: held-out MILES stars, as files the app reads, and the figures of their scores.

The simulated sky can only say how a model does on the simulator. The 91 MILES stars held out of
the spectral engine's fit (``bhb_viewer/resources/engine/miles_holdout.csv``) are real stars the model never
saw, with known Teff, log g and [Fe/H]: HB-like ones (log g ≤ 3.6, [Fe/H] ≤ −0.8, 7,000–10,500 K)
and dwarfs (log g ≥ 3.8, same Teff). :func:`write_inputs` writes each as a 1-D FITS spectrum (as
MILES publishes it: air wavelengths, 0.9 Å steps, with a 1σ error extension from the spectrum's
own DER_SNR noise) and a catalogue naming those files, with ugriz synthesised from the spectra.

MILES starts at 3,540.5 Å (air), short of the u filter's blue half: for this check each star's
own flux is extended below it with the engine's Balmer-continuum model (a power law fitted to the
star's own 3,550–3,640 Å, :func:`bhb_viewer.core.science.spectral_engine.power_law_extension`), and u's error
carries 0.05 mag for it. MILES ends at 7,410 Å, so i and z stay missing, as they would for a
candidate whose spectrum does not cover them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from scipy.stats import spearmanr

from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.readers.spectra import own_noise
from bhb_viewer.core.resources import resource_path
from bhb_viewer.core.science.metrics import auc as area_under
from bhb_viewer.core.science.metrics import roc_curve
from bhb_viewer.core.science.photometry import synthesize
from bhb_viewer.core.science.spectral_engine import (
    BLUE_FIT,
    ENGINE_DIR,
    HOLDOUT_FILE,
    HOLDOUT_SPECTRA_FILE,
    air_to_vacuum,
    power_law_extension,
    sed_loglam,
)

EXTENSION_ERR = 0.05  # mag added to u for the modelled flux below MILES
CALIBRATION_ERR = 0.02  # mag: MILES's relative flux calibration, per band
N_BOOT = 2000
PLACED_G = 18.0  # MILES fluxes are in arbitrary units: each star is placed at this g (colours unchanged)


def read_holdout() -> Table:
    """The held-out stars: miles_id, name, teff, logg, feh, group, reason."""
    with open(resource_path(ENGINE_DIR / HOLDOUT_FILE)) as fh:
        rows = list(csv.DictReader(fh))
    table = Table(rows=[[r[k] for k in rows[0]] for r in rows], names=list(rows[0]))
    for k in ("teff", "logg", "feh"):
        table[k] = table[k].astype(float)
    return table


def der_snr_noise(flux: np.ndarray) -> float:
    """Relative 1σ noise of a spectrum from its own pixels (DER_SNR,
    :func:`bhb_viewer.core.readers.spectra.own_noise`)."""
    return float(own_noise(flux) / np.median(flux[np.isfinite(flux)]))


def extended_magnitudes(wave_air: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ugriz (SDSS system; NaN where the spectrum cannot give them) of a MILES spectrum extended bluewards."""
    loglam = np.log10(air_to_vacuum(wave_air))
    out_ll = sed_loglam()
    blue = out_ll < loglam[0]
    ext = power_law_extension(loglam, flux, BLUE_FIT, out_ll[blue])[0]
    wave = np.concatenate([10.0 ** out_ll[blue], 10.0**loglam])
    mags, errs = synthesize(wave, np.concatenate([ext, flux]))
    errs = np.hypot(errs, CALIBRATION_ERR)
    errs[BANDS.index("u")] = np.hypot(errs[BANDS.index("u")], EXTENSION_ERR)
    return mags, np.where(np.isfinite(mags), errs, np.nan)


def write_inputs(folder: str | Path) -> tuple[Path, Table]:
    """FITS spectra and a catalogue (``catalog.ecsv``) of the held-out stars; returns it and the truth."""
    folder = Path(folder)
    (folder / "spectra").mkdir(parents=True, exist_ok=True)
    truth = read_holdout()
    with np.load(resource_path(ENGINE_DIR / HOLDOUT_SPECTRA_FILE)) as z:
        ids, wave_air, flux = [str(i) for i in z["ids"]], z["wave_air"], z["flux"].astype(np.float64)
    order = {mid: i for i, mid in enumerate(ids)}
    cat = Table()
    cat["id"] = truth["miles_id"]
    cat["ra"] = np.linspace(10.0, 350.0, len(truth))  # distinct made-up positions: the check matches by id
    cat["dec"] = np.linspace(-20.0, 60.0, len(truth))
    mags = np.full((len(truth), len(BANDS)), np.nan)
    errs = np.full((len(truth), len(BANDS)), np.nan)
    files = []
    for k, mid in enumerate(truth["miles_id"]):
        f = flux[order[mid]]
        mags[k], errs[k] = extended_magnitudes(wave_air, f)
        mags[k] += PLACED_G - mags[k, BANDS.index("g")]
        name = f"spectra/miles-{mid}.fits"
        hdr = fits.Header({"CRVAL1": float(wave_air[0]), "CDELT1": float(wave_air[1] - wave_air[0]), "CRPIX1": 1.0,
                           "CTYPE1": "AWAV", "CUNIT1": "Angstrom", "OBJECT": str(truth["name"][k]),
                           "ORIGIN": "MILES v9.1 via sdss-mangadap 4.5.0"})
        err = fits.ImageHDU((der_snr_noise(f) * np.abs(f)).astype(np.float32), name="ERR")
        fits.HDUList([fits.PrimaryHDU(f.astype(np.float32), header=hdr), err]).writeto(folder / name, overwrite=True)
        files.append(name)
    cat["spectrum_file"] = files
    for j, b in enumerate(BANDS):
        cat[b] = mags[:, j]
    for j, b in enumerate(BANDS):
        cat[f"{b}_err"] = errs[:, j]
    path = folder / "catalog.ecsv"
    cat.write(path, format="ascii.ecsv", overwrite=True)
    return path, truth


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve of scores of two groups (:mod:`bhb_viewer.core.science.metrics`; ties count half)."""
    labels = np.r_[np.ones(len(positive), np.int64), np.zeros(len(negative), np.int64)]
    fpr, tpr, _ = roc_curve(labels, np.r_[positive, negative])
    return area_under(fpr, tpr)


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation, None where either side is constant (it is undefined there)."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return round(float(spearmanr(x, y).statistic), 3)


def figures(truth: Table, p: np.ndarray, seed: int = 0) -> dict:
    """The issue's figures for one score column over the HB-like and dwarf stars."""
    group = np.asarray(truth["group"])
    hb, dwarf = group == "hb_like", group == "dwarf"
    ok = np.isfinite(p)
    pos, neg = p[hb & ok], p[dwarf & ok]
    rng = np.random.default_rng(seed)
    boots = [auc(rng.choice(pos, pos.size), rng.choice(neg, neg.size)) for _ in range(N_BOOT)]
    both = (hb | dwarf) & ok
    return {
        "n_hb_like": int(pos.size), "n_dwarf": int(neg.size),
        "auc": round(auc(pos, neg), 3), "auc_95": [round(float(q), 3) for q in np.percentile(boots, [2.5, 97.5])],
        "dwarf_median_p": round(float(np.median(neg)), 3), "dwarf_share_p_ge_0.5": round(float(np.mean(neg >= 0.5)), 3),
        "hb_like_share_p_ge_0.5": round(float(np.mean(pos >= 0.5)), 3),
        "spearman_logg_p": _spearman(np.asarray(truth["logg"])[both], p[both]),
        "spearman_feh_p_dwarfs": _spearman(np.asarray(truth["feh"])[dwarf & ok], neg),
        "spearman_teff_p_dwarfs": _spearman(np.asarray(truth["teff"])[dwarf & ok], neg),
    }


AF_TEFF = (6000.0, 10500.0)  # K: the "A/F stars" whose flags the check counts


def second_opinion(truth: Table, scores: Table, seed: int = 0) -> dict:
    """How the template fit (core.science.stellar_fit) and the trust flags (core.science.trust) do on real stars.

    The AUC of −logg_fit over HB-like stars against dwarfs (bootstrap interval as :func:`figures`),
    the fit's bias and scatter against MILES's parameters, and the share of A/F stars flagged out of
    distribution: all of them, those inside the training sky's colour range (the stars a candidate
    selection keeps), and the HB-like and dwarf stars; with each flag's count.
    """
    from collections import Counter

    from bhb_viewer.core.science.trust import is_ood

    group = np.asarray(truth["group"])
    hb, dwarf = group == "hb_like", group == "dwarf"
    neg_logg = -np.asarray(scores["logg_fit"], dtype=float)
    ok = np.isfinite(neg_logg)
    pos, neg = neg_logg[hb & ok], neg_logg[dwarf & ok]
    rng = np.random.default_rng(seed)
    boots = [auc(rng.choice(pos, pos.size), rng.choice(neg, neg.size)) for _ in range(N_BOOT)]
    column = scores["flags"]
    flags = np.asarray(column.filled("") if hasattr(column, "filled") else column).astype(str)
    ood = is_ood(flags)
    teff = np.asarray(truth["teff"], dtype=float)
    af = (teff >= AF_TEFF[0]) & (teff <= AF_TEFF[1])
    out: dict = {"auc_minus_logg_fit": round(auc(pos, neg), 3),
                 "auc_95": [round(float(q), 3) for q in np.percentile(boots, [2.5, 97.5])],
                 "n_hb_like": int(pos.size), "n_dwarf": int(neg.size)}
    for key, true in (("teff", "teff"), ("logg", "logg"), ("feh", "feh")):
        d = np.asarray(scores[f"{key}_fit"], dtype=float)[af] - np.asarray(truth[true], dtype=float)[af]
        d = d[np.isfinite(d)]
        out[f"{key}_bias_af"], out[f"{key}_rms_af"] = round(float(np.mean(d)), 3), round(float(np.std(d)), 3)
    in_box = af & (np.char.find(flags, "sky:colour") < 0)  # A/F stars the candidate selection would keep
    out.update(
        n_af=int(af.sum()),
        ood_share_af=round(float(ood[af].mean()), 3),
        n_af_in_colour_range=int(in_box.sum()),
        ood_share_af_in_colour_range=round(float(ood[in_box].mean()), 3),
        ood_share_hb_dwarf=round(float(ood[hb | dwarf].mean()), 3),
        ood_share_all=round(float(ood.mean()), 3),
        flag_counts_af=dict(
            Counter(
                w.split(":")[0] + (":" + w.split(":")[1] if not w.startswith("gappy") else "")
                for s in flags[af]
                for w in s.split(";")
                if w
            )
        ),
    )
    return out
