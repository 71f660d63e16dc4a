"""Tables written a chunk at a time, so ``bhb score`` over millions of stars never holds its output.

``open_table_writer(path)`` picks the format from the extension:

=========  ======================================================================================
.parquet   row groups appended with pyarrow's ParquetWriter (astropy reads it back; meta as YAML)
.ecsv      header once, then rows appended
.csv       ``# KEY: <JSON>`` comment lines and the column names once, then rows appended
.fits      BINTABLE header written first, rows appended, NAXIS2 patched on close
other      (.vot, .xml) collected and written whole on close: not constant memory
=========  ======================================================================================

Every chunk must have the columns (names, order, dtypes) of the first. Rows go to a temporary file
in the target's directory that is flushed and renamed over the target on ``close()`` (as
core.files.write_atomic does); ``abort()`` (or an exception inside ``with``) removes it, so a
crash never leaves a half table under the real name.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import MaskedColumn, Table, vstack

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import output_error

if TYPE_CHECKING:
    from astropy.io import fits

log = logging.getLogger(__name__)

STREAMED = (".parquet", ".ecsv", ".csv", ".fits")
FITS_BLOCK = 2880


class TableWriter:
    """Base: a temporary file renamed over ``path`` on close. Subclasses implement ``_write``/``_finish``."""

    def __init__(self, path: str | os.PathLike, meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.meta = dict(meta or {})
        self.tmp = self.path.with_name(f".tmp-{secrets.token_hex(4)}-{self.path.name}")
        self.rows = 0
        self._names: list[str] | None = None

    def write(self, chunk: Table) -> None:
        """Append ``chunk``'s rows; its columns must be those of the first chunk."""
        if self._names is None:
            self._names = list(chunk.colnames)
        elif list(chunk.colnames) != self._names:
            raise ValueError(f"{self.path}: a chunk has columns {chunk.colnames}, the table has {self._names}")
        try:
            self._write(chunk)
        except OSError as exc:  # disk full, read-only, folder gone: a message naming the output
            raise output_error(self.path, exc) from exc
        self.rows += len(chunk)

    def close(self) -> Path:
        """Finish the file, flush it to disk and rename it over the target."""
        if self._names is None:
            raise ValueError(f"{self.path}: nothing was written")
        try:
            self._finish()
            with open(self.tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise output_error(self.path, exc) from exc
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; the target is untouched."""
        self._release()
        self.tmp.unlink(missing_ok=True)

    def _write(self, chunk: Table) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Close open handles without finishing (abort)."""

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class _TextWriter(TableWriter):
    """ECSV or CSV: the first chunk writes the header; later chunks append their data lines only."""

    def __init__(self, path, meta=None, fmt: str = "ascii.ecsv") -> None:
        super().__init__(path, meta)
        self.fmt = fmt
        self._file = open(self.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 (open until close/abort)

    def _text(self, chunk: Table) -> str:
        out = Table(chunk, copy=False)
        if self.fmt == "ascii.csv":
            from bhb_viewer.core.exports.export import csv_safe

            out = csv_safe(out)  # ids or notes a spreadsheet would run as formulas
            out.meta = {"comments": [f"{k}: {json.dumps(v)}" for k, v in self.meta.items()]}
            kwargs = {"comment": "# "}
        else:
            out.meta = self.meta
            kwargs = {}
        buf = io.StringIO()
        out.write(buf, format=self.fmt, **kwargs)
        return buf.getvalue()

    def _write(self, chunk: Table) -> None:
        text = self._text(chunk)
        if self.rows or self._file.tell():
            lines = text.splitlines(keepends=True)
            start = next(i for i, line in enumerate(lines) if not line.startswith("#")) + 1  # header + column names
            text = "".join(lines[start:])
        self._file.write(text)

    def _finish(self) -> None:
        self._file.close()

    def _release(self) -> None:
        self._file.close()


class _ParquetWriter(TableWriter):
    """Parquet through pyarrow; masked values become nulls, the table meta goes where astropy reads it."""

    def __init__(self, path, meta=None) -> None:
        super().__init__(path, meta)
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise BadInputError(path, "Parquet output needs the pyarrow package (pip install pyarrow)") from exc
        self._pa, self._pq = pa, pq
        # pyarrow has no type information: its ParquetWriter and Schema, set by the first chunk, are Any
        self._writer: Any = None
        self._schema: Any = None

    def _write(self, chunk: Table) -> None:
        pa = self._pa
        if self._writer is None:
            from astropy.table import meta as table_meta

            plain = Table([np.ma.getdata(chunk[n])[:0] for n in chunk.colnames], names=chunk.colnames, meta=self.meta)
            metadata = {"table_meta_yaml": "\n".join(table_meta.get_yaml_from_table(plain))}
            fields = []
            for name in chunk.colnames:
                dtype = np.ma.getdata(chunk[name]).dtype
                if dtype.kind == "U":
                    metadata[f"table::len::{name}"] = str(dtype.itemsize // 4)
                fields.append((name, pa.string() if dtype.kind == "U" else pa.from_numpy_dtype(dtype.type)))
            self._schema = pa.schema(fields, metadata={k.encode(): v.encode() for k, v in metadata.items()})
            self._writer = self._pq.ParquetWriter(str(self.tmp), self._schema, version="2.4")
        arrays = []
        for name in chunk.colnames:
            col = chunk[name]
            data = np.ma.getdata(col)
            mask = np.ma.getmaskarray(col) if isinstance(col, MaskedColumn) else None
            field = self._schema.field(name)
            values = data.astype(data.dtype.newbyteorder("<"), copy=False) if data.dtype.kind != "U" else data
            arrays.append(pa.array(values, type=field.type, mask=mask if mask is not None and mask.any() else None))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    def _finish(self) -> None:
        self._writer.close()

    def _release(self) -> None:
        if self._writer is not None:
            self._writer.close()


class _FitsWriter(TableWriter):
    """One BINTABLE after an empty primary HDU. Each chunk is serialised by astropy itself (so masks,
    booleans and strings come out as astropy writes them) and its rows appended; close pads the data
    to a FITS block and rewrites the header with the final row count (same length: one card's value)."""

    def __init__(self, path, meta=None) -> None:
        super().__init__(path, meta)
        self._file = open(self.tmp, "wb")  # noqa: SIM115 (open until close/abort)
        self._header: fits.Header | None = None  # the table's header, read from the first chunk
        self._header_at = 0
        self._layout: list[str] = []

    def _write(self, chunk: Table) -> None:
        from astropy.io import fits

        with warnings.catch_warnings():  # meta keys longer than 8 characters become HIERARCH cards
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            hdu = fits.table_to_hdu(_fits_ready(chunk, self.meta))
        layout = [str(hdu.header.get(f"TFORM{i + 1}")) for i in range(len(chunk.colnames))]
        buf = io.BytesIO()
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
        raw = buf.getvalue()
        n_bytes = hdu.header["NAXIS1"] * hdu.header["NAXIS2"]
        data_at = len(raw) - (n_bytes + (-n_bytes % FITS_BLOCK))
        if self._header is None:
            self._header_at = len(fits.PrimaryHDU().header.tostring())
            self._header, self._layout = fits.Header.fromstring(raw[self._header_at : data_at].decode("ascii")), layout
            self._file.write(raw[:data_at])
        elif layout != self._layout:
            raise ValueError(f"{self.path}: a chunk's FITS columns {layout} differ from the table's {self._layout}")
        self._file.write(raw[data_at : data_at + n_bytes])

    def _finish(self) -> None:
        header = self._header
        assert header is not None  # close() refuses a writer that was given no chunk
        size = self._file.tell()
        self._file.write(b"\0" * (-size % FITS_BLOCK))
        header["NAXIS2"] = self.rows
        self._file.seek(self._header_at)
        self._file.write(header.tostring().encode("ascii"))
        self._file.close()

    def _release(self) -> None:
        self._file.close()


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")


def _fits_ready(chunk: Table, meta: dict[str, Any]) -> Table:
    """FITS holds ASCII only: text columns keep their width (so every chunk has one layout) with
    non-ASCII characters escaped; a value that no longer fits is an error, not a silent cut."""
    out = Table(chunk, copy=False)
    for name in out.colnames:
        col = out[name]
        if col.dtype.kind == "U":
            width = col.dtype.itemsize // 4
            values = [_ascii(str(v)) for v in (col.filled("") if isinstance(col, MaskedColumn) else col)]
            if any(len(v) > width for v in values):
                raise ValueError(
                    f"column {name!r} holds non-ASCII text too wide for FITS; write .parquet or .ecsv instead"
                )
            out[name] = np.array(values, dtype=f"S{max(width, 1)}")
    out.meta = {k: _ascii(v) if isinstance(v, str) else v for k, v in meta.items()}
    return out


class _BufferedWriter(TableWriter):
    """Formats that cannot be appended to (VOTable): chunks are kept and written whole on close."""

    def __init__(self, path, meta=None) -> None:
        super().__init__(path, meta)
        self._chunks: list[Table] = []
        log.info("%s: this format is written whole at the end; use .parquet, .ecsv, .csv or .fits to stream", path)

    def _write(self, chunk: Table) -> None:
        self._chunks.append(chunk)

    def _finish(self) -> None:
        from bhb_viewer.core.exports.export import write_table

        table = vstack(self._chunks)
        table.meta.update(self.meta)
        write_table(table, self.tmp, fmt=self._fmt)

    @property
    def _fmt(self) -> str:
        from bhb_viewer.core.exports.export import format_for_path

        return format_for_path(self.path)


def open_table_writer(path: str | os.PathLike, meta: dict[str, Any] | None = None) -> TableWriter:
    """A chunked writer for ``path``, its format from the extension (see the module doc); an output
    that cannot be created is an OutputError naming it."""
    try:
        return _open_writer(path, meta)
    except OSError as exc:
        raise output_error(path, exc) from exc


def _open_writer(path: str | os.PathLike, meta: dict[str, Any] | None) -> TableWriter:
    suffixes = [s.lower() for s in Path(path).suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if suffix == ".parquet":
        return _ParquetWriter(path, meta)
    if suffix == ".ecsv":
        return _TextWriter(path, meta, "ascii.ecsv")
    if suffix == ".csv":
        return _TextWriter(path, meta, "ascii.csv")
    if suffix in (".fits", ".fit"):
        return _FitsWriter(path, meta)
    from bhb_viewer.core.exports.export import format_for_path

    format_for_path(path)  # a BadInputError naming the file for an unknown extension
    return _BufferedWriter(path, meta)
