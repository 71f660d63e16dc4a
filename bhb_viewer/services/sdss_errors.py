"""What can go wrong getting something from SDSS, as exception classes a caller can tell apart.

The class decides what a batch does: ``NotFound`` and ``CacheMiss`` skip one star, an
``SDSSError`` fails one request, ``NetworkUnavailable`` stops the whole job.
"""

from __future__ import annotations


class SDSSError(RuntimeError):
    """A failure to get something from SDSS, with a message meant for the user."""


class NetworkUnavailable(SDSSError):
    """SDSS cannot be reached at all: stop the whole job, not just one item."""


class CacheMiss(SDSSError):
    """Offline mode asked for something the cache does not hold."""


class NotFound(SDSSError):
    """SDSS answered but has no such object: a per-item rejection, never retried."""
