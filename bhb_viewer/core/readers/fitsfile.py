"""Open a FITS file so that every way it can be broken becomes one BadInputError naming the file.

Before any data is read, every HDU's declared data size is compared with the file's real length:
a valid header declaring a 298 GiB image, or a table declaring 10⁹ rows, in a file of a few
kilobytes is a truncated or forged file, reported as such with both sizes instead of an attempt
to allocate what the header says. Only regular files are opened (a named pipe called x.fits
would block the reader forever).
"""

from __future__ import annotations

import os
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from astropy.io import fits

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import require_regular_file

# what astropy raises for truncated, non-FITS or inconsistent files
FITS_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError, EOFError, zlib.error)
_COMPRESSED = (".gz", ".bz2", ".xz", ".z", ".zip")


@contextmanager
def open_fits(path: str | os.PathLike, what: str = "FITS file") -> Iterator[fits.HDUList]:
    """``fits.open`` fully read into memory; a missing, truncated or corrupt file raises BadInputError.

    Errors raised by the caller's block while reading HDUs are converted the same way, so readers
    need no try/except of their own for malformed headers or data.
    """
    path = require_regular_file(path)
    n_bytes = path.stat().st_size
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False) as hdul:
                if path.suffix.lower() not in _COMPRESSED:
                    len(hdul)  # loads every header (no data), so the warnings below are complete
                    check_sizes(hdul, path, n_bytes, what, [str(w.message) for w in caught])
                yield hdul
        except BadInputError:
            raise
        except MemoryError as exc:
            raise BadInputError(
                path, f"{what} declares more data than fits in memory ({n_bytes:,} bytes on disk)"
            ) from exc
        except FITS_ERRORS as exc:
            truncated = any("truncated" in str(w.message) for w in caught)
            problem = (
                f"is truncated ({n_bytes:,} bytes)" if truncated else f"cannot be read ({type(exc).__name__}: {exc})"
            )
            raise BadInputError(path, f"{what} {problem}") from exc


def check_sizes(
    hdul: fits.HDUList, path: Path, n_bytes: int, what: str = "FITS file", messages: Sequence[str] = ()
) -> None:
    """Refuse a file whose headers declare more data than it holds, naming both sizes.

    Reads headers only (``len`` loads every header, no data), so it costs nothing for a valid file.
    """
    n_hdus = len(hdul)
    for i in range(n_hdus):
        start, size = hdul.fileinfo(i)["datLoc"], hdul[i].size
        if start + size > n_bytes:
            raise BadInputError(
                path,
                f"{what} is truncated: HDU {i} declares {size:,} bytes of data from byte {start:,}, "
                f"but the file has {n_bytes:,} bytes",
            )
    if any("Header size is not multiple of 2880" in m or "Header missing END card" in m for m in messages):
        last = hdul.fileinfo(n_hdus - 1) if n_hdus else {"datLoc": 0, "datSpan": 0}
        end = last["datLoc"] + last["datSpan"]
        raise BadInputError(
            path,
            f"{what} is truncated: {n_bytes:,} bytes, the HDU after byte {end:,} "
            f"has an incomplete header ({n_bytes - end:,} bytes)",
        )
