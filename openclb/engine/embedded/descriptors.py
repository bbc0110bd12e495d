"""The data plane's descriptor budget: how many file descriptors its connections may hold.

The process shares one RLIMIT_NOFILE between the data plane and what must keep working
when the data plane is full: the API, the store, the health checks. The app computes a
budget below the limit (see ``Settings.descriptor_budget``) and the engine keeps its
connections inside it; the rest of the limit stays free for the others.

Accounting is per connection, at the listener's existing bookkeeping points, never per
chunk: a TCP relay holds two descriptors (client and target), an HTTP client connection two
(itself and the one target connection it uses at a time), a UDP flow one (its upstream
socket), an idle pooled target connection one. A new connection is admitted only while its
descriptors fit (``admits``); past that, the listener refuses it the way it refuses one over
MaxConn: accepted and reset at once, a datagram dropped.

Refusing is logged once when it starts, and once when the condition clears: when what is in
use falls to ``RESUME_FRACTION`` of the budget, so a data plane hovering at the edge does not
log per connection. What is not counted: listening sockets (bound by the control plane, one
per port), connections still in their TLS handshake (they reach the listener only once it
is done, within ``tls.HANDSHAKE_TIMEOUT``), sockets of a connect in progress, and the moment
between the accept of a refused connection and its reset; the app's reserve covers those.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("openclb.engine.descriptors")

RESUME_FRACTION = 0.9


class DescriptorBudget:
    """Descriptors the data plane's connections hold, against the most they may (``limit``)."""

    __slots__ = ("limit", "used", "refused", "refusing", "resume_at")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = sys.maxsize if limit is None else max(0, limit)
        self.used = 0
        self.refused = 0
        self.refusing = False
        self.resume_at = int(self.limit * RESUME_FRACTION)

    def admits(self, descriptors: int) -> bool:
        """Whether a new connection holding ``descriptors`` fits; refusals are counted and
        the first of a run is logged."""
        if self.used + descriptors <= self.limit:
            return True
        self.refused += 1
        if not self.refusing:
            self.refusing = True
            log.warning(
                "descriptor budget reached: new data-plane connections are refused until some close",
                extra={"descriptors_used": self.used, "descriptor_budget": self.limit})
        return False

    def release(self, descriptors: int) -> None:
        self.used -= descriptors
        if self.refusing and self.used <= self.resume_at:
            self.refusing = False
            log.info(
                "descriptor budget available again: new data-plane connections are accepted",
                extra={"descriptors_used": self.used, "descriptor_budget": self.limit,
                       "refused_connections": self.refused})
