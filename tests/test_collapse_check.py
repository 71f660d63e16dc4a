"""scripts/collapse_check.py (issue 21): the model's own weights measured, beside the same model freshly
initialised, with ablations; its section of faithfulness.md replaced on a rerun, and kept by explain_report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tinysky import make_dataset

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Why the model's own weights are flat or saturated"


def _run(script: str, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, str(REPO / "scripts" / script), *args], check=True, env=env, capture_output=True)


def test_collapse_check_on_a_tiny_model_and_its_section_survives_both_scripts(tmp_path, tiny_checkpoint):
    data = make_dataset(tmp_path / "sky", n=12)
    out = tmp_path / "results"
    out.mkdir()
    (out / "faithfulness.md").write_text(
        "# Faithfulness\n\n## Deletion areas (lower: the attribution finds what the score rests on)\n\nearlier text\n"
    )
    for _ in range(2):  # a rerun replaces the section, never adds a second
        _run("collapse_check.py", str(data), "--model", str(tiny_checkpoint), "--n", "12", "--out", str(out))
    page = (out / "faithfulness.md").read_text()
    assert page.count(SECTION) == 1 and "earlier text" in page and (out / "collapse.png").stat().st_size > 10_000
    result = json.loads((out / "collapse.json").read_text())
    assert result["n"] == 12 and result["stages"]
    se = result["trained"]["se"]
    assert 0 < se["gate_min"] <= se["gate_max"] < 1 and len(se["weight_bhb_mean"]) == 5
    # freshly initialised, the segment softmax is near uniform: its logits are small (no saturation at the start)
    assert result["initialised"]["segments"]["row_entropy_ratio_median"] > 0.9
    cls = result["trained"]["cls"]
    assert abs(sum(cls["share_cls_image_spectrum_colour"]) - 1) < 1e-3  # every token counted once
    abl = result["ablations"]
    assert {"none", "se_gates_constant", "segment_attention_uniform", "segment_attention_fixed_saturated"} <= set(abl)
    assert abl["none"]["mean_abs_dp"] == 0 and all(0 <= v["macro_f1"] <= 1 for v in abl.values())
    # the faithfulness report rewrites its own sections and keeps this one
    explain = {"n": 3, "data": "sky", "model": "m", "seed": 0, "stars": [{"attention_concentration": 1.0}] * 3,
               "deletion_area": {"saliency": 0.5, "occlusion": 0.4, "attention": None, "random": 0.7},
               "deletion_curves": {"random": [1.0, 0.5]}, "deletion_fractions": [0.0, 1.0]}
    (tmp_path / "explain.json").write_text(json.dumps(explain))
    _run("explain_report.py", "--json", str(tmp_path / "explain.json"), "--out", str(out))
    page = (out / "faithfulness.md").read_text()
    assert page.count(SECTION) == 1 and "earlier text" not in page and "| gradient saliency (spectrum) | 0.500" in page


def test_segment_norm_check_compares_two_runs(tmp_path):
    """scripts/segment_norm_check.py: both runs measured on an unseen sky, the option read from each checkpoint."""
    import numpy as np
    import torch

    from bhb_viewer.ml.checkpoint import save_checkpoint
    from bhb_viewer.ml.models import build_model
    from bhb_viewer.ml.preprocess import Preprocessor

    data = make_dataset(tmp_path / "sky", n=12)
    runs = []
    for norm in (False, True):
        torch.manual_seed(0)
        run = tmp_path / f"run-{norm}"
        save_checkpoint(run, build_model("spectrum_vgg1d_sa", "tiny", segment_norm=norm),
                        {"preprocess": Preprocessor(np.full(5, 0.3), np.full(5, 0.1)).to_config()})
        (run / "test_metrics.json").write_text(json.dumps({"macro": {"f1": 0.8 + 0.01 * norm}}))
        runs.append(str(run))
    out = tmp_path / "results"
    _run("segment_norm_check.py", str(data), "--runs", *runs, "--out", str(out))
    result = json.loads((out / "segment-norm.json").read_text())
    base, norm = result["runs"]
    assert not base["segment_norm"] and norm["segment_norm"] and norm["test_macro_f1"] == 0.81
    for m in (base, norm):
        assert abs(sum(m["segment_weights_mean"]) - 1) < 1e-3 and 0 <= m["row_entropy_ratio_median"] <= 1
    page = (out / "faithfulness.md").read_text()
    assert (
        page.count("## A fix tried for the saturated segment weights") == 1 and "| with segment_norm | 0.810 |" in page
    )
