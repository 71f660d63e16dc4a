"""Issue 24: an installation without the shipped catalogues fetches Xue et al. (2011) from VizieR (astroquery,
mocked here: no network) into the user's cache and reads it from there; offline it says "offline and not cached"."""

from __future__ import annotations

import shutil
import warnings
from typing import ClassVar

import astroquery.vizier
import numpy as np
import pytest
from astropy.table import Table
from astropy.units import UnitsWarning

from bhb_viewer.cli import main
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.readers.candidates import read_candidates
from bhb_viewer.core.resources import resource_path
from bhb_viewer.services import builder
from bhb_viewer.services.builder import resolve_catalog
from bhb_viewer.services.vizier import cached_catalog


class FakeVizier:
    """astroquery's Vizier as far as the fetch uses it; records what was asked."""

    asked: ClassVar[list[tuple[str, dict]]] = []
    answer: ClassVar[dict[str, Table]] = {}
    failure: ClassVar[Exception | None] = None

    def __init__(self, **options) -> None:
        self.options = options

    def get_catalogs(self, catalog: str) -> dict[str, Table]:
        FakeVizier.asked.append((catalog, self.options))
        if FakeVizier.failure is not None:
            raise FakeVizier.failure
        return FakeVizier.answer


@pytest.fixture
def no_shipped_catalogues(monkeypatch, tmp_path):
    """An installation whose catalogues were left out, a fresh user cache, VizieR mocked with the first
    10 rows of the real table as VizieR labels them (the CDS ReadMe's labels)."""
    monkeypatch.setattr(builder, "SHIPPED_CATALOGS", tmp_path / "not-installed")
    monkeypatch.delenv("BHB_VIEWER_CATALOGS", raising=False)
    monkeypatch.setenv("BHB_VIEWER_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    cds = tmp_path / "cds"  # the CDS files under their own names, as the ReadMe describes them
    cds.mkdir()
    shutil.copy(resource_path("catalogs/xue2011_bhb.dat"), cds / "table1.dat")
    shutil.copy(resource_path("catalogs/xue2011_bhb.ReadMe"), cds / "ReadMe")
    with warnings.catch_warnings():  # the ReadMe's "--" units (fm, cHg) are not CDS units
        warnings.simplefilter("ignore", UnitsWarning)
        table1 = Table.read(cds / "table1.dat", format="ascii.cds", readme=str(cds / "ReadMe"))[:10]
    monkeypatch.setattr(FakeVizier, "asked", [])
    monkeypatch.setattr(FakeVizier, "answer", {"J/ApJ/738/79/table1": table1})
    monkeypatch.setattr(FakeVizier, "failure", None)
    monkeypatch.setattr(astroquery.vizier, "Vizier", FakeVizier)
    return table1


def test_a_missing_xue2011_is_fetched_from_vizier_once_and_read_like_the_shipped_one(no_shipped_catalogues, tmp_path):
    path = resolve_catalog("xue2011")
    assert path == cached_catalog("xue2011") and path.parent == tmp_path / "cache" / "catalogs"
    (catalog, options), = FakeVizier.asked
    assert catalog == "J/ApJ/738/79" and options["row_limit"] == -1  # every row, not astroquery's default 50
    fetched = read_candidates(path)
    shipped = read_candidates(resource_path("catalogs/xue2011_bhb.dat"))[:10]
    assert list(fetched["id"]) == list(shipped["id"])
    for col in ("ra", "dec", "plate", "mjd", "fiber"):
        np.testing.assert_array_equal(np.asarray(fetched[col]), np.asarray(shipped[col]))
    assert Table.read(path).meta["vizier"] == "J/ApJ/738/79"
    assert resolve_catalog("xue2011") == path and len(FakeVizier.asked) == 1  # the cache, not the network


def test_offline_or_without_network_a_missing_catalogue_is_a_clear_error(no_shipped_catalogues):
    with pytest.raises(BadInputError, match=r"offline and not cached.*J/ApJ/738/79") as offline:
        resolve_catalog("xue2011", offline=True)
    assert "not found" not in str(offline.value) and not FakeVizier.asked
    FakeVizier.failure = ConnectionError("Name or service not known")
    with pytest.raises(BadInputError, match=r"cannot be fetched from VizieR \(J/ApJ/738/79\): ConnectionError"):
        resolve_catalog("xue2011")
    assert not cached_catalog("xue2011").exists()
    with pytest.raises(BadInputError, match=r"'bss'.*not a VizieR catalogue"):  # a compiled list: nothing to fetch
        resolve_catalog("bss")


def test_bhb_dataset_build_offline_without_the_shipped_catalogues_says_offline_and_not_cached(
        no_shipped_catalogues, tmp_path, capsys):
    code = main(["dataset", "build", "--positives", "xue2011", "--negatives", "bss", "--offline", "--limit", "5",
                 "--cache", str(tmp_path / "sdss"), "--out", str(tmp_path / "ds")])
    err = capsys.readouterr().err
    assert code != 0 and "offline and not cached" in err and "J/ApJ/738/79" in err
    assert not FakeVizier.asked and not (tmp_path / "ds").exists()
