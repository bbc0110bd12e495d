"""Upgrades the HTTP/1.1 proxy does not pass on: a request asking for h2c goes on as plain HTTP/1.1.

``Upgrade: h2c`` (what ``curl --http2`` sends on ``http://`` URLs) asks the next hop, the load
balancer, to switch; only ``http2.Negotiation`` takes it, on a listener with H2cSwitch, and only
for a connection's first request without a body (``http2_upgrade``). Everywhere else the
``HttpSession`` ignores it as nginx does: ``Upgrade`` and the fields ``Connection`` names
(``HTTP2-Settings``) are dropped, the request and its body are proxied like any other, and the
connection stays open as its ``Connection`` field says. Other upgrade tokens (WebSocket) are
forwarded to the target as before, and a 101 from it turns the connection into a relay.

llhttp takes any request with ``Connection: upgrade`` and an ``Upgrade`` field as an upgrade:
httptools tells it to skip the body, so it reports the message complete at the end of the head
and raises ``HttpParserUpgrade`` at the first body byte. The session then reads on with a new
parser, fed first a head made of the request's framing fields alone (``framing_head``) so that
it parses the body exactly as the first one would have; ``ResumedRequest`` hides that head from
the session and passes on everything after it (for the rest of that connection). Ordinary
requests never get here: their only added cost is one test of the upgrade flag llhttp set.
"""

from __future__ import annotations

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from openclb.engine.embedded.http_headers import RequestHead

_FRAMING = (b"content-length", b"transfer-encoding")
_IGNORED_PROTOCOLS = frozenset((b"h2c",))


def ignored_upgrade(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the protocols a request's ``Upgrade`` fields offer are all ones the proxy ignores."""
    offered = {token.strip().partition(b"/")[0].lower()
               for name, value in headers if name == b"upgrade" for token in value.split(b",")}
    offered.discard(b"")
    return bool(offered) and offered <= _IGNORED_PROTOCOLS


def without_upgrade(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` less ``Upgrade`` (``forward_request`` drops ``Connection`` and what it names)."""
    return [item for item in headers if item[0] != b"upgrade"]


def framing_head(headers: list[tuple[bytes, bytes]]) -> bytes:
    """A request head carrying only the body framing of ``headers``; empty when there is no body."""
    lines = [b"%s: %s\r\n" % item for item in headers if item[0] in _FRAMING]
    if not lines:
        return b""
    return b"POST / HTTP/1.1\r\n%s\r\n" % b"".join(lines)


class UpgradeHandling:
    """A base class of ``http_proxy.HttpSession`` with no state of its own (its attributes are
    the session's slots): what the session does where llhttp reports an upgrade."""

    __slots__ = ()

    def ignores_upgrade(self, request: RequestHead) -> bool:
        """At the end of an upgrade's head: whether it is ignored, ``request`` then made an
        ordinary one. Such a request always waits on the queue, so that the end llhttp reports
        right after its head queues behind it, for ``upgrade_stopped`` to take back."""
        if request.method == b"CONNECT" or not ignored_upgrade(request.headers):
            return False
        self.resume_head = framing_head(request.headers)
        request.headers = without_upgrade(request.headers)
        request.upgrade = False
        return True

    def upgrade_stopped(self, rest: bytes) -> None:
        """llhttp stopped at an upgrade's head, ``rest`` the bytes after it: they wait for the
        target's 101 (WebSocket), or, the upgrade ignored, are parsed on as HTTP/1.1."""
        framing = self.resume_head
        if framing is None:
            self.upgraded = True
            if rest:
                self.early.append(rest)
            return
        self.resume_head = None
        if framing:
            self.events.pop()  # llhttp's end of the request: its body comes next
            self.in_head = False
            self.parser = HttpRequestParser(ResumedRequest(self))
        data = framing + rest
        if data:
            try:
                self.parser.feed_data(data)
            except HttpParserUpgrade as upgrade:
                self.upgrade_stopped(data[upgrade.args[0]:])
            except HttpParserError as error:
                self.parse_failed(error)


class ResumedRequest:
    """Callbacks of the parser that reads on after an ignored upgrade: the session's, less those
    of the framing head fed first (it is no request of the client's)."""

    __slots__ = ("session", "in_framing", "on_body", "on_message_complete")

    def __init__(self, session) -> None:
        self.session = session
        self.in_framing = True
        self.on_body = session.on_body
        self.on_message_complete = session.on_message_complete

    def on_message_begin(self) -> None:
        if not self.in_framing:
            self.session.on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self.in_framing:
            self.session.on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.in_framing:
            self.session.on_header(name, value)

    def on_headers_complete(self) -> None:
        if self.in_framing:
            self.in_framing = False
        else:
            self.session.on_headers_complete()
