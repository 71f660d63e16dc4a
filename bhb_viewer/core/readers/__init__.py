"""Readers: what a user brings, read into arrays and tables the rest of the app shares.

Catalogues (``candidates``, ``catalog_mags``, ``known_stars``), spectra of every survey onto the
fixed grid (``spectra`` and its survey modules, ``quality``, ``maskbits``), cutouts (``cutouts``,
``named_files``), broken FITS made into messages (``fitsfile``) and what a path holds
(``input_kind``). A reader imports only the basics beside this package, never a room above it.
"""
