"""Whether SDSS can be reached, and retry with backoff for the failures that pass.

A machine without network fails in milliseconds with a clear message (a connectivity probe)
instead of timing out item after item; transient failures (what counts as transient, for urllib,
requests and astroquery alike: services.network_errors) are retried with exponential backoff. A
network that goes away mid-run raises ``NetworkUnavailable`` so the whole job stops (a rerun
resumes from the cache): either the probe fails after a request ran out of retries, or
``max_consecutive_failures`` requests in a row ran out of retries although the host still
answers the probe.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any, NoReturn

from astropy.io import fits

from bhb_viewer.services.network_errors import classify, describe
from bhb_viewer.services.sdss_errors import NetworkUnavailable, NotFound, SDSSError

log = logging.getLogger(__name__)

SDSS_HOST = "skyserver.sdss.org"
MAX_CONSECUTIVE_FAILURES = 5  # requests in a row that ran out of retries: SDSS is down for us, stop
Fetch = Callable[..., list[fits.HDUList]]


class NetworkGuard:
    """The probe, the retries and the count of failures in a row, shared by a service's threads.

    Parameters
    ----------
    advice
        How the user works from the cache instead, appended to every stop message (read when the
        message is made, so a caller may change it after construction).
    retries, backoff
        Extra attempts after a transient failure, sleeping ``backoff * 2**k`` seconds before the k-th.
    probe_timeout
        Seconds allowed to find out whether the SDSS host is reachable at all.
    max_consecutive_failures
        Requests in a row that may run out of retries before the job stops.
    sleep
        ``time.sleep``, or a stand-in that keeps tests fast.
    """

    def __init__(self, advice: Callable[[], str], *, retries: int, backoff: float, probe_timeout: float,
                 max_consecutive_failures: int, sleep: Callable[[float], None]) -> None:
        self.advice = advice
        self.retries = retries
        self.backoff = backoff
        self.probe_timeout = probe_timeout
        self.max_consecutive_failures = max_consecutive_failures
        self._sleep = sleep
        self.online = False
        self.problem: str | None = None  # set by the first failed probe, and by a network lost mid-run
        self._failures_in_a_row = 0
        self._failures_guard = threading.Lock()

    def ensure_online(self) -> None:
        """Raise ``NetworkUnavailable`` at once when the SDSS host cannot be resolved and reached.

        Checked once (a failure is remembered, so a batch of thousands stops at the first item).
        """
        if self.online:
            return
        if self.problem is None:
            self.problem = self.probe()
        if self.problem:
            raise self.unavailable(self.problem)
        self.online = True

    def request(self, fetch: Fetch, kind: str, **params: Any) -> list[fits.HDUList]:
        """``fetch(kind, **params)`` behind the probe, retried with exponential backoff.

        A 404 becomes ``NotFound``; a permanent failure an ``SDSSError`` naming the request; retries
        that run out raise ``NetworkUnavailable`` where the network is gone, else ``SDSSError``.
        """
        self.ensure_online()
        what = f"SDSS {kind} request {params}"
        attempt = 0
        while True:
            try:
                result = fetch(kind, **params)
            except Exception as exc:
                verdict = classify(exc)
                if verdict == "not_found":
                    self._succeeded()  # the server answered
                    raise NotFound(f"{what}: SDSS has no such file ({describe(exc)})") from exc
                if verdict == "permanent":
                    raise SDSSError(f"{what} failed: {describe(exc)}") from exc
                if self.problem:  # another request (thread) found the network gone meanwhile: stop too
                    raise self.unavailable(self.problem) from exc
                if attempt >= self.retries:
                    self._gave_up(what, exc, attempt + 1)
                log.info("%s failed (%s); retry %d of %d", what, describe(exc), attempt + 1, self.retries)
                self._sleep(self.backoff * 2**attempt)
                attempt += 1
            else:
                self._succeeded()
                return result

    def _succeeded(self) -> None:
        with self._failures_guard:
            self._failures_in_a_row = 0

    def _gave_up(self, what: str, exc: BaseException, attempts: int) -> NoReturn:
        """Raise for a request whose retries ran out: NetworkUnavailable when the network is gone, else SDSSError."""
        problem = self.probe()
        with self._failures_guard:
            self._failures_in_a_row += 1
            in_a_row = self._failures_in_a_row
        if not problem and in_a_row >= self.max_consecutive_failures:
            problem = f"SDSS failed {in_a_row} requests in a row after {attempts} attempts each (last: {describe(exc)})"
        if problem:
            self.online, self.problem = False, problem
            raise self.unavailable(problem) from exc
        raise SDSSError(f"{what} failed after {attempts} attempts: {describe(exc)}") from exc

    def unavailable(self, problem: str) -> NetworkUnavailable:
        """The stop message: what failed, then how this caller's user works from the cache instead."""
        return NetworkUnavailable(f"{problem}; check the network, {self.advice()}")

    def probe(self) -> str:
        """An empty string when the SDSS host answers, else the reason it does not (without advice).

        Resolving and connecting run in a daemon thread bounded by ``probe_timeout``, so that a dead
        resolver cannot stall the caller either.
        """
        outcome: list[BaseException | None] = []

        def probe() -> None:
            try:
                addr = socket.getaddrinfo(SDSS_HOST, 443, type=socket.SOCK_STREAM)[0][4]
                with socket.create_connection((str(addr[0]), int(addr[1])), timeout=self.probe_timeout):
                    pass
                outcome.append(None)
            except OSError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(self.probe_timeout)
        problem = outcome[0] if outcome else TimeoutError(f"no answer within {self.probe_timeout:g} s")
        if problem is None:
            return ""
        return f"cannot reach SDSS ({SDSS_HOST}: {problem})"
