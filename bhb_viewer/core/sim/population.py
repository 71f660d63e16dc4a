"""The simulated star population: who the stars are (Teff, log g, [Fe/H], g, RV) and their colours.

BHB stars sit on the horizontal branch (log g ≈ 2.8–3.6, rising with Teff along the branch,
metal-poor); the non-BHB stars are halo blue stragglers and main-sequence A stars (log g ≈ 3.8–4.5,
more metal-rich). Both are drawn with the temperatures that give the observed colours and then
kept only inside the colour box that selected the real candidates (Xue et al. 2008:
0.8 < u−g < 1.6, −0.5 < g−r < 0), so, as in the real sample, colour alone cannot tell them apart.

Colour relations (fitted once to the Barbosa et al. 2022 SEGUE BHB sample: Teff, log g, u−g, g−r;
u−g zero point then shifted by −0.02 mag to the Xue 2011 photometry): g−r is a temperature
indicator; u−g measures the Balmer jump, larger at low gravity, hence redder for BHB stars than
for blue stragglers at the same g−r.

Two population choices set the difficulty and are stated as such: the BHB temperature and
magnitude distributions were chosen so that the stars passing the classical cuts look like the
Xue 2011 sample, and the share of evolved, lower-gravity blue stragglers (30 % at log g ≈ 3.75)
was chosen so that the classical cuts are about 90 % pure, as Xue et al. (2008) found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

COLOUR_BOX = {"u_g": (0.8, 1.6), "g_r": (-0.5, 0.0)}


@dataclass(frozen=True)
class PopulationModel:
    # BHB: θ = 5040/Teff, log g along the branch, metallicity
    bhb_theta: tuple[float, float] = (0.616, 0.036)
    bhb_logg_8500: float = 3.2
    bhb_logg_teff: float = 0.1  # per 1000 K along the branch
    bhb_logg_scatter: float = 0.1
    bhb_feh: tuple[float, float] = (-1.9, 0.4)
    # Blue stragglers and main-sequence A stars
    bss_theta: tuple[float, float] = (0.600, 0.045)
    bss_logg: tuple[float, float] = (4.15, 0.2)  # main-sequence A stars and most blue stragglers
    bss_evolved_fraction: float = 0.3  # blue stragglers evolving off the main sequence: lower gravity
    bss_evolved_logg: tuple[float, float] = (3.75, 0.2)
    bss_feh: tuple[float, float] = (-1.5, 0.5)  # halo blue stragglers, some thick-disk A stars
    logg_limits: tuple[float, float] = (2.6, 4.8)
    teff_limits: tuple[float, float] = (7000.0, 10500.0)
    # Apparent magnitude (both classes: same survey selection) and halo velocities
    g_mag: tuple[float, float] = (16.85, 1.25)
    g_limits: tuple[float, float] = (14.5, 19.5)
    rv: tuple[float, float] = (-40.0, 144.0)  # km/s; Xue 2011 p5–p95 −277…+196
    # Colour relations
    gr_coef: tuple[float, float] = (-1.638, 2.441)  # g−r = c0 + c1·θ
    ug_coef: tuple[float, float, float, float] = (-13.571, 48.348, -38.453, -0.131)  # c0 + c1θ + c2θ² + c3·log g
    ug_theta_min: float = 0.53  # the quadratic is not extrapolated hotter than ≈ 9,500 K
    ug_feh: float = 0.03  # line blanketing in u: metal-rich stars are redder
    colour_scatter: tuple[float, float, float, float] = (0.04, 0.015, 0.015, 0.02)  # u−g, g−r, r−i, i−z
    ri_coef: tuple[float, float] = (-0.03, 0.45)  # r−i = c0 + c1·(g−r)  (blue stellar locus)
    iz_coef: tuple[float, float] = (-0.02, 0.35)

    def as_dict(self) -> dict:
        return asdict(self)


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float, n: int) -> np.ndarray:
    out = rng.normal(mean, sd, n)
    bad = (out < lo) | (out > hi)
    while bad.any():
        out[bad] = rng.normal(mean, sd, bad.sum())
        bad = (out < lo) | (out > hi)
    return out


def draw_stars(model: PopulationModel, rng: np.random.Generator, n: int, bhb: bool) -> dict[str, np.ndarray]:
    """Physical parameters and intrinsic (noise-free) magnitudes of n stars of one class."""
    t_lo, t_hi = model.teff_limits
    theta_mean, theta_sd = model.bhb_theta if bhb else model.bss_theta
    theta = _truncated_normal(rng, theta_mean, theta_sd, 5040.0 / t_hi, 5040.0 / t_lo, n)
    teff = 5040.0 / theta
    if bhb:
        logg = model.bhb_logg_8500 + model.bhb_logg_teff * (teff - 8500.0) / 1000.0
        logg = logg + rng.normal(0.0, model.bhb_logg_scatter, n)
        feh = rng.normal(*model.bhb_feh, n)
    else:
        evolved = rng.uniform(size=n) < model.bss_evolved_fraction
        logg = np.where(evolved, rng.normal(*model.bss_evolved_logg, n), rng.normal(*model.bss_logg, n))
        feh = rng.normal(*model.bss_feh, n)
    logg = np.clip(logg, *model.logg_limits)
    feh = np.clip(feh, -3.0, 0.3)
    g = _truncated_normal(rng, *model.g_mag, *model.g_limits, n)
    s_ug, s_gr, s_ri, s_iz = model.colour_scatter
    gr = model.gr_coef[0] + model.gr_coef[1] * theta + rng.normal(0.0, s_gr, n)
    th = np.maximum(theta, model.ug_theta_min)
    c0, c1, c2, c3 = model.ug_coef
    ug = c0 + c1 * th + c2 * th**2 + c3 * logg + model.ug_feh * (feh + 1.8) + rng.normal(0.0, s_ug, n)
    ri = model.ri_coef[0] + model.ri_coef[1] * gr + rng.normal(0.0, s_ri, n)
    iz = model.iz_coef[0] + model.iz_coef[1] * gr + rng.normal(0.0, s_iz, n)
    mags = {"g": g, "u": g + ug, "r": g - gr}
    mags["i"] = mags["r"] - ri
    mags["z"] = mags["i"] - iz
    return {
        "teff": teff,
        "logg": logg,
        "feh": feh,
        "rv": rng.normal(*model.rv, n),
        **{f"{b}_true": mags[b] for b in "ugriz"},
    }


def in_colour_box(u_g: np.ndarray, g_r: np.ndarray) -> np.ndarray:
    (ug_lo, ug_hi), (gr_lo, gr_hi) = COLOUR_BOX["u_g"], COLOUR_BOX["g_r"]
    return (u_g > ug_lo) & (u_g < ug_hi) & (g_r > gr_lo) & (g_r < gr_hi)
