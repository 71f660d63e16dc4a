import json

import numpy as np

from bhb_viewer.cli import main
from bhb_viewer.core.dataset import open_dataset


def test_simulate_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--n", "8", "--seed", "4", "--out", str(out)]) == 0
    ds = open_dataset(out)
    assert len(ds) == 8 and ds.spectra.shape == (8, 3522) and ds.cutouts.shape == (8, 5, 64, 64)
    assert ds.manifest["provenance"]["seed"] == 4
    assert set(np.unique(ds.labels)) <= {0, 1}
    captured = capsys.readouterr()
    assert "simulate:" in captured.err  # the progress bar goes to stderr
    assert "wrote 8" in captured.out


def test_report_json_is_one_object(shared_data, capsys, monkeypatch):
    monkeypatch.setenv("BHB_XUE2011", str(shared_data / "catalogs" / "xue2011_bhb.dat"))
    assert main(["simulate", "--report", "--json", "--n", "200", "--seed", "2", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["ks"]) == {"d02", "fm", "c_hg", "b_hg", "u_g", "g_r", "g"}
    assert all(0.0 <= v <= 1.0 for v in report["ks"].values())
    for key in ("classical_purity", "classical_completeness", "colour_cut_f1"):
        assert 0.0 <= report[key] <= 1.0
    assert report["n"] == 200
    for key in (
        "snr2_at_gfib_20_2", "calibration_rms_mag", "resolution_sigma_px", "mask_fraction", "psf_fwhm_ratio_u_r",
    ):
        assert "simulated" in report["realism"][key] and report["realism"][key]["source"]
    assert set(report["fm_window"]["windows"]) == {"40", "55", "70", "100"}


def test_report_text_names_the_figures(shared_data, capsys):
    ref = shared_data / "catalogs" / "xue2011_bhb.dat"
    assert main(["simulate", "--report", "--n", "200", "--seed", "2", "--quiet", "--reference", str(ref)]) == 0
    text = capsys.readouterr().out
    assert "KS" in text and "purity" in text and "colour cut" in text


def test_missing_reference_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BHB_XUE2011", raising=False)
    assert main(["simulate", "--report", "--n", "50", "--quiet", "--reference", str(tmp_path / "nowhere.dat")]) == 1
    assert "Xue" in capsys.readouterr().err


def test_the_shipped_reference_is_the_default(monkeypatch):
    from bhb_viewer.core.sim.calibration import reference_path

    monkeypatch.delenv("BHB_XUE2011", raising=False)
    path = reference_path()
    assert (
        path.name == "xue2011_bhb.dat"
        and path.parent.name == "catalogs"
        and (path.parent / "xue2011_bhb.ReadMe").is_file()
    )


def test_needs_out_or_report(capsys):
    assert main(["simulate", "--n", "5"]) == 2
    assert "--out" in capsys.readouterr().err


def test_out_with_report_describes_the_written_dataset(tmp_path, shared_data, capsys, monkeypatch):
    monkeypatch.setenv("BHB_XUE2011", str(shared_data / "catalogs" / "xue2011_bhb.dat"))
    out = tmp_path / "sim"
    assert main(["simulate", "--n", "40", "--seed", "1", "--out", str(out), "--report", "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)  # stdout holds the JSON object only
    assert report["dataset"] == str(out) and report["n"] == 40 and report["seed"] == 1


def test_out_refuses_an_existing_dataset_without_force(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--n", "6", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    before = (out / "manifest.json").read_text()
    assert main(["simulate", "--n", "6", "--seed", "2", "--out", str(out), "--quiet"]) == 1
    assert "--force" in capsys.readouterr().err and (out / "manifest.json").read_text() == before
    assert main(["simulate", "--n", "6", "--seed", "2", "--out", str(out), "--quiet", "--force"]) == 0
    assert open_dataset(out).manifest["provenance"]["seed"] == 2


def test_labels_flag_and_truth_file(tmp_path):
    from bhb_viewer.core.sim import read_truth

    out = tmp_path / "phys"
    assert main(["simulate", "--n", "30", "--seed", "3", "--out", str(out), "--quiet", "--labels", "physical"]) == 0
    ds = open_dataset(out)
    truth = read_truth(out)
    assert ds.manifest["provenance"]["labels"] == "physical"
    assert np.array_equal(ds.labels, truth["label_physical"]) and "label_xue" in truth.colnames
    assert "logg" not in ds.catalog.colnames and "kind" not in ds.catalog.colnames


def test_engine_flag_is_recorded_with_the_engine_checksum(tmp_path):
    from bhb_viewer.core.science.spectral_engine import default_engine

    for engine in ("empirical", "parametric"):
        out = tmp_path / engine
        assert main(["simulate", "--n", "12", "--seed", "3", "--out", str(out), "--quiet", "--engine", engine]) == 0
        prov = open_dataset(out).manifest["provenance"]
        assert prov["engine"] == engine and prov["labels"] == "physical"  # physical labels by default
        recorded = prov["parameters"].get("engine_provenance", {}).get("engine_sha256")
        assert recorded == (default_engine().sha256 if engine == "empirical" else None)
