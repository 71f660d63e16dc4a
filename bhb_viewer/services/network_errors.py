"""What a failed SDSS/CDS request means: retry it, report the object as not found, or give up on this item.

astroquery reaches two kinds of servers through two HTTP stacks, and each fails its own way:

* SkyServer SQL and cross-id queries (and hips2fits) go through ``requests``: a dropped connection
  is ``requests.ConnectionError``, a slow server ``requests.Timeout``; a SkyServer error page
  comes back as text that astroquery turns into ``astroquery.exceptions.RemoteServiceError``, and
  a maintenance page parses as a broken CSV (``astropy.io.ascii.InconsistentTableError``).
* Spectrum and frame files are downloaded by ``FileContainer`` through astropy's ``urllib``
  reader: HTTP statuses arrive as ``urllib.error.HTTPError``, resets, refused connections and DNS
  failures as ``urllib.error.URLError`` (or the bare socket error), a stalled read as
  ``TimeoutError``; astroquery's own timeouts are ``astroquery.exceptions.TimeoutError``.

Transient: connection resets/refusals, DNS failures, timeouts of any stack, HTTP 408/425/429/5xx,
SkyServer error pages and unparsable answers, an empty download. Not found: HTTP 404/410.
Anything else (a 403, a bad request, a bug) is permanent for this item.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
from typing import Literal

Kind = Literal["transient", "not_found", "permanent"]

TRANSIENT_STATUS = {408, 425, 429}
NOT_FOUND_STATUS = {404, 410}


def _status_kind(status: int | None) -> Kind:
    if status is None:
        return "transient"  # an HTTP error without a status: the connection broke before one came
    if status in NOT_FOUND_STATUS:
        return "not_found"
    if status in TRANSIENT_STATUS or status >= 500:
        return "transient"
    return "permanent"


def classify(exc: BaseException) -> Kind:
    """'transient' (retry), 'not_found' (SDSS has no such file) or 'permanent' (give up on this item)."""
    import requests
    from astropy.io.ascii import InconsistentTableError
    from astroquery.exceptions import RemoteServiceError
    from astroquery.exceptions import TimeoutError as AstroqueryTimeout

    if isinstance(exc, urllib.error.HTTPError):  # before URLError: HTTPError is one
        return _status_kind(exc.code)
    if isinstance(exc, requests.HTTPError):
        return _status_kind(getattr(exc.response, "status_code", None))
    transient = (
        urllib.error.URLError,  # resets, refused, DNS, timeouts under urllib
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,  # ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError
        TimeoutError,  # socket.timeout
        socket.gaierror,  # DNS
        http.client.IncompleteRead,
        AstroqueryTimeout,
        RemoteServiceError,  # SkyServer's error page
        InconsistentTableError,  # an HTML page where CSV was expected
    )
    if isinstance(exc, transient):
        return "transient"
    if isinstance(exc, TypeError) and "was empty" in str(exc):  # FileContainer: "The file retrieved was empty."
        return "transient"
    return "permanent"


def describe(exc: BaseException) -> str:
    """One line for a user: the error's type and its message, or the reason under a URLError."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
