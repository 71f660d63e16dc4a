"""Issue 20 in the window: a real galaxy's score is marked in the table, its reasons are in the
verdict panel, "hide flagged" leaves it out, and the export carries the flags and the fit."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from PySide6.QtCore import Qt

from bhb_viewer.cli import main as bhb
from bhb_viewer.core.science.spectral_engine import default_engine
from bhb_viewer.gui.widgets.candidate_table import COL_P
from bhb_viewer.review.filters import Filter

GALAXY = Path(__file__).resolve().parents[1] / "data" / "spSpec-53166-1615-104.fit"


def star_file(path: Path) -> None:
    """A 1-D FITS of an engine BHB-like star (8,500 K, log g 3.2, [Fe/H] −1.5) with 1 % noise."""
    engine = default_engine()
    wave = np.arange(3600.0, 9400.0, 1.0)
    flux = np.interp(np.log10(wave), engine.loglam, engine.flux(8500.0, 3.2, -1.5)[0], right=1.0) * 1e-13
    flux *= 1.0 + np.random.default_rng(2).normal(0.0, 0.01, flux.size)
    hdr = fits.Header({"CRVAL1": 3600.0, "CDELT1": 1.0, "CRPIX1": 1.0, "CTYPE1": "WAVE", "CUNIT1": "Angstrom"})
    fits.PrimaryHDU(flux.astype(np.float32), header=hdr).writeto(path)


def test_a_galaxy_is_marked_explained_and_hidden_on_request(qtbot, window, tmp_path):
    spectra = tmp_path / "spectra"
    spectra.mkdir()
    shutil.copy(GALAXY, spectra / GALAXY.name)
    star_file(spectra / "star.fits")
    Table({"id": ["star", "galaxy"], "ra": [150.0, 151.0], "dec": [2.0, 2.5],
           "spectrum_file": ["star.fits", GALAXY.name]}).write(tmp_path / "cat.ecsv")
    assert bhb(["dataset", "build", "--catalog", str(tmp_path / "cat.ecsv"), "--spectra", str(spectra),
                "--out", str(tmp_path / "ds"), "--partial"]) == 0
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.review.open_path(tmp_path / "ds")
    rows = window.review.rows
    qtbot.waitUntil(lambda: rows.column("flags")[1] != "", timeout=30000)
    ids = list(rows.column("id"))
    galaxy, star = ids.index("galaxy"), ids.index("star")
    assert rows.column("ood")[galaxy] and not rows.column("ood")[star]
    assert "ood:poor-fit" in rows.column("flags")[galaxy]

    model = window.table.model()
    view_row = next(r for r in range(model.rowCount()) if rows.source_row(r) == galaxy)
    index = model.index(view_row, COL_P)
    tip = model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("not to be trusted") and "no star template fits it" in tip
    assert model.data(index, Qt.ItemDataRole.FontRole).strikeOut()

    assert window.review.browser.jump_to_id("galaxy")
    panel = window.verdict_panel
    qtbot.waitUntil(lambda: "no star template fits it" in panel.quality_label.text(), timeout=10000)
    fit = panel.fit_label.text()
    assert fit.startswith("template fit: Teff 6,000 K") and "outside the BHB" in fit
    assert window.review.browser.jump_to_id("star")
    qtbot.waitUntil(lambda: "inside the BHB Teff–log g box" in panel.fit_label.text(), timeout=10000)
    assert "no star template" not in panel.quality_label.text()

    window.filter_bar.hide_flagged.setChecked(True)
    qtbot.waitUntil(lambda: rows.filter.hide_flagged, timeout=5000)
    assert [rows.source_row(r) for r in range(model.rowCount())] == [star]
    assert rows.filter == Filter(hide_flagged=True)
