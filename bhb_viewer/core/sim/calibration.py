"""Is the simulated sky as hard as the real one? The figures that say so.

(a) Simulated BHB stars that pass the classical cuts, measured by :mod:`bhb_viewer.core.science.balmer`,
must have the Xue et al. (2011) distributions of D0.2, fm, c(Hγ), b(Hγ), u−g, g−r and g
(two-sample KS statistic ≤ 0.15 each).
(b) The classical cuts must select a sample about 90 % pure in the physical class (as Xue et al.
2008 found: under ~10 % contamination), and colours alone must not separate the classes: the best
straight cut in the (g−r, u−g) plane stays below F1 = 0.85.

Colours are compared dereddened, as Xue 2011 publishes them; purity and completeness use the
physical class from the truth table (with Xue-cut labels the cuts agree with ``label`` by design).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from scipy.stats import ks_2samp

from bhb_viewer.core.dataset import LABEL_BHB
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.progress import ProgressCallback
from bhb_viewer.core.resources import resource_path
from bhb_viewer.core.science.balmer import measure_arrays
from bhb_viewer.core.sim.sky import DEFAULT_BHB_FRACTION, SimulatorConfig, simulate

KS_QUANTITIES = ("d02", "fm", "c_hg", "b_hg", "u_g", "g_r", "g")
KS_LIMIT = 0.15
PURITY_RANGE = (0.85, 0.95)
COLOUR_F1_LIMIT = 0.85
REFERENCE_DECIMALS = 2  # Xue 2011 prints every compared quantity to 0.01: compare like with like
REFERENCE_ENV = "BHB_XUE2011"


def reference_path(path: str | os.PathLike | None = None) -> Path:
    """The Xue 2011 table (with its ReadMe beside it): the argument, else $BHB_XUE2011, else the copy the
    app ships (bhb_viewer/resources/catalogs); a path given that is not a file is an error, not a fallback."""
    given = path or os.environ.get(REFERENCE_ENV)
    if given:
        if Path(given).is_file():
            return Path(given)
        raise BadInputError(given, "the Xue et al. (2011) BHB table for the calibration report is not there")
    return resource_path(Path("catalogs") / "xue2011_bhb.dat")


def read_reference(path: str | os.PathLike | None = None) -> Table:
    from bhb_viewer.core.readers.candidates import read_candidates

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
    best: dict[str, Any] = {"f1_bhb": 0.0, "f1_macro": 0.0}
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
            side = "above" if sign > 0 else "below"
            for key, f1 in (("bhb", f1_bhb), ("macro", macro)):
                k = int(np.argmax(f1))
                if f1[k] > best[f"f1_{key}"]:
                    cut = {"slope": float(s), "threshold": float(score[order][k]), "bhb_side": side}
                    best.update({f"f1_{key}": float(f1[k]), f"cut_{key}": cut})
    return best


def dereddened(catalog: Table, band_a: str, band_b: str | None = None) -> np.ndarray:
    """A magnitude (or colour band_a − band_b) corrected for extinction unless the catalogue already is."""
    from bhb_viewer.core.sim.spectra import BAND_EXTINCTION

    value = np.asarray(catalog[band_a], dtype=float) - (np.asarray(catalog[band_b], dtype=float) if band_b else 0.0)
    if "ebv" not in catalog.colnames or catalog.meta.get("extinction_corrected", False):
        return value
    k = BAND_EXTINCTION[band_a] - (BAND_EXTINCTION[band_b] if band_b else 0.0)
    return value - k * np.asarray(catalog["ebv"], dtype=float)


def calibration_figures(
    catalog: Table, measured: dict[str, np.ndarray], reference: Table, truth: Table | None = None
) -> dict:
    """The figures of (a) and (b) from a simulated catalogue, its Balmer measurements and its truth."""
    label = np.asarray(catalog["label"])
    physical = np.asarray(truth["label_physical"]) if truth is not None else label
    is_bhb = physical == LABEL_BHB
    passed = np.asarray(measured["classical_bhb"], dtype=bool)
    sel_bhb = is_bhb & passed
    values = {
        "d02": measured["d02"],
        "fm": measured["fm"],
        "c_hg": measured["c_hg"],
        "b_hg": measured["b_hg"],
        "u_g": dereddened(catalog, "u", "g"),
        "g_r": dereddened(catalog, "g", "r"),
        "g": dereddened(catalog, "g"),
    }
    ks = {}
    for q in KS_QUANTITIES:
        ref = np.asarray(reference[q], dtype=float)
        ref = ref[np.isfinite(ref)]
        sim = np.round(np.asarray(values[q], dtype=float)[sel_bhb], REFERENCE_DECIMALS)
        ks[q] = float(ks_2samp(sim, ref).statistic) if sim.size else 1.0
    n_sel = int(passed.sum())
    colour = best_colour_cut(values["u_g"], values["g_r"], label)
    agree = float(np.mean(label == physical))
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
        "labels": catalog.meta.get("labels", "physical"),
        "n_bhb": int((label == LABEL_BHB).sum()),
        "n_non_bhb": int((label != LABEL_BHB).sum()),
        "n_bhb_physical": int(is_bhb.sum()),
        "label_agreement_physical": agree,
        "n_bhb_passing_cuts": int(sel_bhb.sum()),
        "n_non_bhb_passing_cuts": int((~is_bhb & passed).sum()),
        "balmer_fit_failures": int((~ok).sum()),
        "n_reference": int(len(reference)),
    }


def _with_instrument(
    report: dict, catalog: Table, flux, ivar, cutouts, measured: dict, truth: Table | None, reference: Table
) -> dict:
    """Add the realism figures and the fit-window robustness of fm and D0.2 (see :mod:`.realism`)."""
    from bhb_viewer.core.sim.realism import fm_window_robustness, realism_figures

    physical = np.asarray(truth["label_physical"]) if truth is not None else np.asarray(catalog["label"])
    report["realism"] = realism_figures(catalog, flux, ivar, cutouts)
    select = (physical == LABEL_BHB) & np.asarray(measured["classical_bhb"], dtype=bool)
    report["fm_window"] = fm_window_robustness(flux, ivar, select, reference)
    return report


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
    from bhb_viewer.core.sim.sky import TRUTH_FILE, read_truth

    ref = reference if isinstance(reference, Table) else read_reference(reference)
    ds = open_dataset(path)
    missing = [c for c in ("label", "u", "g", "r") if c not in ds.catalog.colnames]
    if missing:
        raise BadInputError(ds.path / "catalog.ecsv", f"calibration needs columns {missing}")
    truth = read_truth(ds.path) if (ds.path / TRUTH_FILE).is_file() else None
    measured = measure_arrays(ds.spectra, ds.ivar, progress)
    report = calibration_figures(ds.catalog, measured, ref, truth)
    _with_instrument(report, ds.catalog, ds.spectra, ds.ivar, ds.cutouts, measured, truth, ref)
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
    """Simulate n stars, measure them and compare with the real sample; see module doc."""
    ref = reference if isinstance(reference, Table) else read_reference(reference)
    sky = simulate(n, seed, bhb_fraction, progress=progress, config=config)
    measured = measure_arrays(sky.spectra, sky.ivar, progress)
    report = calibration_figures(sky.catalog, measured, ref, sky.truth)
    _with_instrument(report, sky.catalog, sky.spectra, sky.ivar, sky.cutouts, measured, sky.truth, ref)
    report["seed"] = seed
    return _with_verdicts(report)
