"""Export dialog: each format written and read back; the threshold chooser's numbers are the core's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table
from PySide6.QtCore import Qt

from bhb_viewer.core.exports.export import read_provenance, threshold_summary
from bhb_viewer.core.sessions.verdicts import CatalogRef, ModelRef, Session, VerdictKind
from bhb_viewer.gui.export_dialog import FORMAT_CHOICES, ExportDialog


@pytest.fixture
def inputs(tmp_path):
    n = 8
    catalog = Table({"id": [f"s{i}" for i in range(n)], "ra": np.arange(n) * 1.0, "dec": np.zeros(n)})
    catalog.write(tmp_path / "cands.ecsv")
    session = Session.create(tmp_path / "cands.session.sqlite", CatalogRef.from_file(tmp_path / "cands.ecsv", n), "ana")
    session.set_verdict("s1", VerdictKind.BHB)
    session.set_verdict("s4", VerdictKind.BLUE_STRAGGLER)
    session.set_note("s4", "broad Hδ")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    p_val = np.clip(labels * 0.6 + rng.uniform(0, 0.4, 200), 0, 1)
    (ckpt / "validation.json").write_text(json.dumps({"label": labels.tolist(), "p_bhb": p_val.tolist()}))
    scores = {f"s{i}": p for i, p in enumerate(np.linspace(0.05, 0.95, n))}
    yield {
        "catalog": catalog, "session": session, "scores": scores,
        "model": ModelRef("tiny", "0.1", str(ckpt)), "checkpoint": ckpt,
        "extra_columns": {"d02": np.full(n, 25.0)}, "_val": (labels, p_val), "_dir": tmp_path,
    }
    session.close()


READERS = {"CSV": {"format": "ascii.csv", "comment": "#"}, "ECSV": {"format": "ascii.ecsv"},
           "FITS": {"format": "fits"}, "VOTable": {"format": "votable"}}


@pytest.mark.parametrize("name", list(FORMAT_CHOICES))
def test_export_each_format_reads_back(qtbot, inputs, name):
    dialog = ExportDialog(None, inputs)
    qtbot.addWidget(dialog)
    dialog.set_format(name)
    out = inputs["_dir"] / f"out{FORMAT_CHOICES[name][1]}"
    dialog.path_edit.setText(str(out))
    with qtbot.waitSignal(dialog.sigExported, timeout=10000):
        dialog.export()
    table = Table.read(out, **READERS[name])
    assert [str(c) for c in table["id"]] == ["s1", "s4"]
    assert [str(v) for v in table["verdict"]] == ["bhb", "blue_straggler"]
    assert str(table["reviewer"][0]) == "ana"
    assert np.allclose(table["d02"], 25.0)
    assert np.allclose(table["p_bhb"], [inputs["scores"]["s1"], inputs["scores"]["s4"]])
    assert read_provenance(out)["MODEL"] == "tiny"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".tmp-")]


def test_threshold_numbers_match_core_and_model_accepted_export(qtbot, inputs):
    dialog = ExportDialog(None, inputs)
    qtbot.addWidget(dialog)
    dialog.set_selection("model-accepted")
    dialog.chooser.set_cut(0.62)
    labels, p_val = inputs["_val"]
    core = threshold_summary(labels, p_val, 0.62)
    shown = dialog.chooser.summary
    assert (shown.purity, shown.completeness, shown.n_selected) == (core.purity, core.completeness, core.n_selected)
    assert f"purity {100 * core.purity:.1f} %" in dialog.chooser.numbers.text()
    assert f"completeness {100 * core.completeness:.1f} %" in dialog.chooser.numbers.text()
    # 0.69, 0.82, 0.95 by score; s1 (0.18) the person called BHB: their verdict wins
    assert dialog.rows_label.text().startswith("4 candidates exported: 3 have P(BHB) ≥ 0.620")
    assert "plus 1 below the cut a person called BHB" in dialog.rows_label.text()
    assert "a person's verdict always wins" in dialog.selection_combo.currentText()  # the choice says so
    dialog.set_format("ECSV")
    out = inputs["_dir"] / "accepted.ecsv"
    dialog.path_edit.setText(str(out))
    with qtbot.waitSignal(dialog.sigExported, timeout=10000):
        dialog.export()
    table = Table.read(out)
    assert [str(c) for c in table["id"]] == ["s1", "s5", "s6", "s7"]
    prov = read_provenance(out)
    assert prov["PCUT"] == pytest.approx(0.62) and prov["PURITY"] == pytest.approx(core.purity)
    # the slider and the spin box are one cut
    dialog.chooser.slider.setValue(800)
    assert dialog.chooser.spin.value() == pytest.approx(0.8)
    assert dialog.chooser.summary.cut == pytest.approx(0.8)


def test_a_rejected_star_above_the_cut_is_left_out_and_the_count_says_so(qtbot, inputs):
    inputs["session"].set_verdict("s6", VerdictKind.BAD_DATA)  # P 0.82: above the cut
    dialog = ExportDialog(None, inputs)
    qtbot.addWidget(dialog)
    dialog.set_selection("model-accepted")
    dialog.chooser.set_cut(0.62)
    assert "less 1 a person called not BHB" in dialog.rows_label.text()
    out = inputs["_dir"] / "accepted.csv"
    dialog.path_edit.setText(str(out))
    with qtbot.waitSignal(dialog.sigExported, timeout=10000):
        dialog.export()
    table = Table.read(out, format="ascii.csv", comment="#")
    assert [str(c) for c in table["id"]] == ["s1", "s5", "s7"]


def test_retyping_the_cut_never_passes_through_zero(qtbot, inputs):
    dialog = ExportDialog(None, inputs)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_selection("model-accepted")
    dialog.chooser.set_cut(0.8)
    save = dialog.buttons.button(dialog.buttons.StandardButton.Save)
    edit = dialog.chooser.spin.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, "0")  # halfway through typing 0.7: the cut has not moved
    assert dialog.chooser.cut == pytest.approx(0.8)
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)  # an empty box is no cut: Save waits for one
    assert not dialog.chooser.typed_cut_ok() and not save.isEnabled()
    assert "cut must be" in dialog.status.text()
    qtbot.keyClicks(edit, "0.7")
    qtbot.keyClick(edit, Qt.Key.Key_Return)  # confirms the cut; it does not write the file
    assert dialog.chooser.cut == pytest.approx(0.7) and save.isEnabled()
    assert dialog.exported is None and dialog.status.text() == ""
    dialog.chooser.set_cut(0.0)  # the slider's and the box's floor: never "every row"
    assert dialog.chooser.cut > 0


def test_default_export_path_beside_the_catalog_or_in_documents_for_the_demo(tmp_path):
    from bhb_viewer.review.candidate_source import DEMO_DATASET, find_resource
    from bhb_viewer.review.export import default_export_path

    docs = tmp_path / "Documents"
    beside = default_export_path(tmp_path / "cands.ecsv", docs)
    assert beside == tmp_path / "cands-vetted.csv"
    demo = default_export_path(find_resource(DEMO_DATASET) / "catalog.ecsv", docs)
    assert demo == docs / "catalog-vetted.csv"  # never inside the installed package


def test_the_documents_folder_falls_back_to_home_when_missing(tmp_path, monkeypatch):
    from bhb_viewer.gui.export_dialog import documents_folder

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))  # no user-dirs.dirs there
    assert documents_folder() == tmp_path  # a fresh account without ~/Documents: the export still has a folder
    (tmp_path / "Documents").mkdir()
    assert documents_folder() == tmp_path / "Documents"
