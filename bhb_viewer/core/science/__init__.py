"""Science: measurements on spectra and samples, independent of where the stars came from.

Balmer-line diagnostics (``balmer``, ``lines``), the empirical spectral engine fitted on MILES
(``spectral_engine``) and the stellar fit that uses it (``stellar_fit``), when a score can't be
trusted (``trust``), synthetic photometry (``photometry``), metrics and agreement statistics
(``metrics``, ``kappa``, ``small_compare``) and the real-star check (``real_stars``).
"""
