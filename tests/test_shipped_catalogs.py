"""Issue 24 (first part): the catalogues ship with the app, so a fresh clone builds the paper's data set
(offline: it resolves both and says what is not cached) and reads the real test files from tests/data."""

from __future__ import annotations

from pathlib import Path

from bhb_viewer.cli import main
from bhb_viewer.services.builder import CATALOG_ALIASES, SHIPPED_CATALOGS, resolve_catalog

ROOT = Path(__file__).resolve().parents[1]


def test_every_alias_resolves_to_the_shipped_catalogue(monkeypatch, tmp_path):
    monkeypatch.delenv("BHB_VIEWER_CATALOGS", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./catalogs here
    for alias, name in CATALOG_ALIASES.items():
        assert resolve_catalog(alias) == SHIPPED_CATALOGS / name
    assert (SHIPPED_CATALOGS / "README.md").read_text().count("cite") >= 1
    assert sum(p.stat().st_size for p in SHIPPED_CATALOGS.iterdir()) < 5_000_000  # a few MB at most


def test_the_paper_data_set_offline_resolves_both_catalogues_and_says_what_is_not_cached(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("BHB_VIEWER_CATALOGS", raising=False)
    monkeypatch.chdir(tmp_path)
    code = main(["dataset", "build", "--positives", "xue2011", "--negatives", "bss", "--offline", "--limit", "5",
                 "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "ds")])
    err = capsys.readouterr().err
    assert code != 0 and "not found" not in err
    assert "not in the cache" in err and "offline" in err
    assert not (tmp_path / "ds" / "manifest.json").exists()


def test_the_real_test_files_are_in_the_repository():
    real = ROOT / "tests" / "data" / "real"
    assert (real / "spPlate-4055-55359-0020.fits").is_file() and len(list(real.glob("stamp-*.fits"))) == 5
