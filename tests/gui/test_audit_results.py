"""Team → Audit results (issue 24): the blind audit's selection function on the demo, in a dialog with a plot
and a VOTable to save, the same numbers as ``bhb sessions audit --selection-function``."""

from __future__ import annotations

import shutil

import numpy as np
from astropy.io.votable import parse_single_table
from astropy.table import Table

from bhb_viewer.core.selection_function import audit_evidence, audit_selection_function
from bhb_viewer.core.verdicts import VerdictKind
from bhb_viewer.gui import selection_dialog
from bhb_viewer.review.candidate_source import DEMO_DATASET, DEMO_MODEL, find_resource

NUMBERS = ("lo", "hi", "n", "n_accepted", "purity", "purity_lo", "purity_hi", "n_bhb", "completeness",
           "completeness_lo", "completeness_hi")


def test_audit_results_show_the_demos_selection_function_and_save_it(qtbot, window, tmp_path, errors, monkeypatch):
    demo = tmp_path / "demo"
    shutil.copytree(find_resource(DEMO_DATASET), demo)
    with qtbot.waitSignal(window.sigSettled, timeout=120000):
        window.open_path(demo, find_resource(DEMO_MODEL))
    view = window.team
    view.show_audit_results()
    assert errors[-1][0] == "No audit" and view.results_dialog is None

    view.start_audit(half_width=0.2, seed=1)
    plan = view.team.plan
    label = dict(zip((str(c) for c in Table.read(demo / "catalog.ecsv")["id"]),
                     Table.read(demo / "catalog.ecsv")["label"], strict=True))
    judged = plan.ids[:12]  # part of the sample: too few judged stars for a bin of 20
    for cid in judged:  # the auditor is right every time: blind purity = the labels' share among them
        assert window.review.jump_to_id(cid)
        window.review.record_verdict(VerdictKind.BHB if label[cid] == 1 else VerdictKind.NON_BHB)

    view.show_audit_results()
    dialog = view.results_dialog
    assert dialog is not None and dialog.isVisible() and f"/{len(judged)} judged blind" in dialog.summary.text()
    assert f"{len(plan.ids) - len(judged)} still to review" in dialog.summary.text()
    qtbot.waitUntil(lambda: dialog.selection is not None, timeout=60000)
    assert not errors[1:]

    expected = audit_selection_function(audit_evidence(window.review.session, plan))  # what the CLI writes
    shown = dialog.selection.table
    assert list(shown["source"]) == list(expected.table["source"])
    assert list(shown["axis"]) == list(expected.table["axis"])
    for name in NUMBERS:
        np.testing.assert_allclose(np.asarray(shown[name], float), np.asarray(expected.table[name], float))
    assert {"blind audit", "labels"} == set(shown["source"])  # the demo has labels: completeness too
    assert set(dialog.plots) == {"g", "g_r", "snr"}
    for panel in dialog.plots.values():
        drawn = [item for item in panel.items if hasattr(item, "opts") and "top" in item.opts]  # the error bars
        assert len(drawn) == 2  # purity and completeness
    assert dialog.table.rowCount() == len(expected.table)
    # 12 judged stars are fewer than a bin needs: the audit's one bin per axis says so, in the table and below it
    few = [str(s) for s, n in zip(expected.table["source"], expected.table["note"], strict=True) if n]
    assert few == ["blind audit"] * 3
    assert dialog.notes.text().startswith("Too few stars: blind audit, g bin")
    notes_column = [dialog.table.item(i, 6).text() for i in range(dialog.table.rowCount())]
    assert notes_column.count("fewer than 20 stars") == len(few)

    out = tmp_path / "sf.vot"
    monkeypatch.setattr(selection_dialog, "ask_votable_path", lambda parent: out)
    dialog.save_button.click()
    table = parse_single_table(str(out)).to_table()
    assert len(table) == len(expected.table) and str(table["lo"].unit) == "mag"
    np.testing.assert_allclose(np.asarray(table["purity"], float), np.asarray(expected.table["purity"], float))
    assert dialog.status.text() == f"saved to {out}"
