"""Known stars beside every candidate: is it already a catalogued BHB star, or a catalogued blue straggler?

Why: a person vetting a candidate should not spend a minute on a star Xue et al. (2011) already
confirmed, and should look twice at one a published list calls a blue straggler. The shipped
catalogues (bhb_viewer/resources/catalogs) and any the user adds are matched on position
(``astropy.coordinates.search_around_sky``, :data:`DEFAULT_RADIUS_ARCSEC`): ``known_as`` names every
catalogue the star is in (``xue2011:BHB;barbosa2022:BHB``, ``bss``; a user's catalogue by its file
name, or its own ``known_as`` column), ``known_sep_arcsec`` the nearest separation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.readers.candidates import read_candidates
from bhb_viewer.core.resources import resource_path

DEFAULT_RADIUS_ARCSEC = 2.0
SHIPPED = {"xue2011:BHB": "xue2011_bhb.dat", "barbosa2022:BHB": "barbosa2022_bhb.csv", "bss": "bss_candidates.csv"}
WORDS = {"xue2011:BHB": "a BHB star of Xue et al. (2011)", "barbosa2022:BHB": "a BHB star of Barbosa et al. (2022)",
         "bss": "a catalogued blue straggler"}


@dataclass(frozen=True)
class KnownStars:
    """Positions and labels of the known stars (one label per row)."""

    coords: SkyCoord
    labels: np.ndarray

    @classmethod
    def load(cls, extra: tuple[str | os.PathLike, ...] = (), shipped: bool = True) -> KnownStars:
        """The shipped catalogues (``shipped``) and the user's (``extra``: tables with ra, dec)."""
        ras, decs, labels = [], [], []
        sources: list[tuple[str | None, Path]] = (
            [(label, resource_path(Path("catalogs") / name)) for label, name in SHIPPED.items()] if shipped else [])
        sources += [(None, Path(p)) for p in extra]
        for label, path in sources:
            table = read_candidates(path)
            if not {"ra", "dec"} <= set(table.colnames):
                raise BadInputError(path, "a catalogue of known stars needs ra and dec columns")
            ras.append(np.asarray(table["ra"], dtype=np.float64))
            decs.append(np.asarray(table["dec"], dtype=np.float64))
            own = np.asarray(table["known_as"]).astype(str) if "known_as" in table.colnames else None
            labels.append(
                own if label is None and own is not None else np.full(len(table), label or f"{path.stem}:known")
            )
        ra, dec = (np.concatenate(a) if a else np.zeros(0) for a in (ras, decs))
        ok = np.isfinite(ra) & np.isfinite(dec)
        return cls(
            SkyCoord(ra[ok] * u.deg, dec[ok] * u.deg), (np.concatenate(labels) if labels else np.zeros(0, str))[ok]
        )

    def match(
        self, ra: np.ndarray, dec: np.ndarray, radius_arcsec: float = DEFAULT_RADIUS_ARCSEC
    ) -> tuple[np.ndarray, np.ndarray]:
        """(known_as, known_sep_arcsec) per position: every label within the radius, ``;``-joined in
        catalogue order, and the nearest separation (NaN and "" where none)."""
        ra, dec = np.asarray(ra, np.float64), np.asarray(dec, np.float64)
        known = np.full(len(ra), "", dtype=object)
        sep = np.full(len(ra), np.nan)
        ok = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
        if not len(ok) or not len(self.labels):
            return known.astype(str), sep
        idx_c, idx_k, d2d, _ = search_around_sky(SkyCoord(ra[ok] * u.deg, dec[ok] * u.deg), self.coords,
                                                 radius_arcsec * u.arcsec)
        for c, k, d in zip(ok[idx_c], idx_k, d2d.arcsec, strict=True):
            label = str(self.labels[k])
            if label not in known[c].split(";"):
                known[c] = f"{known[c]};{label}" if known[c] else label
            sep[c] = d if not np.isfinite(sep[c]) else min(sep[c], d)
        return known.astype(str), sep


@cache
def shipped_known_stars() -> KnownStars:
    """The shipped catalogues, read once per process (~14,000 stars)."""
    return KnownStars.load()


def merge(
    known_as: np.ndarray, sep: np.ndarray, more_as: np.ndarray, more_sep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two matches of the same positions as one: every label of both (``;``-joined, the first match's
    first) and the nearer separation. Why: a list that comes with its own ``known_as`` (``bhb score``'s
    output) keeps it when the user's catalogue adds to it.
    """
    joined = [";".join(dict.fromkeys(label for label in (*a.split(";"), *b.split(";")) if label))
              for a, b in zip(np.asarray(known_as).astype(str), np.asarray(more_as).astype(str), strict=True)]
    return np.asarray(joined, dtype=str), np.fmin(np.asarray(sep, np.float64), np.asarray(more_sep, np.float64))


def describe(known_as: str, sep_arcsec: float) -> str:
    """The panel's words for a candidate's ``known_as`` ('' when it is in no catalogue)."""
    if not known_as:
        return ""
    names = [WORDS.get(k, f"in {k.split(':')[0]}") for k in known_as.split(";")]
    return f"already known: {' and '.join(names)} ({sep_arcsec:.1f}″ away)"
