"""The one error of the SAMP link, shared by its connection, its sent table and its message handlers."""

from __future__ import annotations


class SampError(RuntimeError):
    """No hub, a hub that went away, or a message no client could take: the text says which."""
