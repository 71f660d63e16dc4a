"""scripts/ceiling_study.py's small pieces on tiny fabricated inputs (the study itself runs on real skies)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from astropy.table import Table

ROOT = Path(__file__).resolve().parents[1]


def _study():
    spec = importlib.util.spec_from_file_location("ceiling_study", ROOT / "scripts" / "ceiling_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _truth() -> Table:
    return Table({"kind": ["BHB", "BHB", "BHB", "blue straggler", "blue straggler", "A dwarf"],
                  "label_physical": [1, 1, 1, 0, 0, 0], "feh": [-2.0, -1.5, -1.0, -1.6, 0.0, -1.5],
                  **{f"{k}_true": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] for k in ("d02", "fm", "b_hg", "c_hg")},
                  **{f"{b}_true": [17.0 - i * 0.1] * 6 for i, b in enumerate("ugriz")}})


def test_metal_poor_blue_stragglers_and_noise_free_features():
    study = _study()
    bss, (lo, hi) = study.metal_poor_bss(_truth())
    assert lo < -1.6 < hi < 0.0
    assert bss.tolist() == [False, False, False, True, False, False]  # the metal-rich one and the A dwarf are out
    x = study.noise_free_features(_truth())
    assert x.shape == (6, 8) and np.allclose(x[:, 4:], 0.1) and x[3, 0] == 4.0


def test_threshold_and_figures():
    study = _study()
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.8, 0.9])
    cut = study.best_threshold(y, p)
    assert 0.3 < cut <= 0.35  # the only cut that separates the classes
    bss = np.array([False, False, True, False, False, False])
    fig = study.figures(y, p, bss, threshold=np.full(6, cut))
    assert fig["auc"] == 1.0 and fig["bss_auc"] == 1.0 and fig["f1_tuned"] == 100.0 and fig["f1"] < 100.0
