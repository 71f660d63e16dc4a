import numpy as np
import pytest
from astropy.table import Table

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.readers.candidates import crossmatch, find_near, has_pmf, pmf_id, read_candidates, spec_name

README = """\
J/Test/1     A tiny test table
================================================================================
Byte-by-byte Description of file: table1.dat
--------------------------------------------------------------------------------
   Bytes Format Units   Label  Explanations
--------------------------------------------------------------------------------
   1-  4  I4    ---     Plate  Plate
       5  A1    ---     ---    [-]
   6- 10  I5    ---     MJD    MJD
      11  A1    ---     ---    [-]
  12- 14  I3    ---     Fiber  Fiber
  17- 26  F10.6 deg     RAdeg  Right Ascension
  29- 38  F10.6 deg     DEdeg  Declination
  41- 45  F5.2  mag     gmag   g magnitude
  48- 51  F4.2  mag     u-g    u-g colour
  54- 58  F5.2  0.1nm   D0.2   Hdelta width
--------------------------------------------------------------------------------
"""
DATA = "".join(
    f"{p:4d}-{m:5d}-{f:3d}  {ra:10.6f}  {de:10.6f}  {g:5.2f}  {ug:4.2f}  {d:5.2f}\n"
    for p, m, f, ra, de, g, ug, d in [
        (3141, 55008, 498, 331.047394, 6.292428, 18.94, 1.19, 22.86),
        (3141, 55008, 77, 330.606934, 6.429413, 16.96, 1.21, 26.30),
    ]
)


def _simple(n=3):
    return Table(
        {
            "RAJ2000": [10.0, 20.0, 30.0][:n],
            "DEJ2000": [-5.0, 0.0, 5.0][:n],
            "gmag": [17.0, 18.0, 19.0][:n],
            "gr": [-0.1, -0.2, 0.0][:n],
            "u-g": [1.1, 1.2, 1.0][:n],
            "plate": [3141, 3141, 266][:n],
            "MJD": [55008, 55008, 51602][:n],
            "fiberID": [498, 5, 634][:n],
            "extra": ["a", "b", "c"][:n],
        }
    )


@pytest.mark.parametrize(
    "suffix,fmt", [(".csv", "ascii.csv"), (".ecsv", "ascii.ecsv"), (".fits", "fits"), (".xml", "votable")]
)
def test_each_format_reads_into_canonical_columns(tmp_path, suffix, fmt):
    path = tmp_path / f"cands{suffix}"
    _simple().write(path, format=fmt)
    t = read_candidates(path)
    assert t.colnames[:6] == ["id", "ra", "dec", "plate", "mjd", "fiber"]
    assert list(t["id"]) == ["3141-55008-498", "3141-55008-5", "266-51602-634"]
    np.testing.assert_allclose(t["ra"], [10, 20, 30])
    np.testing.assert_allclose(t["g_r"], [-0.1, -0.2, 0.0])
    np.testing.assert_allclose(t["u_g"], [1.1, 1.2, 1.0])
    np.testing.assert_allclose(t["g"], [17, 18, 19])
    assert t["fiber"].dtype == np.int64
    assert list(t["extra"]) == ["a", "b", "c"]


def test_cds_table_with_renamed_data_file_uses_its_readme(tmp_path):
    (tmp_path / "mine.dat").write_text(DATA)
    (tmp_path / "mine.ReadMe").write_text(README)
    t = read_candidates(tmp_path / "mine.dat")
    assert list(t["id"]) == ["3141-55008-498", "3141-55008-77"]
    np.testing.assert_allclose(t["d02"], [22.86, 26.30])
    assert "---" not in t.colnames


def test_cds_without_readme_is_a_clear_error(tmp_path):
    (tmp_path / "lonely.dat").write_text(DATA)
    with pytest.raises(BadInputError) as err:
        read_candidates(tmp_path / "lonely.dat", format="cds")
    assert "ReadMe" in err.value.problem and "lonely.dat" in str(err.value)


def test_existing_id_column_wins_and_sexagesimal_positions_parse(tmp_path):
    path = tmp_path / "c.csv"
    Table({"Name": ["s1", "s2"], "RA": ["10:00:00", "12:00:00"], "Dec": ["-01:30:00", "+45:00:00"]}).write(path)
    t = read_candidates(path)
    assert list(t["id"]) == ["s1", "s2"]
    np.testing.assert_allclose(t["ra"], [150.0, 180.0])
    np.testing.assert_allclose(t["dec"], [-1.5, 45.0])


def test_filename_gives_plate_mjd_fiber_where_it_parses(tmp_path):
    path = tmp_path / "bss.csv"
    Table(
        {
            "FileName": ["spec-2377-53991-0490", "spec-56982-HD000408N565515V01_sp04-010"],
            "specObjID": [2676398835697294336, 269504010],
            "ra": [359.3765, 0.44156],
            "dec": [56.74176, 57.25154],
        }
    ).write(path)
    t = read_candidates(path)
    assert list(t["id"]) == ["2377-53991-490", "spec-56982-HD000408N565515V01_sp04-010"]
    assert t["plate"][0] == 2377 and t["fiber"][0] == 490
    assert list(t["plate"].mask) == [False, True]
    assert list(has_pmf(t)) == [True, False] and not has_pmf(t["id", "ra", "dec"]).any()
    assert t["specobjid"][0] == 2676398835697294336


def test_plate_mjd_fiber_without_positions_is_accepted(tmp_path):
    path = tmp_path / "pmf.csv"
    Table({"plate": [266], "mjd": [51602], "fiber": [3]}).write(path)
    t = read_candidates(path)
    assert t["id"][0] == pmf_id(266, 51602, 3) == "266-51602-3"
    assert spec_name(266, 51602, 3) == "spec-0266-51602-0003"
    assert np.isnan(t["ra"][0])


def test_crossmatch_and_find_near():
    a = Table({"id": ["x", "y", "z"], "ra": [10.0, 10.0, np.nan], "dec": [0.0, 1.0, 0.0]})
    b = Table({"id": ["p", "q"], "ra": [10.0 + 1.5 / 3600, 50.0], "dec": [0.0, 0.0]})
    idx, sep = crossmatch(a, b)
    assert idx[0] == 0 and sep[0] == pytest.approx(1.5, abs=1e-6)
    assert idx[2] == -1 and np.isinf(sep[2])
    assert list(find_near(a, b, 2.0)) == [True, False, False]
    assert list(find_near(a, b, 1.0)) == [False, False, False]


def test_real_xue2011_table(shared_data):
    t = read_candidates(shared_data / "catalogs" / "xue2011_bhb.dat")
    assert len(t) == 4985
    assert t["id"][0] == "3141-55008-498"
    assert t["ra"][0] == pytest.approx(331.047394) and t["dec"][0] == pytest.approx(6.292428)
    for name, first in (
        ("g", 18.94), ("u_g", 1.19), ("g_r", -0.07), ("d02", 22.86), ("fm", 0.25), ("c_hg", 0.86), ("b_hg", 9.17),
    ):
        assert t[name][0] == pytest.approx(first), name
    assert np.all(t["d02"] <= 29.0 + 1e-9) and np.all(t["fm"] <= 0.35 + 1e-9)  # the selection cuts


def test_real_barbosa_table(shared_data):
    t = read_candidates(shared_data / "catalogs" / "barbosa2022_bhb.csv")
    assert len(t) == 5699
    assert t["id"][0] == "1237648703520112952" and t["objid"].dtype == np.uint64
    assert t["g_r"][0] == pytest.approx(-0.1636881) and t["u_g"][0] == pytest.approx(1.2892785)


def test_real_bss_table_and_contamination_by_bhb(shared_data):
    bss = read_candidates(shared_data / "catalogs" / "bss_candidates.csv")
    xue = read_candidates(shared_data / "catalogs" / "xue2011_bhb.dat")
    assert len(bss) == 3733  # the file has 3,734 lines including its header
    sdss = bss["resource"] == "SDSS"
    assert sdss.sum() == 3183
    assert not np.any(bss["plate"].mask[sdss]) and np.all(bss["plate"].mask[~sdss])
    assert bss["id"][0] == "spec-56982-HD000408N565515V01_sp04-010"
    near = find_near(bss, xue, 2.0)
    idx, _ = crossmatch(bss, xue)
    assert near.sum() == 56 and len(np.unique(idx[near])) == 51  # 56 BSS rows on 51 Xue BHBs


def test_positions_alone_give_j2000_names(shared_data):
    t = read_candidates(shared_data / "real" / "cat-164.4311-39.0359.fits")
    assert list(t["id"]) == ["J105743.46+390209.3", "J105742.82+390209.5"]


def test_ids_made_from_positions_are_numbered_on_repeats(tmp_path):
    # two observations of one star in an SDSS-like catalogue without ids: two rows, not a broken file
    path = tmp_path / "repeat.csv"
    path.write_text("ra,dec,g\n150.0,2.0,17.1\n150.0,2.0,17.2\n151.0,2.5,16.0\n")
    ids = list(read_candidates(path)["id"])
    assert ids[0] != ids[1] and ids[1] == ids[0] + "-2" and len(set(ids)) == 3
    given = tmp_path / "given.csv"
    given.write_text("id,ra,dec\na,1,2\na,3,4\n")
    with pytest.raises(BadInputError, match="duplicate ids"):
        read_candidates(given)
