"""Data sets built from what the readers read: files on disk (``build``, ``build_parallel``) and a
review's verdicts (``from_session``), written in the format of :mod:`bhb_viewer.core.dataset`."""
