"""The headless core: numpy + astropy only (no torch, no Qt), in rooms that say what they hold.

Basics every room shares sit here: ``errors``, ``files``, ``grid``, ``progress``, ``resources``
and the data-set format (``dataset``). The rooms, lowest first (a room imports only rooms below
it; the import contracts in pyproject.toml hold this):

- ``readers``: catalogues, spectra, cutouts and paths read into arrays and tables;
- ``science``: Balmer diagnostics, the spectral engine, the stellar fit, trust flags, metrics;
- ``sessions``: the review store (verdict log, writer registry, score cache), merges, audits;
- ``ingest``, ``exports``, ``training``, ``sim``: data sets built, catalogues written, training
  without torch, the simulated sky.
"""

__all__ = [
    "dataset", "errors", "exports", "files", "grid", "ingest", "progress", "readers", "resources",
    "science", "sessions", "sim", "training",
]
