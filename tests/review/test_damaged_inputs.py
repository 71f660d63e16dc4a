"""Hand-edited or damaged session files, an unwritable data folder, routine failures without
tracebacks: each is an error event naming the file, and the review goes on."""

from __future__ import annotations

import logging
import sqlite3
import stat

import pytest

from bhb_viewer.core.sessions.verdicts import VerdictKind
from bhb_viewer.review import InlineRunner, Review


def good_session(review, dataset, tmp_path):
    review.open_path(dataset)
    review.vetting.record_verdict(VerdictKind.BHB)
    path = review.session.path
    copy = tmp_path / "copy.session.sqlite"
    src, dst = sqlite3.connect(path), sqlite3.connect(copy)
    src.backup(dst)  # the live session is in WAL mode: a file copy could miss its latest pages
    src.close()
    dst.close()
    return copy


def edit(path, sql, *args):
    con = sqlite3.connect(path)
    con.execute(sql, args)
    con.commit()
    con.close()


DAMAGE = {
    "not SQLite": lambda p: p.write_bytes(b"hand-made nonsense " * 64),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:3000]),
    "table dropped": lambda p: edit(p, "drop table current"),
    "catalog not an object": lambda p: edit(p, "update meta set value='5' where key='catalog'"),
    "model of another shape": lambda p: edit(p, "update meta set value='{\"x\": 1}' where key='model'"),
    "reviewer of another shape": lambda p: edit(p, "update meta set value='{\"x\": 1}' where key='reviewer'"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_session_is_an_error_naming_it_and_the_open_list_goes_on(review, events, dataset, tmp_path,
                                                                         damage, caplog):
    path = good_session(review, dataset, tmp_path)
    DAMAGE[damage](path)
    with caplog.at_level(logging.DEBUG):
        review.open_path(path)
    title, text = events.last("error")
    assert title.startswith("Cannot open the session") and str(path) in text
    assert not any(record.exc_info for record in caplog.records)
    assert review.source is not None and review.source.origin == dataset  # the list open before stays
    review.vetting.record_verdict(VerdictKind.OTHER)
    assert review.session.state("star001").verdict is VerdictKind.OTHER


def test_a_data_folder_that_is_a_file_is_said_and_the_review_works(tmp_path, dataset):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    review = Review(blocked / "data", InlineRunner(), reviewer="tester")
    said = []
    review.events.error.connect(lambda title, text: said.append((title, text)))
    assert not review.check_data_dir()
    title, text = said[0]
    assert title == "The data folder is not writable" and str(blocked / "data") in text and "--data-dir" in text
    review.open_path(dataset)  # a catalog in a writable folder keeps its session beside it
    review.vetting.record_verdict(VerdictKind.BHB)
    assert review.session.state("star000").verdict is VerdictKind.BHB
    review.close()


def test_a_read_only_data_folder_is_said(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        review = Review(folder, InlineRunner(), reviewer="tester")
        said = []
        review.events.error.connect(lambda title, text: said.append(text))
        assert not review.check_data_dir() and "read-only" in said[0]
    finally:
        folder.chmod(stat.S_IRWXU)


def test_bad_input_is_one_log_line_without_a_traceback(review, events, tmp_path, caplog):
    bad = tmp_path / "broken.csv"
    bad.write_text("no,columns,here\n1,2\n")
    with caplog.at_level(logging.DEBUG):
        review.open_path(bad)
    assert events.last("error")[0] == "Cannot open the file" and "broken.csv" in events.last("error")[1]
    assert not any(record.exc_info for record in caplog.records)
