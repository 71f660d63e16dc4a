"""Fit the empirical spectral engine on MILES and write it under bhb_viewer/resources/engine/.

Usage::

    pip download --no-deps sdss-mangadap==4.5.0 -d /tmp/wheel
    python scripts/fit_spectral_engine.py --wheel /tmp/wheel/sdss_mangadap-4.5.0-py3-none-any.whl

The MILES stellar library (Sánchez-Blázquez et al. 2006, MNRAS 371, 703; parameters Cenarro et
al. 2007, MNRAS 374, 664) is read from the sdss-mangadap wheel, which redistributes it; the project
never depends on mangadap. Only MILES is fitted or tuned on. STELIB (also in the wheel) is used
for one thing: every MILES star whose name is also a STELIB file is held out of the fit, so a later
check on STELIB stays independent.

What is written (see bhb_viewer/resources/engine/README.md for the figures of the last run):

* ``miles_engine.npz``: the per-pixel polynomial coefficients, the rest-frame vacuum log-λ grid,
  the feature scaling and the fitted stars' parameters (for the coverage test);
* ``miles_holdout.csv``: the held-out stars (MILES number, name as MILES writes it, parameters,
  the reason each is held out);
* ``miles_holdout_spectra.npz``: their spectra as MILES gives them (air Å, 0.9 Å steps), for the
  project's real-star check;
* ``fit_report.json``: leave-one-star-out errors per region and group, against the stars' own noise.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bhb_viewer.core.science.real_stars import der_snr_noise
from bhb_viewer.core.science.spectral_engine import (
    ENGINE_FILE,
    ENGINE_VERSION,
    HOLDOUT_FILE,
    HOLDOUT_SPECTRA_FILE,
    NORM_WINDOW,
    TEFF_RANGE,
    air_to_vacuum,
    balmer_jump,
    design_matrix,
    group_of,
    resample_log,
    rest_loglam,
)

MILES_DIR = "mangadap/data/spectral_templates/miles/"
STELIB_DIR = "mangadap/data/spectral_templates/stelib/"
HOLDOUT_FRACTION = 0.2
HOLDOUT_SEED = 20_061_703  # MNRAS 371, 703: fixed once, never tuned
RIDGE = 1e-3
HB_WEIGHTS = (1.0, 2.0, 4.0, 8.0)  # tried in leave-one-out on the fitted stars only
ORDERS = (2, 3, 4)
CLIP_RMS, CLIP_BJ = 3.0, 4.0  # leave out stars this far off a first fit (× median rms, × robust σ of the jump)


def _read_params(zf: zipfile.ZipFile) -> tuple[dict[str, tuple[float, float, float]], dict[str, str]]:
    """MILES number -> (Teff, log g, [Fe/H]) from MILES_params.db, and number -> name from paramsMILES_v9.1.txt."""
    params = {}
    for line in zf.read(MILES_DIR + "MILES_params.db").decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        mid, teff, logg, feh = line.split()[:4]
        params[mid] = (float(teff), float(logg), float(feh))
    names = {}
    for line in zf.read(MILES_DIR + "paramsMILES_v9.1.txt").decode(errors="replace").splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d{4})\b", line)
        if m:
            names[m.group(2)] = m.group(1)
    return params, names


def _norm_name(name: str) -> str:
    """HD002857, HD 2857 and HD048682A all become HD2857 / HD48682: the star, not the spelling."""
    m = re.match(r"^(HD|HR|BD|HIP|G|FEIGE|LTT)([+-]?)0*(\d+)", name.upper().replace(" ", ""))
    return f"{m.group(1)}{m.group(2)}{m.group(3)}" if m else name.upper()


def _read_spectrum(zf: zipfile.ZipFile, mid: str) -> tuple[np.ndarray, np.ndarray] | None:
    member = f"{MILES_DIR}MILES_res2.50_star_m{mid}V.fits"
    if member not in zf.namelist():
        return None
    with fits.open(io.BytesIO(zf.read(member))) as hdul:
        h, data = hdul[0].header, np.asarray(hdul[0].data, dtype=float)
    wave = h["CRVAL1"] + h["CDELT1"] * (np.arange(data.size) + 1 - h["CRPIX1"])
    return wave, data


def _holdout(ids: list[str], groups: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """A seeded 20 % per group (so HB-like stars and dwarfs are both held out), plus every forced star."""
    rng = np.random.default_rng(HOLDOUT_SEED)
    out = forced.copy()
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        k = int(round(HOLDOUT_FRACTION * members.size))
        out[rng.choice(members, size=k, replace=False)] = True
    return out


def _regions(loglam: np.ndarray) -> dict[str, np.ndarray]:
    wave = 10.0**loglam
    lines = np.zeros(wave.size, bool)
    for lam in (4102.9, 4341.7, 4862.7, 6564.6):
        lines |= np.abs(wave - lam) < 20.0
    jump = wave < 3700.0
    return {"balmer_lines": lines, "balmer_jump_3545_3700": jump, "continuum": ~lines & ~jump}


def _loo(X: np.ndarray, Y: np.ndarray, w: np.ndarray, ridge: float) -> np.ndarray:
    """Leave-one-star-out residuals of a weighted ridge fit, all pixels at once (the hat-matrix identity)."""
    sw = np.sqrt(w)[:, None]
    Xw = X * sw
    A = Xw.T @ Xw + ridge * len(X) * np.eye(X.shape[1])
    A_inv = np.linalg.inv(A)
    coef = A_inv @ (Xw.T @ (Y * sw))
    hat = np.einsum("ij,jk,ik->i", Xw, A_inv, Xw)
    return (Y - X @ coef) / (1.0 - hat)[:, None]


def fit(X: np.ndarray, Y: np.ndarray, w: np.ndarray, ridge: float) -> np.ndarray:
    sw = np.sqrt(w)[:, None]
    Xw = X * sw
    return np.linalg.solve(Xw.T @ Xw + ridge * len(X) * np.eye(X.shape[1]), Xw.T @ (Y * sw))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", required=True, help="sdss_mangadap-4.5.0-py3-none-any.whl")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "bhb_viewer" / "resources" / "engine"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    zf = zipfile.ZipFile(args.wheel)
    params, names = _read_params(zf)
    stelib = {_norm_name(Path(n).stem.removeprefix("STELIB_v3.2_")) for n in zf.namelist()
              if n.startswith(STELIB_DIR) and n.endswith(".fits")}

    skipped: dict[str, list[str]] = {"no_spectrum": [], "unknown_feh_or_logg": [], "no_name": []}
    rows = []
    loglam = rest_loglam()
    for mid, (teff, logg, feh) in sorted(params.items()):
        if not TEFF_RANGE[0] <= teff <= TEFF_RANGE[1]:
            continue
        if logg > 90 or feh > 90:
            skipped["unknown_feh_or_logg"].append(mid)
            continue
        if mid not in names:
            skipped["no_name"].append(mid)
        spec = _read_spectrum(zf, mid)
        if spec is None:
            skipped["no_spectrum"].append(mid)
            continue
        wave_air, flux = spec
        vac = air_to_vacuum(wave_air)
        resampled = resample_log(np.log10(vac), flux, loglam)
        if not np.all(np.isfinite(resampled)) or np.any(resampled <= 0):
            skipped["no_spectrum"].append(mid)
            continue
        rows.append(dict(mid=mid, name=names.get(mid, "?"), teff=teff, logg=logg, feh=feh, wave_air=wave_air, flux=flux,
                         logflux=np.log10(resampled), noise=der_snr_noise(flux)))
    teff = np.array([r["teff"] for r in rows])
    logg = np.array([r["logg"] for r in rows])
    feh = np.array([r["feh"] for r in rows])
    groups = group_of(teff, logg, feh)
    forced = np.array([_norm_name(r["name"]) in stelib for r in rows])
    held = _holdout([r["mid"] for r in rows], groups, forced)
    Y_all = np.stack([r["logflux"] for r in rows])
    norm = (loglam > np.log10(NORM_WINDOW[0])) & (loglam < np.log10(NORM_WINDOW[1]))
    Y_all = Y_all - Y_all[:, norm].mean(axis=1, keepdims=True)  # log flux relative to 5,400–5,600 Å
    fit_rows = ~held
    bj_true = balmer_jump(loglam, 10.0 ** Y_all)
    X_all = {k: design_matrix(teff, logg, feh, k) for k in ORDERS}
    noise = np.array([r["noise"] for r in rows])
    regions = _regions(loglam)
    hb = groups == "hb_like"

    # Peculiar or mis-parametrised stars (e.g. a Balmer jump far from every neighbour's) would pull
    # the smooth model; a first quadratic fit finds them by leave-one-out and they are left out.
    first = _loo(X_all[2][fit_rows], Y_all[fit_rows], np.ones(fit_rows.sum()), RIDGE)
    star_rms = np.sqrt(np.mean(first**2, axis=1))
    bj_first = balmer_jump(loglam, 10.0 ** (Y_all[fit_rows] - first)) - bj_true[fit_rows]
    mad = 1.4826 * np.median(np.abs(bj_first - np.median(bj_first)))
    clip = (star_rms > CLIP_RMS * np.median(star_rms)) | (np.abs(bj_first) > CLIP_BJ * mad)
    clipped_ids = [rows[i]["mid"] for i in np.flatnonzero(fit_rows)[clip]]
    fit_rows[np.flatnonzero(fit_rows)[clip]] = False

    # Model choice on the fitted stars only: polynomial order and the weight of HB-like stars,
    # by leave-one-star-out error (Balmer-jump index of HB-like stars and all-pixel rms).
    choices = []
    for order in ORDERS:
        for hw in HB_WEIGHTS:
            w = np.where(hb, hw, 1.0)[fit_rows]
            res = _loo(X_all[order][fit_rows], Y_all[fit_rows], w, RIDGE)
            bj_loo = balmer_jump(loglam, 10.0 ** (Y_all[fit_rows] - res))
            err = bj_loo - bj_true[fit_rows]
            choices.append(dict(order=order, hb_weight=hw, rms_dex=float(np.sqrt(np.mean(res**2))),
                                bj_rms_hb=float(np.sqrt(np.mean(err[hb[fit_rows]] ** 2))),
                                bj_rms_dwarf=float(np.sqrt(np.mean(err[groups[fit_rows] == "dwarf"] ** 2)))))
    # Lowest combined error: all-pixel rms (dex) plus the HB-like Balmer-jump rms (mag, /2.5 → dex).
    best = min(choices, key=lambda c: c["rms_dex"] + c["bj_rms_hb"] / 2.5)
    order, hw = best["order"], best["hb_weight"]
    w_all = np.where(hb, hw, 1.0)
    X = X_all[order]
    coef = fit(X[fit_rows], Y_all[fit_rows], w_all[fit_rows], RIDGE)
    res = _loo(X[fit_rows], Y_all[fit_rows], w_all[fit_rows], RIDGE)
    held_res = Y_all[held] - X[held] @ coef

    def region_figures(resid: np.ndarray, sel_noise: np.ndarray, group_mask: np.ndarray) -> dict:
        outd = {"n": int(group_mask.sum())}
        if not group_mask.any():
            return outd
        for name, pix in regions.items():
            r = resid[group_mask][:, pix]
            frac = np.log(10.0) * np.sqrt(np.mean(r**2, axis=1))  # fractional rms per star
            outd[name] = {"rms_percent": round(float(100 * np.median(frac)), 2),
                          "over_own_noise": round(float(np.median(frac / sel_noise[group_mask])), 2)}
        return outd

    report = {
        "engine_version": ENGINE_VERSION,
        "teff_range": TEFF_RANGE,
        "n_in_range": len(rows),
        "skipped": skipped,
        "n_fitted": int(fit_rows.sum()),
        "clipped": [f"s{m} {names.get(m, '?')}" for m in clipped_ids],
        "n_held_out": int(held.sum()),
        "n_forced_stelib": int(forced.sum()),
        "groups_fitted": {g: int(((groups == g) & fit_rows).sum()) for g in np.unique(groups)},
        "groups_held_out": {g: int(((groups == g) & held).sum()) for g in np.unique(groups)},
        "choice": best,
        "choices": choices,
        "ridge": RIDGE,
        "median_noise_percent": round(float(100 * np.median(noise)), 2),
        "loo_fitted": {g: region_figures(res, noise[fit_rows], groups[fit_rows] == g) for g in np.unique(groups)},
        "held_out": {g: region_figures(held_res, noise[held], groups[held] == g) for g in np.unique(groups)},
    }
    bj_fit = balmer_jump(loglam, 10.0 ** (Y_all[fit_rows] - res))
    bj_held = balmer_jump(loglam, 10.0 ** (X[held] @ coef))
    for key, pred, sel in (("bj_loo_fitted", bj_fit, fit_rows), ("bj_held_out", bj_held, held)):
        err = pred - bj_true[sel]
        report[key] = {
            g: {
                "n": int((groups[sel] == g).sum()),
                "bias_mag": round(float(np.mean(err[groups[sel] == g])), 3) if (groups[sel] == g).any() else None,
                "rms_mag": round(float(np.sqrt(np.mean(err[groups[sel] == g] ** 2))), 3)
                if (groups[sel] == g).any()
                else None,
            }
            for g in np.unique(groups)
        }
    hb_d = bj_true[hb].mean() - bj_true[groups == "dwarf"].mean()
    report["bj_hb_minus_dwarf_mag"] = round(float(hb_d), 3)

    np.savez_compressed(
        out / ENGINE_FILE,
        coef=coef.astype(np.float32),
        loglam=loglam,
        order=np.int64(order),
        teff=teff[fit_rows],
        logg=logg[fit_rows],
        feh=feh[fit_rows],
        version=np.str_(ENGINE_VERSION),
        residuals=res.astype(np.float16),
        ids=np.array([f"s{r['mid']}" for r, f in zip(rows, fit_rows, strict=True) if f]),
    )
    with open(out / HOLDOUT_FILE, "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["miles_id", "name", "teff", "logg", "feh", "group", "reason"])
        for r, g, f in zip(np.array(rows, dtype=object)[held], groups[held], forced[held], strict=True):
            wr.writerow(
                [f"s{r['mid']}", r["name"], r["teff"], r["logg"], r["feh"], g, "also in STELIB" if f else "seeded draw"]
            )
    held_rows = [r for r, h in zip(rows, held, strict=True) if h]
    np.savez_compressed(out / HOLDOUT_SPECTRA_FILE, ids=np.array([f"s{r['mid']}" for r in held_rows]),
                        wave_air=held_rows[0]["wave_air"].astype(np.float64),
                        flux=np.stack([r["flux"] for r in held_rows]).astype(np.float32))
    report["sha256"] = {p: _sha256(out / p) for p in (ENGINE_FILE, HOLDOUT_FILE, HOLDOUT_SPECTRA_FILE)}
    report["source_wheel_sha256"] = _sha256(Path(args.wheel))
    (out / "fit_report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(
        json.dumps(
            {
                k: report[k]
                for k in (
                    "n_in_range", "n_fitted", "clipped", "n_held_out", "n_forced_stelib", "choice", "groups_fitted",
                    "groups_held_out", "bj_loo_fitted", "bj_held_out", "bj_hb_minus_dwarf_mag",
                )
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
