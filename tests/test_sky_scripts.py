"""scripts/gpu_sky.py and scripts/sky_results.py: the results script on a fabricated run folder, and the
driver's smoke mode end to end (minutes on a small CPU: only with BHB_RUN_GPU_SMOKE=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _metrics(model: str, seed: int, f1: float, auc: float) -> dict:
    group = {"precision": f1, "recall": f1, "f1": f1, "support": 10}
    return {"model": model, "size": "lite", "seed": seed, "macro": group, "BHB": group, "non-BHB": group, "auc": auc}


def test_results_page_from_partial_runs(tmp_path):
    out = tmp_path / "out"
    for model, f1, auc in (("image_resnet_se", 0.74, 0.81), ("batmm", 0.93, 0.97), ("xgboost", 0.92, 0.96)):
        for seed in (0, 1):
            run = out / "table8-physical" / "runs" / f"{model}-seed{seed}"
            run.mkdir(parents=True)
            (run / "test_metrics.json").write_text(json.dumps(_metrics(model, seed, f1 + 0.01 * seed, auc)))
    run = out / "table8-physical-minmax" / "runs" / "image_resnet_se-seed0"
    run.mkdir(parents=True)
    (run / "test_metrics.json").write_text(json.dumps(_metrics("image_resnet_se", 0, 0.6, 0.65)))
    (out / "run-info.json").write_text(
        json.dumps(
            {
                "n": 12032,
                "device": "cuda",
                "size": "lite",
                "table_batch": 256,
                "table_epochs": 30,
                "table_patience": 4,
                "seeds_planned": [0, 1, 2],
            }
        )
    )
    docs = tmp_path / "docs"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sky_results.py"), str(out), "--docs", str(docs)], check=True, env=env
    )
    page = (docs / "table8-sim-physical.md").read_text()
    assert "BATMM" in page and "ResNet + SE, spec min–max scaling" in page and "No seed finished every model" in page
    assert "BATMM at or above the best single modality" in page and "batch 256" in page
    assert not (docs / "table8-sim-xue.md").exists()


@pytest.mark.skipif(os.environ.get("BHB_RUN_GPU_SMOKE") != "1", reason="minutes of CPU; set BHB_RUN_GPU_SMOKE=1")
def test_gpu_script_smoke_mode(tmp_path):
    env = {
        **os.environ,
        "SKY_SMOKE": "1",
        "OUT": str(tmp_path / "out"),
        "SKY_WORK": str(tmp_path / "work"),
        "SKY_BUDGET_S": "420",
    }
    subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_sky.py")], check=True, env=env, cwd=REPO)
    info = json.loads((tmp_path / "out" / "run-info.json").read_text())
    assert info["shipped_rc"] == 0 and info["seeds_evaluated"]["xue"] == [0]
    assert (tmp_path / "out" / "sky_results.tar.gz").is_file() and (tmp_path / "out" / "driver.log").is_file()
    subprocess.run(
        [
            sys.executable, str(REPO / "scripts" / "sky_results.py"), str(tmp_path / "out"), "--docs",
            str(tmp_path / "docs"),
        ],
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert (tmp_path / "docs" / "table8-sim-xue.md").is_file()


def test_heads_on_test_scores_a_runs_own_heads_on_its_test_split(tmp_path):
    import torch

    from bhb_viewer.core.sim import write_simulated
    from bhb_viewer.ml.training import TrainConfig, fit

    before = torch.get_num_threads()
    data = write_simulated(tmp_path / "sim", n=60, seed=5, cutout_size=16)
    run = tmp_path / "run"
    fit(TrainConfig(dataset=str(data), model="batmm", size="tiny", epochs=1, batch_size=8, lr=3e-3,
                    max_steps_per_epoch=2, threads=1, out=str(run)))
    torch.set_num_threads(before)
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "heads_on_test.py"), str(data), str(run),
                          "--json", str(tmp_path / "heads.json")], capture_output=True, text=True, check=True).stdout
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["n_runs"] == 1 and set(summary["mean"]) == {"fusion", "spectrum", "image"}
    per_run = json.loads((tmp_path / "heads.json").read_text())["runs"]["run"]
    test = json.loads((run / "test.json").read_text())
    # the fusion score it computes is the one training wrote for the same test rows
    assert per_run["fusion"]["auc"] == pytest.approx(
        json.loads((run / "test_metrics.json").read_text())["auc"], abs=1e-4
    )
    assert len(test["row"]) == 6 and all(0.0 <= v["auc"] <= 1.0 for v in per_run.values())
