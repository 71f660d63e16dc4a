"""Network services (no Qt): SDSS through astroquery with an on-disk cache and an offline mode, HiPS cutouts, SAMP."""

__all__ = [
    "batch_fetch",
    "builder",
    "hips",
    "network_errors",
    "samp",
    "sdss",
    "session_data",
]
