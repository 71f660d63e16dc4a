"""Candidate tables: read any catalogue a user brings into one validated astropy Table.

Catalogues spell the same quantity many ways (``RAdeg``, ``RAJ2000``, ``ra``; ``gr``, ``g-r``).
Everything downstream (scoring, cross-matching, the viewer's table, the data-set builder) reads
canonical names only, so the mapping happens once, here:

===================  ================================================================
id                   str, unique; derived when absent (Plate-MJD-Fiber, file name, specobjid,
                     objid, else a J2000 name from the position such as J105743.46+390209.4)
ra, dec              float64 degrees (NaN where the table gives only plate/mjd/fiber or specobjid)
plate, mjd, fiber    int64 (masked where a row has none)
specobjid, objid     uint64: SDSS ids pass 2**63 (masked where a row has none)
g, u_g, g_r          magnitudes / colours
d02, fm, c_hg, b_hg  Balmer-line diagnostics of Xue et al. (Å, -, -, Å)
===================  ================================================================

Every other column is kept under its own name.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import ascii as astropy_ascii
from astropy.table import Column, MaskedColumn, Table

from bhb_viewer.core.dataset import missing_manifest_problem
from bhb_viewer.core.errors import BadInputError

# canonical name -> accepted spellings (compared lower-case); the first match in this order wins
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "name", "object", "objname", "star", "star_id", "source_id"),
    "ra": ("ra", "radeg", "ra_deg", "raj2000", "_raj2000", "ra_icrs", "plug_ra", "raobj"),
    "dec": (
        "dec", "dedeg", "decdeg", "dec_deg", "de", "dej2000", "_dej2000", "decj2000", "de_icrs", "plug_dec", "decobj",
    ),
    "plate": ("plate", "plateid", "plate_id"),
    "mjd": ("mjd",),
    "fiber": ("fiber", "fiberid", "fibre", "fibreid", "fiber_id"),
    "specobjid": ("specobjid", "specobj_id", "spec_obj_id"),
    "objid": ("objid", "objid_1", "bestobjid", "obj_id", "photoobjid"),
    "g": ("g", "gmag", "g_mag", "mag_g", "psfmag_g", "g0"),
    "u_g": ("u_g", "u-g", "ug", "umg", "u-g0", "(u-g)0"),
    "g_r": ("g_r", "g-r", "gr", "gmr", "g-r0", "(g-r)0"),
    "d02": ("d02", "d0.2", "d_0.2", "d_02"),
    "fm": ("fm", "f_m"),
    "c_hg": ("c_hg", "chg", "c_gamma", "cgamma"),
    "b_hg": ("b_hg", "bhg", "b_gamma", "bgamma"),
}
INT_COLUMNS = {"plate": np.int64, "mjd": np.int64, "fiber": np.int64, "specobjid": np.uint64, "objid": np.uint64}
FLOAT_COLUMNS = ("g", "u_g", "g_r", "d02", "fm", "c_hg", "b_hg")
FILENAME_COLUMNS = ("filename", "file", "file_name", "spec_file")
_SPEC_NAME = re.compile(r"^spec-(\d{3,5})-(\d{5})-(\d{1,4})(?:\.fits?)?(?:\.gz|\.bz2)?$", re.IGNORECASE)

FORMAT_BY_SUFFIX = {
    ".csv": "ascii.csv",
    ".tsv": "ascii.tab",
    ".ecsv": "ascii.ecsv",
    ".fits": "fits",
    ".fit": "fits",
    ".fts": "fits",
    ".xml": "votable",
    ".vot": "votable",
    ".votable": "votable",
}

CROSSMATCH_ARCSEC = 2.0  # the paper's cross-match radius (negatives near a BHB, catalog ↔ data set, SDSS look-ups)


def pmf_id(plate: int, mjd: int, fiber: int) -> str:
    """The Plate-MJD-Fiber id used throughout (``3141-55008-498``, as Xue et al. 2011 write it)."""
    return f"{int(plate)}-{int(mjd)}-{int(fiber)}"


def spec_name(plate: int, mjd: int, fiber: int) -> str:
    """SDSS's zero-padded file stem of a spectrum, ``spec-0266-51602-0003``."""
    return f"spec-{int(plate):04d}-{int(mjd):05d}-{int(fiber):04d}"


def as_uint64(value) -> int:
    """An SDSS id (specObjID, objID) as an exact unsigned 64-bit integer, from a number or a string.

    Real SPECOBJ rows hold SPECOBJID as a 22-character string such as ``'2994261279419590656   '``;
    ids pass 2**63, so a float or int64 would corrupt them. Returned as a Python int (exact, JSON-safe)
    in the uint64 range; ValueError otherwise.
    """
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise ValueError(f"not an unsigned integer id: {value!r}")
        number = int(text)
    elif isinstance(value, (float, np.floating)):
        raise ValueError(f"a float cannot hold a 64-bit id exactly: {value!r}")
    else:
        number = int(value)
    if not 0 <= number < 2**64:
        raise ValueError(f"id {number} is outside the uint64 range")
    return number


def has_pmf(table: Table) -> np.ndarray:
    """Per row: plate, mjd and fiber all given (the columns present and unmasked)."""
    if not all(c in table.colnames for c in ("plate", "mjd", "fiber")):
        return np.zeros(len(table), bool)
    return ~(np.ma.getmaskarray(table["plate"]) | np.ma.getmaskarray(table["mjd"]) | np.ma.getmaskarray(table["fiber"]))


def read_candidates(path: str | os.PathLike, format: str | None = None) -> Table:
    """Read a CSV, ECSV, FITS, VOTable or CDS (data + ReadMe) table and validate it.

    Parameters
    ----------
    path : str or os.PathLike
        The table file (a CDS table wants its ReadMe beside it).
    format : str, optional
        Overrides the guess from the file name: any astropy ``Table.read`` format, or ``"cds"``.

    Returns
    -------
    astropy.table.Table
        The canonical columns (id, ra, dec, plate, mjd, fiber, specobjid, photometry, Balmer
        diagnostics where given), ids unique and 64-bit SDSS ids exact.

    Raises
    ------
    BadInputError
        Naming the file and the problem (unreadable, wrong columns, duplicate ids, ...).
    """
    path = Path(path)
    if path.is_dir():  # a data set given where a catalog is read (bhb score reads both)
        raise BadInputError(path, missing_manifest_problem(path))
    if not path.is_file():
        raise BadInputError(path, "file not found")
    raw = _read_raw(path, format)
    return canonicalize(raw, path)


def _read_raw(path: Path, format: str | None) -> Table:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2"):
        suffixes = suffixes[:-1]
    fmt = format or FORMAT_BY_SUFFIX.get(suffixes[-1] if suffixes else "")
    readme = _find_readme(path)
    if fmt == "cds" or (fmt is None and readme is not None):
        if readme is None:
            raise BadInputError(path, "CDS table needs its ReadMe beside it (<stem>.ReadMe or ReadMe)")
        return _read_cds(path, readme)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Table.read(path, format=fmt) if fmt else Table.read(path, format="ascii")
    except Exception as exc:  # astropy raises many kinds for a file it cannot parse
        if fmt is None:  # astropy's message lists every format it guessed (~70 lines): one line instead
            raise BadInputError(path, "not a table, spectrum or image the viewer can read "
                                      "(no text-table format fits it)") from exc
        first = (str(exc).strip().splitlines() or [""])[0]
        raise BadInputError(path, f"cannot read as a {fmt} table ({type(exc).__name__}: {first})") from exc


def _find_readme(path: Path) -> Path | None:
    for candidate in (path.with_name(path.name.split(".")[0] + ".ReadMe"), path.with_name("ReadMe")):
        if candidate.is_file():
            return candidate
    return None


def _read_cds(path: Path, readme: Path) -> Table:
    """A CDS table whose ReadMe may call it ``table1.dat`` while the file was renamed on disk."""
    text = readme.read_text(errors="replace")
    described = re.findall(r"Byte-by-byte Description of file:\s*(.+)", text, re.IGNORECASE)
    names = [n for line in described for n in re.split(r"[, ]+", line.strip()) if n]
    if path.name in names:
        table_name = path.name
    elif len(names) == 1:
        table_name = names[0]
    else:
        raise BadInputError(path, f"{readme.name} describes {names or 'no table'}, not {path.name}")
    reader = astropy_ascii.get_reader(astropy_ascii.Cds, readme=str(readme))
    reader.data.table_name = table_name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CDS units like '--' are not astropy units
            table = reader.read(path.read_text(errors="replace").splitlines())
    except Exception as exc:
        raise BadInputError(path, f"cannot read as a CDS table with {readme.name} ({exc})") from exc
    table.remove_columns([c for c in table.colnames if c.startswith("---")])  # separator bytes
    return table


def canonicalize(table: Table, path: str | os.PathLike | None = None) -> Table:
    """Rename, type-check and complete a raw table into the canonical layout (see module doc)."""
    if len(table) == 0:
        raise BadInputError(path, "table has no rows")
    out = Table(table, copy=False)
    out.meta = dict(table.meta)
    _rename_aliases(out)
    if "ra" in out.colnames or "dec" in out.colnames:
        _require_pair(out, path)
        _set_positions(out, path)
    for name, dtype in INT_COLUMNS.items():
        if name in out.colnames:
            out[name] = _as_int(out[name], name, path, dtype)
    for name in FLOAT_COLUMNS:
        if name in out.colnames:
            out[name] = _as_float(out[name], name, path)
    _fill_pmf_from_filename(out)
    has_pmf = all(c in out.colnames for c in ("plate", "mjd", "fiber"))
    if "ra" not in out.colnames and not (has_pmf or "specobjid" in out.colnames):
        raise BadInputError(
            path,
            "missing column 'ra'/'dec': expected positions in degrees (ra/dec, RAdeg/DEdeg, RAJ2000/DEJ2000, ...) "
            f"or SDSS plate/mjd/fiber or specobjid; found {out.colnames}",
        )
    if "ra" not in out.colnames:  # located later through SDSS by plate/mjd/fiber or specobjid
        out["ra"] = np.full(len(out), np.nan)
        out["dec"] = np.full(len(out), np.nan)
    out["id"] = _ids(out, path)
    _check_unique(out["id"], path)
    front = [c for c in ("id", "ra", "dec", "plate", "mjd", "fiber", "specobjid", "objid") if c in out.colnames]
    return out[front + [c for c in out.colnames if c not in front]]


def _rename_aliases(table: Table) -> None:
    lower = {name.lower().strip(): name for name in reversed(table.colnames)}
    for canonical, spellings in ALIASES.items():
        if canonical in table.colnames:
            continue
        for spelling in spellings:
            source = lower.get(spelling)
            if source is not None and source in table.colnames and source not in ALIASES:
                table.rename_column(source, canonical)
                break


def _require_pair(table: Table, path) -> None:
    for have, need in (("ra", "dec"), ("dec", "ra")):
        if have in table.colnames and need not in table.colnames:
            raise BadInputError(path, f"column '{have}' found but no '{need}' column: expected both, in degrees")


def _set_positions(table: Table, path) -> None:
    ra, dec = table["ra"], table["dec"]
    if ra.dtype.kind in "US" or dec.dtype.kind in "US":  # sexagesimal strings such as 10:57:43.5
        try:
            coord = SkyCoord(np.asarray(ra, str), np.asarray(dec, str), unit=(u.hourangle, u.deg))
        except Exception as exc:
            raise BadInputError(
                path, f"columns 'ra'/'dec': expected degrees or sexagesimal h:m:s d:m:s ({exc})"
            ) from exc
        ra_deg, dec_deg = coord.ra.deg, coord.dec.deg
    else:
        ra_deg = _to_float(ra, "ra", path, unit=u.deg)
        dec_deg = _to_float(dec, "dec", path, unit=u.deg)
    bad = ~((ra_deg >= 0) & (ra_deg <= 360) & (dec_deg >= -90) & (dec_deg <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BadInputError(
            path,
            f"columns 'ra'/'dec': {int(bad.sum())} rows outside 0≤ra≤360, "
            f"-90≤dec≤90 degrees (row {i}: {ra_deg[i]}, {dec_deg[i]})",
        )
    table["ra"] = Column(ra_deg, unit=u.deg, description="right ascension (deg)")
    table["dec"] = Column(dec_deg, unit=u.deg, description="declination (deg)")


def _to_float(col, name: str, path, unit=None) -> np.ndarray:
    if unit is not None and getattr(col, "unit", None) not in (None, unit):
        try:
            return np.asarray(col.quantity.to_value(unit), dtype=float)
        except (u.UnitsError, TypeError) as exc:
            raise BadInputError(path, f"column '{name}' has unit {col.unit}, expected {unit}") from exc
    try:
        values = np.ma.asarray(col).astype(float)
    except (TypeError, ValueError) as exc:
        raise BadInputError(path, f"column '{name}': expected numbers, found {col.dtype} like {col[0]!r}") from exc
    return np.ma.filled(values, np.nan)


def _as_float(col, name: str, path) -> Column:
    return Column(_to_float(col, name, path), description=getattr(col, "description", None))


def _as_int(col, name: str, path, dtype=np.int64) -> MaskedColumn:
    raw = np.ma.asarray(col)
    if raw.dtype.kind in "US":  # text such as '' or '123'
        text = np.ma.filled(raw.astype(str), "")
        missing = np.char.strip(text) == ""
        good = ~missing & np.char.isdigit(np.char.strip(text))
        if not np.all(good | missing):
            i = int(np.flatnonzero(~(good | missing))[0])
            raise BadInputError(path, f"column '{name}': expected integers, row {i} is {text[i]!r}")
        values = np.zeros(len(text), dtype=dtype)
        values[good] = np.char.strip(text[good]).astype(dtype)
        return MaskedColumn(values, mask=missing, name=name)
    if raw.dtype.kind == "f":
        mask = np.ma.getmaskarray(raw) | ~np.isfinite(np.ma.filled(raw, np.nan))
        data = np.ma.filled(raw, 0.0)
        # a float64 keeps 53 bits: the id's digits are gone
        if dtype == np.uint64 and np.any(np.abs(data[~mask]) > 2**53):
            raise BadInputError(path, f"column '{name}': 64-bit ids stored as floating point have lost digits; "
                                      "write them as integers or strings")
        if np.any((data != np.round(data)) & ~mask):
            raise BadInputError(path, f"column '{name}': expected integers, found fractional values")
        return MaskedColumn(np.where(mask, 0, data).astype(dtype), mask=mask, name=name)
    if raw.dtype.kind not in "iu":
        raise BadInputError(path, f"column '{name}': expected integers, found {raw.dtype}")
    if np.any(np.ma.filled(raw, 0) < 0):
        raise BadInputError(path, f"column '{name}': expected non-negative integers")
    return MaskedColumn(np.ma.filled(raw, 0).astype(dtype), mask=np.ma.getmaskarray(raw), name=name)


def _filename_cols(table: Table) -> list[str]:
    return [c for c in table.colnames if c.lower() in FILENAME_COLUMNS]


def _fill_pmf_from_filename(table: Table) -> None:
    """``spec-PLATE-MJD-FIBER`` names carry plate/mjd/fiber; other names (LAMOST) stay as they are."""
    cols = _filename_cols(table)
    if not cols or all(c in table.colnames for c in ("plate", "mjd", "fiber")):
        return
    names = np.ma.filled(np.ma.asarray(table[cols[0]]).astype(str), "")
    parts = np.zeros((len(names), 3), dtype=np.int64)
    ok = np.zeros(len(names), dtype=bool)
    for i, name in enumerate(names):  # one regex per row: catalogues are thousands of rows, not millions
        m = _SPEC_NAME.match(name.strip().rsplit("/", 1)[-1])
        if m:
            parts[i] = [int(g) for g in m.groups()]
            ok[i] = True
    if not ok.any():
        return
    for j, name in enumerate(("plate", "mjd", "fiber")):
        if name not in table.colnames:
            table[name] = MaskedColumn(parts[:, j], mask=~ok)


def _ids(table: Table, path) -> Column:
    """Existing ids win; otherwise each row takes the first of
    Plate-MJD-Fiber, file name, specobjid, objid, position."""
    n = len(table)
    if "id" in table.colnames:
        ids = np.ma.filled(np.ma.asarray(table["id"]).astype(str), "")
        ids = np.char.strip(ids.astype(str))
        empty = ids == ""
        if empty.any():
            raise BadInputError(
                path, f"column 'id': {int(empty.sum())} rows have an empty id (row {int(np.flatnonzero(empty)[0])})"
            )
        return Column(ids, name="id")
    ids = np.full(n, "", dtype=object)
    have = has_pmf(table)
    if have.any():
        p, m, f = (np.asarray(np.ma.filled(table[c], 0)) for c in ("plate", "mjd", "fiber"))
        ids[have] = [pmf_id(*t) for t in zip(p[have], m[have], f[have], strict=False)]
    fn = _filename_cols(table)
    if fn:
        names = np.ma.filled(np.ma.asarray(table[fn[0]]).astype(str), "")
        stems = np.array(
            [re.sub(r"\.fits?(\.gz|\.bz2)?$", "", s.strip().rsplit("/", 1)[-1]) for s in names], dtype=object
        )
        take = (ids == "") & (stems != "")
        ids[take] = stems[take]
    shared = np.zeros(n, bool)  # ids that name a star, not a spectrum: two spectra of one star share them
    for name in ("specobjid", "objid"):
        if name in table.colnames:
            have = ~np.ma.getmaskarray(table[name])
            values = np.asarray(np.ma.filled(table[name], 0)).astype(str).astype(object)
            take = (ids == "") & have
            ids[take] = values[take]
            if name == "objid":
                shared |= take
    missing = (ids == "") & np.isfinite(np.asarray(table["ra"], float))
    if missing.any():  # IAU-style name from the position, e.g. J105743.46+390209.4
        coord = SkyCoord(np.asarray(table["ra"], float)[missing], np.asarray(table["dec"], float)[missing], unit="deg")
        ids[missing] = ["J" + n.replace(" ", "")[:-1] for n in coord.to_string("hmsdms", sep="", precision=2)]
        shared |= missing
    _number_repeats(ids, shared)
    missing = ids == ""
    if missing.any():
        raise BadInputError(
            path,
            f"row {int(np.flatnonzero(missing)[0])} has no id, "
            "plate/mjd/fiber, file name, specobjid, objid or position",
        )
    return Column(ids.astype(str), name="id")


def _number_repeats(ids: np.ndarray, shared: np.ndarray) -> None:
    """Give repeats of an id this reader made from a position or objid a suffix (``J1057…-2``), in
    place: two observations of one star are two rows, not the duplicate ids of a broken file."""
    seen: dict[str, int] = {}
    for i in np.flatnonzero(shared):
        count = seen.get(ids[i], 0) + 1
        seen[ids[i]] = count
        if count > 1:
            ids[i] = f"{ids[i]}-{count}"


def _check_unique(ids: Column, path) -> None:
    values, counts = np.unique(np.asarray(ids), return_counts=True)
    dup = counts > 1
    if dup.any():
        example = values[dup][0]
        raise BadInputError(
            path,
            f"duplicate ids: {int(dup.sum())} ids occur more than once "
            f"(e.g. {str(example)!r}, {int(counts[dup][0])} times)",
        )


def crossmatch(a: Table, b: Table) -> tuple[np.ndarray, np.ndarray]:
    """Nearest row of ``b`` for every row of ``a``: (index into b, separation in arcsec).

    Rows without a position (NaN) get index -1 and separation inf.
    """
    idx = np.full(len(a), -1, dtype=np.int64)
    sep = np.full(len(a), np.inf)
    ok_a = np.isfinite(np.asarray(a["ra"], float)) & np.isfinite(np.asarray(a["dec"], float))
    ok_b = np.flatnonzero(np.isfinite(np.asarray(b["ra"], float)) & np.isfinite(np.asarray(b["dec"], float)))
    if not ok_a.any() or len(ok_b) == 0:
        return idx, sep
    ca = SkyCoord(np.asarray(a["ra"], float)[ok_a], np.asarray(a["dec"], float)[ok_a], unit="deg")
    cb = SkyCoord(np.asarray(b["ra"], float)[ok_b], np.asarray(b["dec"], float)[ok_b], unit="deg")
    j, d2d, _ = ca.match_to_catalog_sky(cb)
    idx[ok_a] = ok_b[j]
    sep[ok_a] = d2d.arcsec
    return idx, sep


def find_near(a: Table, b: Table, radius_arcsec: float = CROSSMATCH_ARCSEC) -> np.ndarray:
    """Boolean mask over ``a``: True where some row of ``b`` lies within ``radius_arcsec``.

    The data-set builder drops negatives within 2″ of a known BHB with ``a[~find_near(a, bhb)]``.
    """
    _, sep = crossmatch(a, b)
    return sep <= radius_arcsec
