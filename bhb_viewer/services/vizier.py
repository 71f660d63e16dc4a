"""Catalogues fetched from CDS VizieR (through astroquery) where an installation lacks the shipped copy.

Why: the package ships the catalogues its aliases name (``bhb_viewer/resources/catalogs``), but a
trimmed installation, or a packager who leaves data out, should still build the paper's data set
when the network is there. Only catalogues VizieR serves as published are fetched: Xue et al. (2011),
J/ApJ/738/79 (see the catalogues' README). The table is written once into the user's cache folder,
with its VizieR id and the time it was fetched, and read from there afterwards; offline, a missing
catalogue is a clear "offline and not cached" error, never a silent fallback.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from astropy.table import Table

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.services.network_errors import describe
from bhb_viewer.services.sdss import CACHE_ENV

__all__ = ["VIZIER_CATALOGS", "cached_catalog", "catalog_cache_dir", "fetch_catalog"]

# alias -> (VizieR catalogue, its table): the published tables the aliases name, where VizieR has them
VIZIER_CATALOGS = {"xue2011": ("J/ApJ/738/79", "J/ApJ/738/79/table1")}
VIZIER_TIMEOUT_S = 120.0  # the whole 4,985-row table in one answer


def catalog_cache_dir() -> Path:
    """Where fetched catalogues are kept: ``$BHB_VIEWER_CACHE/catalogs``, else the user cache folder's."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "catalogs"
    import platformdirs

    return Path(platformdirs.user_cache_dir("bhb_viewer")) / "catalogs"


def cached_catalog(alias: str) -> Path:
    """The file a fetched ``alias`` is (or would be) cached in."""
    return catalog_cache_dir() / f"{alias}.vizier.ecsv"


def fetch_catalog(alias: str, offline: bool = False, timeout: float = VIZIER_TIMEOUT_S) -> Path:
    """The cached copy of ``alias``, fetched from VizieR first when not cached yet.

    Parameters
    ----------
    alias : str
        A key of :data:`VIZIER_CATALOGS`.
    offline : bool
        Never touch the network: a catalogue not cached yet is an error.
    timeout : float
        Seconds for VizieR's answer.

    Returns
    -------
    Path
        The ECSV file in :func:`catalog_cache_dir`.

    Raises
    ------
    BadInputError
        The alias is not on VizieR, or it is not cached and offline, or the network failed.
    """
    path = cached_catalog(alias)
    if path.is_file():
        return path
    if alias not in VIZIER_CATALOGS:
        raise BadInputError(alias, "is not shipped with this installation and not a VizieR catalogue the app can "
                            "fetch; give its path")
    catalogue, table_name = VIZIER_CATALOGS[alias]
    if offline:
        raise BadInputError(alias, f"offline and not cached: the catalogue is not shipped with this installation, "
                            f"not in {path.parent}, and offline it is not fetched from VizieR ({catalogue}); run once "
                            "with the network, or give its path")
    from astroquery.vizier import Vizier

    try:
        tables = Vizier(columns=["**"], row_limit=-1, timeout=timeout).get_catalogs(catalogue)
    except Exception as exc:  # astroquery's HTTP stack raises requests', urllib's and its own errors alike
        raise BadInputError(alias, f"cannot be fetched from VizieR ({catalogue}): {describe(exc)}; check the "
                            "network, or give its path") from exc
    names = list(tables.keys())
    if table_name not in names:
        raise BadInputError(
            alias, f"VizieR's answer for {catalogue} has no {table_name} (it has {', '.join(names) or 'nothing'})"
        )
    table = Table(tables[table_name], copy=False)
    table.meta = {"vizier": catalogue, "table": table_name, "fetched": datetime.now(UTC).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    table.write(partial, format="ascii.ecsv", overwrite=True)
    partial.replace(path)  # a half-written file is never taken for the catalogue
    return path
