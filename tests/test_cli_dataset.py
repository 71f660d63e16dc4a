"""``bhb dataset build`` / ``bhb dataset info`` end to end, in process, never on the network."""

from __future__ import annotations

import json
import signal
import socket
import time

import numpy as np
import pytest
from astropy.table import Table
from sdss_files import (
    SDSS_LOGLAM0,
    gaussian_star,
    sdss_frame,
    served_spectrum,
    smooth_flux,
    stamp_wcs,
    write_spec,
    write_stamp,
)

from bhb_viewer.cli import main
from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.grid import BANDS
from bhb_viewer.services.sdss import SDSSService
from bhb_viewer.services.sdss_network import NetworkGuard

LOGLAM = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)


@pytest.fixture
def files(tmp_path):
    """Two stars on disk: one with a spectrum file, one without; per-band stamps covering both."""
    (tmp_path / "spec").mkdir()
    (tmp_path / "img").mkdir()
    write_spec(tmp_path / "spec" / "spec-0500-52000-0001.fits", LOGLAM, smooth_flux(LOGLAM), np.ones(LOGLAM.size),
               plate=500, mjd=52000, fiber=1)
    wcs = stamp_wcs(100.0, 10.0, 60)
    x, y = wcs.world_to_pixel_values(100.0, 10.0)
    for band in BANDS:
        write_stamp(tmp_path / "img" / f"stamp-{band}-100.0000-10.0000.fits", gaussian_star((60, 60), x, y), wcs)
    Table({"id": ["a", "b"], "ra": [100.0, 100.001], "dec": [10.0, 10.0], "plate": [500, 500], "mjd": [52000, 52000],
           "fiber": [1, 2]}).write(tmp_path / "cat.csv")
    return tmp_path


def test_build_from_files_then_info(files, capsys):
    handler = signal.getsignal(signal.SIGINT)
    argv = ["dataset", "build", "--catalog", str(files / "cat.csv"), "--spectra", str(files / "spec"),
            "--images", str(files / "img"), "--label", "bhb", "--size", "16", "--out", str(files / "ds")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 stars (1 BHB, 0 non-BHB); 1 rejected" in out
    assert "skipped b: no spectrum file: expected spec-0500-52000-0002.fits" in out
    assert signal.getsignal(signal.SIGINT) is handler  # the cancel handler is removed again
    assert open_dataset(files / "ds").cutouts.shape == (1, 5, 16, 16)

    assert main(argv) == 1  # refuses to overwrite without --force
    assert "already holds a data set; use --force" in capsys.readouterr().err
    assert main([*argv, "--force", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 1 and report["rejected"][0]["id"] == "b"

    assert main(["dataset", "info", str(files / "ds"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["count"], info["n_bhb"], info["cutout_size"]) == (1, 1, 16)
    assert info["provenance"]["builder"] == "files" and info["provenance"]["n_rejected"] == 1
    assert main(["dataset", "info", str(files / "ds")]) == 0
    assert "1 stars (1 BHB, 0 non-BHB, 0 unlabelled)" in capsys.readouterr().out


def test_sources_cannot_be_mixed(files, capsys):
    assert (
        main(
            [
                "dataset", "build", "--catalog", str(files / "cat.csv"), "--positives", "xue2011", "--out",
                str(files / "x"),
            ]
        )
        == 1
    )
    assert "either --catalog" in capsys.readouterr().err


def test_paper_build_without_network_fails_fast_with_a_message(tmp_path, capsys, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BHB_VIEWER_CACHE", str(tmp_path / "cache"))
    start = time.perf_counter()
    code = main(["dataset", "build", "--positives", "xue2011", "--negatives", "bss"])  # as the paper's set is asked for
    assert code == 1 and time.perf_counter() - start < 1.0
    assert "error: cannot reach SDSS" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # default output folder ./xue2011-bss never created


def test_paper_build_offline_from_a_filled_cache(tmp_path, capsys, monkeypatch, shared_data):
    """The contract command, aliases resolved to the shipped catalogs, served by a fake request layer, then offline."""

    def fake_fetch(self, kind, **p):
        if kind == "spectrum":
            return [served_spectrum(tmp_path / "served", p["plate"], p["mjd"], p["fiber"], LOGLAM)]
        return [sdss_frame(p["ra"], p["dec"], b, size=30) for b in BANDS]

    monkeypatch.setattr(SDSSService, "_fetch", fake_fetch)
    monkeypatch.setattr(NetworkGuard, "ensure_online", lambda self: None)
    common = ["dataset", "build", "--positives", "xue2011", "--negatives", "bss", "--cache", str(tmp_path / "cache"),
              "--catalogs", str(shared_data / "catalogs"), "--limit", "2", "--size", "16", "--json"]
    assert main([*common, "--out", str(tmp_path / "online")]) == 0
    online = json.loads(capsys.readouterr().out)
    assert (online["count"], online["n_bhb"], online["n_non_bhb"]) == (4, 2, 2)

    monkeypatch.setattr(SDSSService, "_fetch", lambda self, kind, **p: pytest.fail("offline mode used the network"))
    assert main([*common, "--offline", "--out", str(tmp_path / "offline")]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 4
    prov = open_dataset(tmp_path / "offline").manifest["provenance"]
    assert prov["offline"] is True and prov["n_negatives_near_positive"] == 51
    assert prov["positives"].endswith("xue2011_bhb.dat") and prov["negatives"].endswith("bss_candidates.csv")


def test_default_output_folder_is_named_after_the_catalog(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    assert (
        main(["dataset", "build", "--catalog", "cat.csv", "--spectra", "spec", "--images", "img", "--size", "16"]) == 0
    )
    assert "wrote cat-dataset: 1 stars" in capsys.readouterr().out
    assert open_dataset(files / "cat-dataset").manifest["count"] == 1
