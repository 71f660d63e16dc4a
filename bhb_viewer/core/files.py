"""Files written whole or not at all, and their content digests.

Data sets, checkpoints, cutout cubes, exports and the SDSS cache all replace a file by renaming a
finished temporary one over it, so a crash or a full disk never leaves a half file under the real
name, where a reader (or a cache lookup) would take it for a good one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | os.PathLike, writer: Callable[[Path], object]) -> Path:
    """Run ``writer(tmp)`` on a fresh name in the target's directory, flush it to disk, then rename it
    over ``path``; if the writer fails, the old file is untouched and the temporary file removed."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{secrets.token_hex(4)}-{path.name}")  # same suffixes: .fits.gz stays gzipped
    try:
        writer(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (data-set arrays can be gigabytes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
