"""Atomic files and folders, stale temporaries, write errors as OutputError, regular files only."""

import errno
import os

import pytest

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import (
    OutputError,
    output_error,
    remove_stale,
    require_regular_file,
    staged_directory,
    write_atomic,
)


def test_staged_directory_replaces_the_old_folder_whole(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with staged_directory(target) as staged:
        (staged / "new.txt").write_text("new")
        assert (target / "old.txt").exists()  # untouched until the end
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_staged_directory_keeps_the_old_folder_on_error(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_directory(target) as staged:
        (staged / "new.txt").write_text("new")
        raise RuntimeError("boom")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_remove_stale_spares_live_writers(tmp_path):
    dead = tmp_path / ".tmp-999999999-0123abcd-x.csv"
    dead.write_text("x")
    dead_dir = tmp_path / ".tmp-999999999-0123abcd-ds"
    dead_dir.mkdir()
    live = tmp_path / f".tmp-{os.getpid()}-0123abcd-x.csv"
    live.write_text("x")
    other = tmp_path / ".tmp-999999999-0123abcd-y.csv"
    other.write_text("x")
    assert remove_stale(tmp_path, "x.csv") == [dead]
    assert remove_stale(tmp_path) and live.exists() and not dead_dir.exists() and not other.exists()


def test_write_errors_name_the_file_and_the_reason(tmp_path):
    with pytest.raises(OutputError, match="folder does not exist") as info:
        write_atomic(tmp_path / "nosuch" / "x.txt", lambda p: p.write_text("x"))
    assert info.value.path == str(tmp_path / "nosuch" / "x.txt")
    with pytest.raises(OutputError, match="is a folder"):
        write_atomic(tmp_path, lambda p: p.write_text("x"))
    assert "no space left" in str(output_error("f", OSError(errno.ENOSPC, "No space")))
    assert "read-only" in str(output_error("f", OSError(errno.EROFS, "Read-only")))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_only_regular_files_are_opened(tmp_path):
    pipe = tmp_path / "x.fits"
    os.mkfifo(pipe)
    with pytest.raises(BadInputError, match="named pipe, not a regular file"):
        require_regular_file(pipe)
    with pytest.raises(BadInputError, match="file not found"):
        require_regular_file(tmp_path / "gone.fits")
    (tmp_path / "ok.fits").write_bytes(b"x")
    assert require_regular_file(tmp_path / "ok.fits") == tmp_path / "ok.fits"
