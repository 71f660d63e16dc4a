import json

import numpy as np
from astropy.table import Table
from sdss_files import SDSS_LOGLAM0, gaussian_star, smooth_flux, stamp_wcs, write_spec, write_stamp

from bhb_viewer.cli import main
from bhb_viewer.core.dataset import write_dataset
from bhb_viewer.core.grid import BANDS, NPIX
from bhb_viewer.core.readers.cutouts import cube_from_files, write_cube


def _files(tmp_path):
    cat = tmp_path / "cands.csv"
    Table({"id": ["a", "b"], "ra": [1.0, 2.0], "dec": [3.0, 4.0], "gmag": [17.0, 18.0]}).write(cat)
    ll = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)
    spec = write_spec(tmp_path / "spec-0266-51602-0003.fits", ll, smooth_flux(ll), np.ones(3900))
    short = write_spec(tmp_path / "spec-short.fits", ll[:3000], smooth_flux(ll[:3000]), np.ones(3000), fiber=4)
    wcs = stamp_wcs(10.0, 20.0, 24)
    stamps = [write_stamp(tmp_path / f"stamp-{b}-x.fits", gaussian_star((24, 24), 11.5, 11.5), wcs) for b in BANDS]
    cube = write_cube(tmp_path / "cube.fits", cube_from_files(stamps, 10.0, 20.0, size=16))
    ds = write_dataset(
        tmp_path / "ds",
        Table({"id": ["x"], "ra": [1.0], "dec": [2.0], "label": [1]}),
        np.zeros((1, NPIX), np.float32),
        np.ones((1, NPIX), np.float32),
        np.zeros((1, 5, 8, 8), np.float32),
    )
    return cat, spec, short, stamps[0], cube, ds


def test_json_reports_every_kind(tmp_path, capsys):
    cat, spec, short, stamp, cube, ds = _files(tmp_path)
    assert main(["inspect", "--json", str(cat), str(spec), str(short), str(stamp), str(cube), str(ds)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["kind"] for r in rows] == ["catalog", "spectra", "spectra", "image", "cube", "dataset"]
    assert all(r["ok"] and r["error"] is None for r in rows)
    assert [r["count"] for r in rows] == [2, 1, 0, 1, 1, 1]
    assert rows[0]["canonical_columns"] == ["id", "ra", "dec", "g"]
    assert rows[0]["with_position"] == 2 and rows[0]["with_plate_mjd_fiber"] == 0
    spectrum = {"id": "266-51602-3", "valid_pixels": NPIX, "valid_fraction": 1.0, "resolution": 2000.0,
                "resolution_source": "SDSS nominal", "flags": []}
    assert rows[1]["spectra"] == [spectrum] and rows[1]["aligned"] is True
    assert rows[2]["rejected"][0]["id"] == "266-51602-4" and "covers 2779 of 3522" in rows[2]["rejected"][0]["reason"]
    assert rows[3]["band"] == "u" and rows[3]["wcs"]["pixel_scale_arcsec"] == 0.396
    assert rows[4]["shape"] == [5, 16, 16] and rows[4]["bands"] == list(BANDS)
    assert abs(rows[4]["wcs"]["centre_ra"] - 10.0) < 1e-9
    assert rows[5]["n_bhb"] == 1


def test_bad_path_is_reported_and_the_rest_still_read(tmp_path, capsys):
    cat = _files(tmp_path)[0]
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"\0" * 100)
    assert main(["inspect", "--json", str(junk), str(tmp_path / "missing.csv"), str(cat)]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["ok"] for r in rows] == [False, False, True]
    assert "cannot be read" in rows[0]["error"] and rows[1]["error"] == "file not found"
    assert rows[0]["count"] == 0 and rows[0]["path"] == str(junk)


def test_text_output(tmp_path, capsys):
    cat, _spec, short, *_ = _files(tmp_path)
    junk = tmp_path / "junk.csv"
    junk.write_text("x,y\n1,2\n")
    assert main(["inspect", str(cat), str(short), str(junk)]) == 1
    out, err = capsys.readouterr()
    assert f"{cat}: catalog" in out and "2 rows; 2 with RA/Dec" in out
    assert "0 spectra on the 3522-pixel grid" in out and "rejected 266-51602-4: covers 2779 of 3522" in out
    assert err.startswith(f"error: {junk}: missing column 'ra'/'dec'")


def test_real_files(shared_data, capsys):
    paths = [shared_data / "catalogs" / "xue2011_bhb.dat", shared_data / "real" / "spPlate-4055-55359-0020.fits"]
    assert main(["inspect", "--json", *map(str, paths)]) == 0
    xue, plate = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert xue["count"] == 4985 and {"d02", "fm", "c_hg", "b_hg", "g", "u_g", "g_r"} <= set(xue["canonical_columns"])
    assert plate["count"] == 20 and plate["format"] == "spPlate" and plate["aligned"] is True


def test_a_file_that_is_no_table_is_one_line(tmp_path, capsys):
    notes = tmp_path / "README.md"
    notes.write_text("# Notes\n\nSome prose, a list:\n- one\n- two | three\n\n    indented code\n")
    assert main(["inspect", str(notes)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {notes}: not a table, spectrum or image the viewer can read " \
                                 "(no text-table format fits it)\n"
