"""When an ``HttpSession`` ends on the listener's initiative: draining, and its deadlines.

``SessionLifecycle`` is a base class of ``http_proxy.HttpSession`` with no state of its own
(its attributes are the session's slots), as ``http_exchange.TargetExchange`` is: these are
the two calls the listener makes into its sessions (``finish`` when it drains, and
``check_deadlines`` from its sweep), kept apart from the per-request client half.
"""

from __future__ import annotations

from openclb.engine.embedded.http_headers import REQUEST_TIMEOUT


class SessionLifecycle:
    """The listener's side of a session; see the module docstring."""

    __slots__ = ()

    def finish(self) -> None:
        """The listener is stopping: close now if between requests, else after this response."""
        if self.closed:
            return
        if (self.request_open or self.response_open or self.events or self.url is not None or self.tunnel
                or self.connecting is not None):
            self.keep_client = False
            return
        # Closing flushes what the last response left in the buffers first; with nothing
        # left, nothing more is owed to the client.
        self.quiet_close = self.transport.get_write_buffer_size() == 0 and not self.client_full
        self._close()

    def check_deadlines(self, now: float, head_timeout: float, response_timeout: float) -> None:
        """The listener's sweep: a request head slower than ``head_timeout`` gets 408 (or, if
        not one byte of it came, a silent close); a target silent for ``response_timeout``
        while it owes a response gets 504 (see ``TargetExchange.check_target``).

        A head's time runs from the accept for the first request and, for the next ones, from
        the sweep that first sees it begun (``url`` is not None from a head's first byte to its
        end); between requests the idle timeout applies.
        """
        if self.closed or self.tunnel or self.unparsable:
            return
        if self.request_open or self.response_open or self.events:
            if response_timeout > 0:
                self.check_target(now, response_timeout)
            return
        since = self.head_since
        if not since:
            if self.url is not None:
                self.head_since = now
        elif head_timeout > 0 and now - since >= head_timeout:
            if self.url is not None:
                self.transport.write(REQUEST_TIMEOUT)
            self._close()
