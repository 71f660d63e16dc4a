"""The candidate table as sent over SAMP, and the checks that incoming messages about it must pass.

Other clients name rows of the table this viewer sent, or sky positions near its candidates; what
they send comes from another program, so every row, table id and position is checked here before
a candidate is selected.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.services.samp_errors import SampError

_table_serial = itertools.count(1)


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


@dataclass(frozen=True)
class SentTable:
    """One table sent: its SAMP id and file URL, its candidates' ids and their positions as unit vectors."""

    table_id: str
    url: str
    ids: list[str]  # the ``id`` column (or row numbers), for replies
    xyz: np.ndarray  # (n, 3)

    @classmethod
    def write(cls, table: Any, folder: Path) -> SentTable:
        """Write ``table`` (astropy Table with ``ra``/``dec`` in degrees) as a VOTable into ``folder``
        under a table id never used before (TOPCAT refuses an id it already holds)."""
        from astropy.io.votable import from_table, writeto
        from astropy.table import Table

        out = Table(table, copy=False)
        for col in out.colnames:  # VOTable has no unsigned 64-bit integers (SDSS specobjid)
            if out[col].dtype == np.uint64:
                out[col] = np.asarray(out[col]).astype(str)
        table_id = f"bhb-{os.getpid()}-{next(_table_serial)}"
        path = folder / f"{table_id}.vot"
        writeto(from_table(out), str(path))
        xyz = _unit_vectors(np.asarray(table["ra"], dtype=np.float64), np.asarray(table["dec"], dtype=np.float64))
        ids = table["id"] if "id" in table.colnames else range(len(table))
        return cls(table_id, path.as_uri(), [str(i) for i in ids], xyz)

    def params(self) -> dict[str, str]:
        """What names this table in an outgoing message."""
        return {"table-id": self.table_id, "url": self.url}

    def check_ours(self, params: dict[str, Any]) -> None:
        """Raise unless an incoming message is about this table."""
        if params.get("table-id") != self.table_id and params.get("url") != self.url:
            raise SampError(f"unknown table {params.get('table-id') or params.get('url')!r}; "
                            f"bhb_viewer's table is {self.table_id!r}")

    def row(self, value: Any) -> int:
        """A row number of this table, from a message; ValueError outside it."""
        row = int(value)
        if not 0 <= row < len(self.ids):
            raise ValueError(f"row {row} is outside the table sent ({len(self.ids)} rows)")
        return row

    def nearest(self, ra: float, dec: float) -> tuple[int, float]:
        """(row, separation in arcsec) of the candidate nearest (ra, dec) in degrees.

        Raises ValueError for a position off the sky: RA not finite or outside [0, 360), |Dec| > 90.
        """
        if not len(self.xyz):
            raise SampError("send the table first")
        if not (math.isfinite(ra) and math.isfinite(dec) and 0.0 <= ra < 360.0 and abs(dec) <= 90.0):
            raise ValueError(f"position off the sky: ra={ra}, dec={dec} (RA in [0, 360), |Dec| <= 90 degrees)")
        target = _unit_vectors(np.asarray(ra, np.float64), np.asarray(dec, np.float64))
        dots = np.nan_to_num(self.xyz @ target, nan=-2.0)
        row = int(np.argmax(dots))
        if dots[row] < -1.0:
            raise SampError("no candidate of the sent table has a position")
        return row, float(np.degrees(np.arccos(np.clip(dots[row], -1, 1))) * 3600)
