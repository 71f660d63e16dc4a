"""Who the stars of the empirical sky are: BHB stars and the kinds of star that share their colours.

A real colour-selected BHB candidate list (Xue et al. 2008's box, 0.8 < u−g < 1.6,
−0.5 < g−r < 0) holds, besides BHB stars, halo blue stragglers, main-sequence A stars of the disk,
A/F giants and subgiants, F dwarfs scattered in at the box's cool edge and hotter stars at its blue
edge. Each kind is drawn in Teff, log g and [Fe/H], its colours come from its own spectrum
(:mod:`.engine`, :mod:`bhb_viewer.core.science.photometry`), and only stars inside the box are kept: the
box, not the draw, decides how many of each end up in the sky.

Where the numbers come from:

* BHB stars: Teff, log g along the branch and [Fe/H] as :class:`~.population.PopulationModel`
  (fitted to Xue 2011 and Barbosa 2022; see that module); the BHB share of the sky is the paper's
  4,752 / 12,032.
* The non-BHB kinds' parameter ranges are textbook ones (A dwarfs log g ≈ 4.0–4.4; halo blue
  stragglers as metal-poor as the halo, [Fe/H] ≈ −1.7 ± 0.5, about 30 % evolved to log g ≈ 3.7;
  disk A stars [Fe/H] ≈ −0.3 ± 0.3).
* The non-BHB shares (:data:`NON_BHB_SHARES`) are assumptions, stated as such: no source at hand
  gives the mixture of this box's non-BHB stars by kind. Blue stragglers are made the largest part
  because at the box's magnitudes the halo dominates (Xue et al. 2008 name them the main
  contaminant); the report of every sky lists the shares after the colour box.

Draws where the engine has no MILES star near (:meth:`.engine.EmpiricalEngine.coverage` > 1) are
rejected and drawn again; the count is reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from bhb_viewer.core.science.spectral_engine import MAX_COVERAGE_DISTANCE, EmpiricalEngine
from bhb_viewer.core.sim.population import PopulationModel, _truncated_normal

MAX_ROUNDS = 200


@dataclass(frozen=True)
class Kind:
    """Teff (K, uniform or normal in θ), log g and [Fe/H] (normal, clipped) of one kind of star."""

    teff: tuple[float, float]  # (lo, hi) K, uniform in θ = 5040/Teff
    logg: tuple[float, float]
    feh: tuple[float, float]
    evolved_fraction: float = 0.0
    evolved_logg: tuple[float, float] = (3.7, 0.2)


# Shares of the non-BHB stars drawn (before the colour box), and each kind's parameters.
NON_BHB_SHARES = {"blue straggler": 0.45, "A dwarf": 0.25, "A/F giant": 0.10, "F dwarf": 0.12, "hot star": 0.08}
NON_BHB_KINDS = {
    "blue straggler": Kind(teff=(7000.0, 10000.0), logg=(4.15, 0.2), feh=(-1.7, 0.5), evolved_fraction=0.3),
    "A dwarf": Kind(teff=(7000.0, 10500.0), logg=(4.2, 0.2), feh=(-0.3, 0.3)),
    "A/F giant": Kind(teff=(6000.0, 8000.0), logg=(3.0, 0.4), feh=(-0.6, 0.5)),
    "F dwarf": Kind(teff=(6000.0, 7000.0), logg=(4.2, 0.2), feh=(-0.8, 0.6)),
    "hot star": Kind(teff=(10000.0, 12000.0), logg=(4.0, 0.3), feh=(-0.5, 0.6)),
}


@dataclass(frozen=True)
class Mixture:
    """The empirical sky's population; its values go into every data set's provenance."""

    bhb: PopulationModel = field(default_factory=PopulationModel)
    shares: dict = field(default_factory=lambda: dict(NON_BHB_SHARES))
    kinds: dict = field(default_factory=lambda: dict(NON_BHB_KINDS))
    logg_limits: tuple[float, float] = (2.4, 4.8)
    feh_limits: tuple[float, float] = (-3.0, 0.4)

    def as_dict(self) -> dict:
        return {
            "bhb": self.bhb.as_dict(),
            "shares": self.shares,
            "kinds": {k: asdict(v) for k, v in self.kinds.items()},
            "logg_limits": self.logg_limits,
            "feh_limits": self.feh_limits,
        }


def _draw_kind(kind: Kind, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    theta = rng.uniform(5040.0 / kind.teff[1], 5040.0 / kind.teff[0], n)
    evolved = rng.uniform(size=n) < kind.evolved_fraction
    logg = np.where(evolved, rng.normal(*kind.evolved_logg, n), rng.normal(*kind.logg, n))
    return 5040.0 / theta, logg, rng.normal(*kind.feh, n)


def _draw_bhb(model: PopulationModel, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t_lo, t_hi = model.teff_limits
    theta = _truncated_normal(rng, *model.bhb_theta, 5040.0 / t_hi, 5040.0 / t_lo, n)
    teff = 5040.0 / theta
    logg = (
        model.bhb_logg_8500
        + model.bhb_logg_teff * (teff - 8500.0) / 1000.0
        + rng.normal(0.0, model.bhb_logg_scatter, n)
    )
    return teff, logg, rng.normal(*model.bhb_feh, n)


def draw_parameters(mix: Mixture, engine: EmpiricalEngine, rng: np.random.Generator, n: int,
                    bhb: bool) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Teff, log g, [Fe/H], kind and g of n stars of one class, all where MILES has a star near.

    Returns the columns and, per kind, how many draws the coverage test rejected.
    """
    names = ["BHB"] if bhb else list(mix.shares)
    p = np.array([1.0]) if bhb else np.array([mix.shares[k] for k in names], dtype=float) / sum(mix.shares.values())
    kind = rng.choice(len(names), size=n, p=p)
    teff, logg, feh = np.empty(n), np.empty(n), np.empty(n)
    rejected = dict.fromkeys(names, 0)
    todo = np.arange(n)
    for _ in range(MAX_ROUNDS):
        if not todo.size:
            break
        for k, name in enumerate(names):
            rows = todo[kind[todo] == k]
            if not rows.size:
                continue
            t, g, f = _draw_bhb(mix.bhb, rng, rows.size) if bhb else _draw_kind(mix.kinds[name], rng, rows.size)
            teff[rows], logg[rows] = t, np.clip(g, *mix.logg_limits)
            feh[rows] = np.clip(f, *mix.feh_limits)
        bad = engine.coverage(teff[todo], logg[todo], feh[todo]) > MAX_COVERAGE_DISTANCE
        for k, name in enumerate(names):
            rejected[name] += int((bad & (kind[todo] == k)).sum())
        todo = todo[bad]
    else:
        raise ValueError(
            f"{todo.size} draws of {', '.join(sorted({names[k] for k in kind[todo]}))} found no MILES "
            f"star near after {MAX_ROUNDS} rounds: that kind's parameters lie outside the engine"
        )
    g = _truncated_normal(rng, *mix.bhb.g_mag, *mix.bhb.g_limits, n)
    return {"teff": teff, "logg": logg, "feh": feh, "kind": np.array(names, dtype=object)[kind].astype(str),
            "g_true": g, "rv": rng.normal(*mix.bhb.rv, n)}, rejected
