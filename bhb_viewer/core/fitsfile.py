"""Open a FITS file so that every way it can be broken becomes one BadInputError naming the file."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from astropy.io import fits

from bhb_viewer.core.errors import BadInputError

# what astropy raises for truncated, non-FITS or inconsistent files
FITS_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError)


@contextmanager
def open_fits(path: str | os.PathLike, what: str = "FITS file") -> Iterator[fits.HDUList]:
    """``fits.open`` fully read into memory; a missing, truncated or corrupt file raises BadInputError.

    Errors raised by the caller's block while reading HDUs are converted the same way, so readers
    need no try/except of their own for malformed headers or data.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "file not found")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False) as hdul:
                yield hdul
        except BadInputError:
            raise
        except FITS_ERRORS as exc:
            truncated = any("truncated" in str(w.message) for w in caught)
            problem = "is truncated" if truncated else f"cannot be read ({type(exc).__name__}: {exc})"
            raise BadInputError(path, f"{what} {problem}") from exc
