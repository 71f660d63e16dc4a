"""Files and folders written whole or not at all, their content digests, and the checks before reading.

Data sets, checkpoints, cutout cubes, exports and the SDSS cache all replace a file by renaming a
finished temporary one over it, so a crash or a full disk never leaves a half file under the real
name, where a reader (or a cache lookup) would take it for a good one. A data set, being a folder
of files that must agree, is built in a temporary sibling folder and swapped in whole
(:func:`staged_directory`). Temporary names carry the writer's process id, so the next writer of
the same target removes what a killed one left behind (:func:`remove_stale`).

A failed write (disk full, read-only folder, missing folder) raises :class:`OutputError`, a
BadInputError naming the file, so every entry point reports it as one clear line.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from bhb_viewer.core.errors import BadInputError

log = logging.getLogger(__name__)

_TMP = re.compile(r"^\.tmp-(\d+)-[0-9a-f]{8}-(.+)$")  # .tmp-PID-TOKEN-NAME
_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "folder does not exist",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "is a folder",
    errno.EFBIG: "file too large for this file system",
}

_ALWAYS_WRITING = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


class OutputError(BadInputError):
    """An output that cannot be written (disk full, read-only, missing folder), naming the path."""


def output_error(path: str | os.PathLike, exc: OSError) -> OutputError:
    """The OSError of a write as an OutputError naming ``path`` and the reason in words."""
    reason = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return OutputError(path, f"cannot write: {reason}")


def _tmp_name(path: Path) -> Path:
    return path.with_name(
        f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{path.name}"
    )  # same suffixes: .fits.gz stays gzipped


def process_alive(pid: int) -> bool:
    """Whether a process of this host still exists (signal 0 probes without touching it)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def remove_stale(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove temporary files and folders a killed writer left in ``folder`` (for target ``name``, or
    any): those whose process is gone. Returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TMP.match(entry.name)
        if not m or (name is not None and m[2] != name) or process_alive(int(m[1])):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError as exc:
            log.warning("cannot remove stale temporary %s: %s", entry, exc)
    if removed:
        log.info("removed %d stale temporary file(s) in %s", len(removed), folder)
    return removed


def _fsync_dir(folder: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):  # make a rename itself durable (POSIX)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: str | os.PathLike, writer: Callable[[Path], object]) -> Path:
    """Run ``writer(tmp)`` on a fresh name in the target's directory, flush it to disk, then rename it
    over ``path``; if the writer fails, the old file is untouched and the temporary file removed.

    An OSError of the file system (disk full, read-only, missing folder) becomes an OutputError naming ``path``.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "is a folder; give a file name")
    tmp = _tmp_name(path)
    try:
        writer(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        _unlink_quietly(tmp)
        ours = exc.filename is None or Path(exc.filename) in (tmp, path, path.parent)  # not a file the writer read
        if exc.errno in _REASONS and (ours or exc.errno in _ALWAYS_WRITING):
            raise output_error(path, exc) from exc
        raise
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return path


def _unlink_quietly(path: Path) -> None:
    with suppress(OSError):
        path.unlink(missing_ok=True)


def check_free_space(folder: str | os.PathLike, need: int, what: str = "this") -> None:
    """Refuse up front (OutputError naming ``folder``) when its file system lacks ``need`` bytes."""
    folder = Path(folder)
    probe = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    try:
        free = shutil.disk_usage(probe).free
    except OSError as exc:
        raise output_error(folder, exc) from exc
    if free < need:
        raise OutputError(folder, f"no space left on the device for {what}: needs about {_mb(need)}, {_mb(free)} free")


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def allocate(path: str | os.PathLike, size: int) -> None:
    """Reserve ``size`` bytes for a file (posix_fallocate), so writing through a memory map can never
    meet a full disk: that would be a SIGBUS killing the process instead of an error."""
    fd = os.open(path, os.O_RDWR)
    try:
        if size > 0 and hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        raise output_error(path, exc) from exc
    finally:
        os.close(fd)


@contextmanager
def staged_directory(target: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary folder next to ``target``; on success it replaces ``target`` in one step.

    Readers see the old folder or the new one, never a mix: on Linux the two are exchanged
    atomically (renameat2 RENAME_EXCHANGE); elsewhere the old one is moved aside just before. On an
    error, or a kill, the old folder stays as it was; the temporary one is removed (after a kill,
    by the next writer: :func:`remove_stale`).
    """
    target = Path(target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(target, exc) from exc
    remove_stale(parent, target.name)
    staged = _tmp_name(target)
    try:
        staged.mkdir()
    except OSError as exc:
        raise output_error(target, exc) from exc
    try:
        yield staged
        replace_dir(staged, target)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)


def replace_dir(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``: exchanged atomically where the OS can, then the old one removed."""
    try:
        if not target.exists():
            os.rename(new, target)
        elif not _exchange(new, target):
            aside = _tmp_name(target)
            os.rename(target, aside)
            os.rename(new, target)
            new = aside
        _fsync_dir(target.parent)
    except OSError as exc:
        raise output_error(target, exc) from exc
    if new.exists():  # now the old contents
        shutil.rmtree(new, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step with Linux's renameat2(RENAME_EXCHANGE); False where unavailable."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def require_regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` if it is a regular file (symlinks followed); BadInputError otherwise.

    Opening a named pipe blocks until something writes to it, and a device never ends: both hang a
    reader, so they are refused before they are opened.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise BadInputError(path, f"{what} not found") from None
    except OSError as exc:
        raise BadInputError(path, f"cannot be opened ({exc.strerror or exc})") from exc
    if stat.S_ISREG(mode):
        return path
    kind = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a named pipe"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "special"
    )
    raise BadInputError(path, f"is {kind}, not a regular {what}")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (data-set arrays can be gigabytes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
