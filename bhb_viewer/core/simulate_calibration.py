"""Is the simulated sky as hard as the real one? The figures that say so.

(a) Simulated BHB stars that pass the classical cuts, measured by :mod:`bhb_viewer.core.balmer`,
must have the Xue et al. (2011) distributions of D0.2, fm, c(Hγ), b(Hγ), u−g, g−r and g
(two-sample KS statistic ≤ 0.15 each).
(b) The classical cuts must select a sample about 90 % pure (as Xue et al. 2008 found: under ~10 %
contamination), and colours alone must not separate the classes: the best straight cut in the
(g−r, u−g) plane stays below F1 = 0.85.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.stats import ks_2samp

from bhb_viewer.core.balmer import measure_arrays
from bhb_viewer.core.dataset import LABEL_BHB
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.progress import ProgressCallback
from bhb_viewer.core.simulate import DEFAULT_BHB_FRACTION, SimulatorConfig, simulate

KS_QUANTITIES = ("d02", "fm", "c_hg", "b_hg", "u_g", "g_r", "g")
KS_LIMIT = 0.15
PURITY_RANGE = (0.85, 0.95)
COLOUR_F1_LIMIT = 0.85
REFERENCE_DECIMALS = 2  # Xue 2011 prints every compared quantity to 0.01: compare like with like
REFERENCE_ENV = "BHB_XUE2011"
_REPO_GUESS = Path(__file__).resolve().parents[3] / "shared" / "data" / "catalogs" / "xue2011_bhb.dat"


def reference_path(path: str | os.PathLike | None = None) -> Path:
    """The Xue 2011 table (with its ReadMe beside it): the argument, $BHB_XUE2011, or ../shared/data."""
    for candidate in (path, os.environ.get(REFERENCE_ENV), _REPO_GUESS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise BadInputError(
        path or _REPO_GUESS,
        f"the Xue et al. (2011) BHB table is needed for the calibration report; pass its path or set ${REFERENCE_ENV}",
    )


def read_reference(path: str | os.PathLike | None = None) -> Table:
    from bhb_viewer.core.candidates import read_candidates

    return read_candidates(reference_path(path))


def _f1(tp, fp, fn):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)


def best_colour_cut(u_g: np.ndarray, g_r: np.ndarray, label: np.ndarray, n_slopes: int = 61) -> dict:
    """Best straight cut ``u−g − s·(g−r) ≷ t`` in the colour plane (both sides tried, all thresholds).

    Returns the best BHB-class F1 and the best macro F1 (mean of the two classes' F1) with their cuts.
    """
    y = np.asarray(label) == LABEL_BHB
    pos, neg = y.sum(), (~y).sum()
    best = {"f1_bhb": 0.0, "f1_macro": 0.0}
    for s in np.linspace(-3.0, 3.0, n_slopes):
        score = np.asarray(u_g) - s * np.asarray(g_r)
        for sign in (1.0, -1.0):
            order = np.argsort(-sign * score, kind="stable")
            tp = np.cumsum(y[order])
            fp = np.cumsum(~y[order])
            fn = pos - tp
            tn = neg - fp
            f1_bhb = _f1(tp, fp, fn)
            f1_non = _f1(tn, fn, fp)
            macro = 0.5 * (f1_bhb + f1_non)
            i, j = int(np.argmax(f1_bhb)), int(np.argmax(macro))
            if f1_bhb[i] > best["f1_bhb"]:
                best.update(f1_bhb=float(f1_bhb[i]), cut_bhb={"slope": float(s), "threshold": float(score[order][i]), "bhb_side": "above" if sign > 0 else "below"})
            if macro[j] > best["f1_macro"]:
                best.update(f1_macro=float(macro[j]), cut_macro={"slope": float(s), "threshold": float(score[order][j]), "bhb_side": "above" if sign > 0 else "below"})
    return best


def calibration_figures(catalog: Table, measured: dict[str, np.ndarray], reference: Table) -> dict:
    """The figures of (a) and (b) from a simulated catalogue and its Balmer measurements."""
    label = np.asarray(catalog["label"])
    is_bhb = label == LABEL_BHB
    passed = np.asarray(measured["classical_bhb"], dtype=bool)
    sel_bhb = is_bhb & passed
    values = {
        "d02": measured["d02"],
        "fm": measured["fm"],
        "c_hg": measured["c_hg"],
        "b_hg": measured["b_hg"],
        "u_g": np.asarray(catalog["u_g"]),
        "g_r": np.asarray(catalog["g_r"]),
        "g": np.asarray(catalog["g"]),
    }
    ks = {}
    for q in KS_QUANTITIES:
        ref = np.asarray(reference[q], dtype=float)
        ref = ref[np.isfinite(ref)]
        sim = np.round(np.asarray(values[q], dtype=float)[sel_bhb], REFERENCE_DECIMALS)
        ks[q] = float(ks_2samp(sim, ref).statistic) if sim.size else 1.0
    n_sel = int(passed.sum())
    colour = best_colour_cut(values["u_g"], values["g_r"], label)
    ok = np.asarray(measured["balmer_ok"], dtype=bool)
    return {
        "ks": ks,
        "ks_max": max(ks.values()),
        "ks_limit": KS_LIMIT,
        "classical_purity": float(sel_bhb.sum() / n_sel) if n_sel else float("nan"),
        "classical_completeness": float(sel_bhb.sum() / is_bhb.sum()) if is_bhb.any() else float("nan"),
        "classical_selected": n_sel,
        "colour_cut_f1": colour["f1_macro"],
        "colour_cut_f1_bhb": colour["f1_bhb"],
        "colour_cut": colour.get("cut_macro"),
        "n": int(len(catalog)),
        "n_bhb": int(is_bhb.sum()),
        "n_non_bhb": int((~is_bhb).sum()),
        "n_bhb_passing_cuts": int(sel_bhb.sum()),
        "n_non_bhb_passing_cuts": int((~is_bhb & passed).sum()),
        "balmer_fit_failures": int((~ok).sum()),
        "n_reference": int(len(reference)),
    }


def _with_verdicts(report: dict) -> dict:
    report["passes"] = {
        "ks": report["ks_max"] <= KS_LIMIT,
        "classical_purity": PURITY_RANGE[0] <= report["classical_purity"] <= PURITY_RANGE[1],
        "colour_cut_f1": report["colour_cut_f1"] < COLOUR_F1_LIMIT and report["colour_cut_f1_bhb"] < COLOUR_F1_LIMIT,
    }
    return report


def dataset_report(
    path: str | os.PathLike,
    reference: str | os.PathLike | Table | None = None,
    progress: ProgressCallback | None = None,
) -> dict:
    """The same figures for a labelled data set on disk (e.g. the one ``bhb simulate --out`` wrote)."""
    from bhb_viewer.core.dataset import open_dataset

    ref = reference if isinstance(reference, Table) else read_reference(reference)
    ds = open_dataset(path)
    missing = [c for c in ("label", "u_g", "g_r", "g") if c not in ds.catalog.colnames]
    if missing:
        raise BadInputError(ds.path / "catalog.ecsv", f"calibration needs columns {missing}")
    measured = measure_arrays(ds.spectra, ds.ivar, progress)
    report = calibration_figures(ds.catalog, measured, ref)
    report["seed"] = ds.manifest.get("provenance", {}).get("seed")
    report["dataset"] = str(ds.path)
    return _with_verdicts(report)


def calibration_report(
    n: int = 3000,
    seed: int = 1,
    bhb_fraction: float = DEFAULT_BHB_FRACTION,
    reference: str | os.PathLike | Table | None = None,
    config: SimulatorConfig | None = None,
    progress: ProgressCallback | None = None,
) -> dict:
    """Simulate n stars (spectra only), measure them and compare with the real sample; see module doc."""
    ref = reference if isinstance(reference, Table) else read_reference(reference)
    catalog, spectra, ivar, _ = simulate(n, seed, bhb_fraction, progress=progress, config=config, with_cutouts=False)
    measured = measure_arrays(spectra, ivar, progress)
    report = calibration_figures(catalog, measured, ref)
    report["seed"] = seed
    return _with_verdicts(report)
