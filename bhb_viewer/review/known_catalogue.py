"""The user's own catalogue of known stars: a setting of the review, and the match of a list against it.

Why: a group keeps its own list of stars it has confirmed or rejected before; a candidate in it should
say so in the window as a star of Xue et al. (2011) does. The file is read by the same code as
``bhb score --known CAT`` (:meth:`bhb_viewer.core.readers.known_stars.KnownStars.load`: ra, dec and optionally
its own ``known_as`` labels, else ``NAME:known``), and its matches are added to those of the shipped
catalogues. The setting lives in the user's data folder (``known_stars.json``) beside ``models.json``,
so the window and a headless review read the same one, and a second user's data folder its own.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.readers.known_stars import KnownStars, merge, shipped_known_stars

log = logging.getLogger(__name__)

__all__ = ["SETTINGS_FILE", "KnownCatalogueSetting", "KnownMatch", "match_list", "read_user_catalogue"]

SETTINGS_FILE = "known_stars.json"


class KnownCatalogueSetting:
    """The path of the user's catalogue of known stars, kept in ``data_dir/known_stars.json``.

    Parameters
    ----------
    data_dir : Path
        The user's data folder.
    """

    def __init__(self, data_dir: Path) -> None:
        self.file = Path(data_dir) / SETTINGS_FILE

    def get(self) -> Path | None:
        """The catalogue set (None: the shipped catalogues only; an unreadable settings file counts as none)."""
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("%s: %s; the shipped catalogues of known stars only", self.file, exc)
            return None
        path = data.get("catalogue") if isinstance(data, dict) else None
        return Path(path) if isinstance(path, str) and path else None

    def set(self, path: Path | None) -> None:
        """Keep ``path`` (None forgets it); an OSError when the data folder cannot be written."""
        self.file.write_text(json.dumps({"catalogue": None if path is None else str(Path(path).resolve())}) + "\n",
                             encoding="utf-8")


def read_user_catalogue(path: Path) -> KnownStars:
    """The stars of the user's catalogue, or a BadInputError that says what is wrong with the file."""
    try:
        stars = KnownStars.load((path,), shipped=False)
    except BadInputError as exc:
        raise BadInputError(path, f"cannot be used as a catalogue of known stars: {exc.problem}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"cannot be read as a catalogue of known stars: {exc}") from exc
    if not len(stars.labels):
        raise BadInputError(path, "has no star with a finite ra and dec: not a catalogue of known stars")
    return stars


@dataclass(frozen=True)
class KnownMatch:
    """A list's known stars: the shipped catalogues' (or the list's own) and with the user's added.

    Attributes
    ----------
    base : tuple of (ndarray, ndarray)
        ``known_as`` and ``known_sep_arcsec`` before the user's catalogue: what a new setting adds to.
    known_as, sep : ndarray
        With the user's catalogue's matches merged in.
    """

    base: tuple[np.ndarray, np.ndarray]
    known_as: np.ndarray
    sep: np.ndarray


def _positions(catalog: Table) -> tuple[np.ndarray, np.ndarray] | None:
    if not {"ra", "dec"} <= set(catalog.colnames) or not len(catalog):
        return None
    ra, dec = (np.asarray(np.ma.filled(np.ma.asarray(catalog[c], dtype=np.float64), np.nan)) for c in ("ra", "dec"))
    return ra, dec


def match_list(catalog: Table, user: KnownStars | None, base: tuple[np.ndarray, np.ndarray] | None = None
               ) -> KnownMatch | None:
    """The known stars of a candidate list (None when it has no positions).

    Parameters
    ----------
    catalog : astropy.table.Table
        The list: its ``known_as`` / ``known_sep_arcsec`` are kept where it has them (``bhb score``'s
        output), else it is matched against the shipped catalogues.
    user : KnownStars or None
        The user's catalogue (:func:`read_user_catalogue`).
    base : tuple of (ndarray, ndarray) or None
        A base already found for this list (a new setting re-matches the user's catalogue only).
    """
    positions = _positions(catalog)
    if positions is None:
        return None
    if base is None:
        if "known_as" in catalog.colnames:
            listed = catalog["known_as"]
            known = np.asarray(np.ma.filled(listed, "") if np.ma.is_masked(listed) else listed).astype(str)
            sep = (np.asarray(np.ma.filled(np.ma.asarray(catalog["known_sep_arcsec"], dtype=np.float64), np.nan))
                   if "known_sep_arcsec" in catalog.colnames else np.full(len(catalog), np.nan))
            base = (known, sep)
        else:
            base = shipped_known_stars().match(*positions)
    if user is None:
        return KnownMatch(base, *base)
    return KnownMatch(base, *merge(*base, *user.match(*positions)))
