"""Classical BHB diagnostics from the Balmer lines (Sirko et al. 2004; Xue et al. 2008, 2011).

Each line (Hδ, Hγ) is fitted, in a window around its rest wavelength, with a local linear
continuum times the Sersic profile ``1 − a·exp(−(|λ−λ0|/b)^c)``; λ0 is free so radial
velocities up to a few hundred km/s are found by the fit. From the Hδ fit come D0.2 (the full
width at 20 % below the continuum, ``2b·ln(a/0.2)^(1/c)``) and fm (the core flux relative to the
continuum, ``1 − a``); from the Hγ fit come b and c. The Xue 2011 cuts are then applied.

The fit is a Levenberg–Marquardt solved for many spectra at once (numpy batched linear algebra),
so a 12,000-star catalogue takes seconds. A fit that fails says why (``reason``) and yields NaN,
never a number that looks like a measurement.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.ndimage import uniform_filter1d

from bhb_viewer.core.grid import NPIX, wavelength
from bhb_viewer.core.progress import ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.science import lines

C_KMS = 299_792.458
HDELTA = lines.line("Hδ").wavelength  # vacuum Å, as the plot markers
HGAMMA = lines.line("Hγ").wavelength
HALF_WINDOW = 70.0  # Å either side of the rest wavelength fitted (continuum + wings)
MAX_SHIFT = 8.0  # Å the line centre may move from rest (≈ ±580 km/s at Hδ)
MIN_VALID_FRACTION = 0.8  # of the window's pixels with ivar > 0
MIN_DEPTH_SIGMA = 5.0  # the fitted depth a must be this many σ above zero
# Bounds of the profile parameters: a fit that ends on one failed.
A_RANGE = (0.02, 0.99)
B_RANGE = (1.5, 40.0)
C_RANGE = (0.3, 4.0)
N_ITER = 60
CONVERGED = 1e-7  # relative χ² gain below which a step counts as converged
CHUNK = 2048


@dataclass
class LineFit:
    """One line's fit: continuum ``cont0 + cont1·(λ−rest)/100`` times the Sersic profile."""

    name: str
    rest: float
    centre: float = np.nan
    a: float = np.nan
    b: float = np.nan
    c: float = np.nan
    cont0: float = np.nan
    cont1: float = np.nan
    chi2_dof: float = np.nan
    ok: bool = False
    reason: str = ""

    def continuum(self, wave: np.ndarray) -> np.ndarray:
        return self.cont0 + self.cont1 * (np.asarray(wave) - self.rest) / 100.0

    def normalised_profile(self, wave: np.ndarray) -> np.ndarray:
        """The fitted profile relative to the continuum (1 far from the line)."""
        u = np.abs(np.asarray(wave) - self.centre) / self.b
        return 1.0 - self.a * np.exp(-(u**self.c))

    def model(self, wave: np.ndarray) -> np.ndarray:
        """The fitted flux model, in the spectrum's units, e.g. to draw over the data."""
        return self.continuum(wave) * self.normalised_profile(wave)

    def window(self) -> tuple[float, float]:
        return self.rest - HALF_WINDOW, self.rest + HALF_WINDOW


@dataclass
class BalmerResult:
    """Diagnostics of one spectrum; NaN with ``ok=False`` and a ``reason`` where a fit failed."""

    d02: float
    fm: float
    b_hg: float
    c_hg: float
    hdelta: LineFit
    hgamma: LineFit
    ok: bool
    reason: str
    classical_bhb: bool

    @property
    def rv(self) -> float:
        """Radial velocity (km/s) from the mean shift of the two line centres."""
        return _rv(self.hdelta.centre, self.hgamma.centre)

    def profile(self, wave: np.ndarray, line: str = "hgamma") -> np.ndarray:
        """The fitted model of ``line`` ('hdelta' or 'hgamma') evaluated at ``wave``."""
        return getattr(self, line).model(wave)


def passes_cuts(d02, fm, b_hg, c_hg) -> np.ndarray:
    """The Xue 2011 cuts; NaN (a failed fit) never passes."""
    d02, fm, b, c = (np.asarray(v, dtype=float) for v in (d02, fm, b_hg, c_hg))
    with np.errstate(invalid="ignore"):
        hd = (d02 <= 29.0) & (fm <= 0.35)
        hg = (c >= 0.75) & (c <= 1.25) & (b >= 7.0) & (b <= 10.8 - 26.5 * (c - 1.08) ** 2)
    return hd & hg


def _rv(centre_hd, centre_hg):
    return 0.5 * C_KMS * ((np.asarray(centre_hd) / HDELTA - 1.0) + (np.asarray(centre_hg) / HGAMMA - 1.0))


def _design(x, p):
    """Model and Jacobian of continuum × Sersic for parameters p = (c0, c1, a, b, c, λ0), batched.

    The Jacobian is parameter-major, (6, n, m): each derivative is written as one contiguous
    plane (a pixel-major (n, m, 6) array is written with a stride of 6, ten times slower), and
    ``u**c`` is taken as ``exp(c·ln u)`` reusing the logarithm ∂/∂c needs.
    """
    c0, c1, a, b, c, lam0 = (p[:, i : i + 1] for i in range(6))
    t = x / 100.0
    dx = x - lam0
    u = np.maximum(np.abs(dx) / b, 1e-6)
    log_u = np.log(u)
    uc = np.exp(c * log_u)
    e = np.exp(-uc)
    s = 1.0 - a * e
    cont = c0 + c1 * t
    model = cont * s
    cae = cont * a * e
    jac = np.empty((6, *model.shape))
    jac[0] = s
    jac[1] = t * s
    jac[2] = -cont * e
    jac[3] = -cae * c * uc / b
    jac[4] = cae * uc * log_u
    jac[5] = -cae * c * uc / u * np.sign(dx) / b
    return model, jac


def _normal_equations(jac: np.ndarray, w: np.ndarray, r: np.ndarray | None = None):
    """JᵀWJ (n, 6, 6) and, given residuals, JᵀWr (n, 6) from a parameter-major Jacobian."""
    jw = jac * w
    h = np.matmul(jw.transpose(1, 0, 2), jac.transpose(1, 2, 0))
    return h, (None if r is None else np.einsum("inm,nm->ni", jw, r))


def _clip(p):
    p[:, 2] = np.clip(p[:, 2], *A_RANGE)
    p[:, 3] = np.clip(p[:, 3], *B_RANGE)
    p[:, 4] = np.clip(p[:, 4], *C_RANGE)
    p[:, 5] = np.clip(p[:, 5], -MAX_SHIFT, MAX_SHIFT)
    return p


def _solve(h: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Batched solve; a singular system gives a zero step for its row only."""
    try:
        return np.linalg.solve(h, g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.zeros_like(g)
        for i in range(len(g)):
            with contextlib.suppress(np.linalg.LinAlgError):
                out[i] = np.linalg.solve(h[i], g[i])
        return out


def _initial(x, y, w, half_window: float = HALF_WINDOW):
    """Starting values: continuum through the window's outer parts, centre at the smoothed minimum."""
    n = len(y)
    edge = np.abs(x) > half_window - 15.0
    we = w * edge
    sw, sx, sxx = we.sum(1), (we * x).sum(1), (we * x * x).sum(1)
    sy, sxy = (we * y).sum(1), (we * x * y).sum(1)
    det = np.where(sw * sxx - sx**2 > 0, sw * sxx - sx**2, 1.0)
    slope = (sw * sxy - sx * sy) / det
    icpt = (sy - slope * sx) / np.where(sw > 0, sw, 1.0)
    cont = icpt[:, None] + slope[:, None] * x
    smooth = uniform_filter1d(np.where(w > 0, y, cont), 5, axis=1)
    core = np.abs(x) <= MAX_SHIFT
    idx = np.argmin(np.where(core, smooth, np.inf), axis=1)
    lam0 = x[idx]
    cont_at = cont[np.arange(n), idx]
    ymin = smooth[np.arange(n), idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        a0 = np.clip(1.0 - ymin / cont_at, 0.1, 0.9)
    p = np.column_stack([icpt, slope * 100.0, a0, np.full(n, 8.0), np.full(n, 1.0), lam0])
    return p


def fit_line(
    flux: np.ndarray, ivar: np.ndarray, rest: float, half_window: float = HALF_WINDOW
) -> dict[str, np.ndarray]:
    """Fit continuum × Sersic around ``rest`` for every row of flux/ivar (N×NPIX on the grid).

    ``half_window`` (Å either side) is a parameter so the estimator's dependence on it can be measured.

    Returns arrays: centre, a, b, c, cont0, cont1, chi2_dof, ok, reason (object array of str).
    """
    x, y, w, reason = _window(flux, ivar, rest, half_window)
    p = _initial(x, y, w, half_window)
    reason[~np.all(np.isfinite(p), axis=1)] = "cannot start the fit"
    p, chi2, jac = _levenberg_marquardt(x, y, w, np.nan_to_num(p, nan=1.0))
    dof = np.maximum((w > 0).sum(1) - 6, 1)
    out = {"centre": rest + p[:, 5], "a": p[:, 2].copy(), "b": p[:, 3].copy(), "c": p[:, 4].copy(),
           "cont0": p[:, 0].copy(), "cont1": p[:, 1].copy(), "chi2_dof": chi2 / dof}
    _name_failures(p, _depth_sigma(jac, w), reason)
    ok = reason == ""
    for key in ("centre", "a", "b", "c", "cont0", "cont1"):
        out[key][~ok] = np.nan
    out["ok"] = ok
    out["reason"] = reason
    return out


def _window(flux, ivar, rest: float, half_window: float = HALF_WINDOW):
    """(x offsets from ``rest``, flux, weights, reasons) of the fitting window; masked or non-finite
    pixels weigh 0, and a window with too few valid pixels is marked failed at once."""
    flux, ivar = np.atleast_2d(flux), np.atleast_2d(ivar)
    if flux.shape != ivar.shape or flux.shape[-1] != NPIX:
        raise ValueError(f"flux and ivar must be N×{NPIX} on the grid, got {flux.shape} and {ivar.shape}")
    wave = wavelength()
    sel = np.flatnonzero(np.abs(wave - rest) <= half_window)
    window = slice(sel[0], sel[-1] + 1)  # cut first, then convert only the window to float64
    y, iv = np.asarray(flux[:, window], dtype=float), np.asarray(ivar[:, window], dtype=float)
    w = np.where(np.isfinite(y) & np.isfinite(iv) & (iv > 0), iv, 0.0)
    reason = np.full(len(y), "", dtype=object)
    reason[(w > 0).sum(1) < MIN_VALID_FRACTION * y.shape[1]] = "too few valid pixels in the window"
    return wave[window] - rest, np.where(w > 0, y, 0.0), w, reason


def _levenberg_marquardt(x, y, w, p):
    """Damped Gauss–Newton steps for all rows at once; a row leaves the loop once its χ² gain falls
    below CONVERGED or its damping runs away. Returns (parameters, χ², Jacobian at them).

    The rows still improving are kept as a compact working set, copied out only when some settle.
    """
    model, jac = _design(x, p)
    chi2 = (w * (y - model) ** 2).sum(1)
    lam = np.full(len(y), 1e-2)
    eye = np.eye(6)
    active = np.arange(len(y))
    pa, ma, ja, ca, la, wa, ya = p, model, jac, chi2, lam, w, y  # the working set (all rows at first)
    for _ in range(N_ITER):
        if active.size == 0:
            break
        h, gvec = _normal_equations(ja, wa, ya - ma)
        diag = np.einsum("nii->ni", h)
        trial = _clip(pa + _solve(h + la[:, None, None] * diag[:, :, None] * eye + 1e-12 * eye, gvec))
        m_t, j_t = _design(x, trial)
        chi2_t = (wa * (ya - m_t) ** 2).sum(1)
        better = np.isfinite(chi2_t) & (chi2_t < ca)
        gain = np.where(better, (ca - chi2_t) / np.maximum(ca, 1e-300), 0.0)
        pa[better], ma[better], ja[:, better], ca[better] = trial[better], m_t[better], j_t[:, better], chi2_t[better]
        la = np.clip(np.where(better, la * 0.3, la * 10.0), 1e-7, 1e7)
        settled = (better & (gain < CONVERGED)) | (la >= 1e4)
        if settled.any():
            if pa is not p:  # write the working set back before shrinking it
                p[active], model[active], jac[:, active], chi2[active] = pa, ma, ja, ca
            keep = ~settled
            active = active[keep]
            pa, ma, ja, ca, la = pa[keep], ma[keep], ja[:, keep], ca[keep], la[keep]
            wa, ya = wa[keep], ya[keep]
    if pa is not p:
        p[active], model[active], jac[:, active], chi2[active] = pa, ma, ja, ca
    return p, chi2, jac


def _depth_sigma(jac, w) -> np.ndarray:
    """σ of the depth ``a`` from the undamped normal matrix (NaN where it is singular)."""
    h, _ = _normal_equations(jac, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            cov_aa = np.linalg.inv(h + 1e-12 * np.eye(6))[:, 2, 2]
        except np.linalg.LinAlgError:
            cov_aa = np.full(len(h), np.nan)
        return np.sqrt(np.where(cov_aa > 0, cov_aa, np.nan))


def _name_failures(p, sigma_a, reason) -> None:
    """Fill ``reason`` (in place) for fits that ended where no measurement can be trusted."""
    tol = 1e-6
    checks = [
        (p[:, 0] <= 0, "continuum not positive"),
        (~(sigma_a > 0) | (p[:, 2] < MIN_DEPTH_SIGMA * sigma_a), "line not detected above the noise"),
        (np.abs(np.abs(p[:, 5]) - MAX_SHIFT) < tol, "line centre at the search limit"),
        ((p[:, 2] <= A_RANGE[0] + tol) | (p[:, 2] >= A_RANGE[1] - tol), "depth a at its bound"),
        ((p[:, 3] <= B_RANGE[0] + tol) | (p[:, 3] >= B_RANGE[1] - tol), "width b at its bound"),
        ((p[:, 4] <= C_RANGE[0] + tol) | (p[:, 4] >= C_RANGE[1] - tol), "shape c at its bound"),
    ]
    for bad, why in checks:
        reason[(reason == "") & bad] = why


def _measure_chunk(flux, ivar, half_window: float = HALF_WINDOW) -> dict[str, np.ndarray]:
    hd = fit_line(flux, ivar, HDELTA, half_window)
    hg = fit_line(flux, ivar, HGAMMA, half_window)
    with np.errstate(invalid="ignore", divide="ignore"):
        d02 = 2.0 * hd["b"] * np.log(hd["a"] / 0.2) ** (1.0 / hd["c"])
    reason_hd = np.where(hd["ok"] & ~(hd["a"] > 0.2), "Hδ shallower than 20 % of the continuum", hd["reason"])
    d02 = np.where(hd["ok"] & (hd["a"] > 0.2), d02, np.nan)
    fm = np.where(hd["ok"], 1.0 - hd["a"], np.nan)
    ok = (reason_hd == "") & hg["ok"]
    reason = np.array(
        [
            "; ".join(s for s in (f"Hδ: {r1}" if r1 else "", f"Hγ: {r2}" if r2 else "") if s)
            for r1, r2 in zip(reason_hd, hg["reason"], strict=False)
        ],
        dtype=object,
    )
    hd = {**hd, "ok": reason_hd == "", "reason": reason_hd}
    return {"hd": hd, "hg": hg, "d02": d02, "fm": fm, "ok": ok, "reason": reason}


def measure_arrays(
    flux_2d, ivar_2d, progress: ProgressCallback | None = None, half_window: float = HALF_WINDOW
) -> dict[str, np.ndarray]:
    """Measure many spectra; returns a dict of arrays (the columns of :func:`measure_many`)."""
    flux_2d = np.atleast_2d(flux_2d)
    ivar_2d = np.atleast_2d(ivar_2d)
    n = len(flux_2d)
    progress = progress or no_progress
    parts = []
    for start in range(0, n, CHUNK):
        parts.append(_measure_chunk(flux_2d[start : start + CHUNK], ivar_2d[start : start + CHUNK], half_window))
        progress(ProgressEvent("balmer", min(start + CHUNK, n), n))
    cols: dict[str, np.ndarray] = {}

    def cat(getter):
        return np.concatenate([getter(q) for q in parts]) if parts else np.zeros(0)

    cols["d02"] = cat(lambda q: q["d02"])
    cols["fm"] = cat(lambda q: q["fm"])
    for tag, line in (("hg", "hg"), ("hd", "hd")):
        for par in ("a", "b", "c"):
            cols[f"{par}_{tag}"] = cat(lambda q, line=line, par=par: q[line][par])
        cols[f"centre_{tag}"] = cat(lambda q, line=line: q[line]["centre"])
        cols[f"cont0_{tag}"] = cat(lambda q, line=line: q[line]["cont0"])
        cols[f"cont1_{tag}"] = cat(lambda q, line=line: q[line]["cont1"])
    cols["rv"] = _rv(cols["centre_hd"], cols["centre_hg"])
    cols["balmer_ok"] = cat(lambda q: q["ok"]).astype(bool)
    cols["balmer_reason"] = cat(lambda q: q["reason"]).astype(str) if parts else np.zeros(0, dtype=str)
    cols["classical_bhb"] = passes_cuts(cols["d02"], cols["fm"], cols["b_hg"], cols["c_hg"])
    return cols


def measure_many(flux_2d, ivar_2d, progress: ProgressCallback | None = None) -> Table:
    """Diagnostics of N spectra on the grid as a Table (d02, fm, b_hg, c_hg, balmer_ok, classical_bhb, …)."""
    cols = measure_arrays(flux_2d, ivar_2d, progress)
    order = ["d02", "fm", "b_hg", "c_hg", "balmer_ok", "classical_bhb", "balmer_reason"]
    order += [k for k in cols if k not in order]
    table = Table({k: cols[k] for k in order})
    for k in ("d02", "b_hg", "b_hd", "centre_hd", "centre_hg"):
        table[k].unit = "Angstrom"
    table["rv"].unit = "km/s"
    return table


def measure(flux, ivar) -> BalmerResult:
    """Diagnostics of one spectrum on the grid, with the fitted lines for drawing."""
    q = _measure_chunk(np.atleast_2d(flux), np.atleast_2d(ivar))

    def line(key, name, rest):
        f = q[key]
        return LineFit(
            name=name,
            rest=rest,
            centre=float(f["centre"][0]),
            a=float(f["a"][0]),
            b=float(f["b"][0]),
            c=float(f["c"][0]),
            cont0=float(f["cont0"][0]),
            cont1=float(f["cont1"][0]),
            chi2_dof=float(f["chi2_dof"][0]),
            ok=bool(f["ok"][0]),
            reason=str(f["reason"][0]),
        )

    hd = line("hd", "Hδ", HDELTA)
    hg = line("hg", "Hγ", HGAMMA)
    d02, fm = float(q["d02"][0]), float(q["fm"][0])
    b, c = hg.b, hg.c
    return BalmerResult(
        d02=d02,
        fm=fm,
        b_hg=b,
        c_hg=c,
        hdelta=hd,
        hgamma=hg,
        ok=bool(q["ok"][0]),
        reason=str(q["reason"][0]),
        classical_bhb=bool(passes_cuts(d02, fm, b, c)),
    )
