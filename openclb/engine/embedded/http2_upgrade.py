"""h2c by Upgrade (RFC 7540 3.2): an HTTP/1.1 request that asks to continue in cleartext HTTP/2.

On an HTTP listener with H2cSwitch on, ``http2.Negotiation`` reads a cleartext client's
first request head and asks ``h2c_upgrade`` whether it is an upgrade this listener takes: a
well-formed HTTP/1.1 request line, ``Upgrade`` naming ``h2c``, ``Connection`` naming both
``Upgrade`` and ``HTTP2-Settings``, exactly one ``HTTP2-Settings`` field in base64url that
decodes to whole SETTINGS entries, no request body, and nothing in the head that HTTP/1.1 would not parse the same way
(field names are tokens, no control characters in values or the request line)
(the RFC lets a server ignore an upgrade, and a body sent before the switch would have to be
buffered whole: such requests go on as HTTP/1.1, which is what the client is ready for,
without their Upgrade fields: ``without_upgrade``).

The request so taken becomes stream 1 of the new HTTP/2 connection, half-closed by the
client: its head as HTTP/2 fields (pseudo-headers from the request line and Host, the
upgrade's own hop-by-hop fields dropped). The server answers ``101 Switching Protocols``,
then its connection preface, then the response on stream 1.
"""

from __future__ import annotations

import re

SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
# Fields of the upgrading request that concern only the hop the client is leaving.
_HOP = frozenset((b"connection", b"upgrade", b"http2-settings", b"keep-alive", b"proxy-connection", b"host", b"te"))
_TOKEN_SPLIT = b","
_FIELD_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_FIELD_VALUE = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")  # no controls but HTAB: nothing to split a line on
_SETTINGS_VALUE = re.compile(rb"[A-Za-z0-9_-]*=*")  # base64url (RFC 7540 3.2.1), which b64decode would not check


class Upgrade:
    """An accepted h2c upgrade: the HTTP2-Settings value and stream 1's request fields."""

    __slots__ = ("settings", "headers")

    def __init__(self, settings: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.settings = settings
        self.headers = headers


def without_upgrade(head: bytes) -> bytes:
    """``head`` (with its blank line) less its Upgrade and HTTP2-Settings fields: an h2c
    upgrade this listener ignores goes on as a plain HTTP/1.1 request (a target must not
    switch protocols on the client's behalf, and llhttp would stop at an upgrade's head)."""
    lines = head.split(b"\r\n")
    dropped = (b"upgrade", b"http2-settings")
    kept = [line for line in lines[1:] if line.partition(b":")[0].strip().lower() not in dropped]
    return b"\r\n".join([lines[0], *kept])


def _tokens(value: bytes) -> set[bytes]:
    return {token.strip().lower() for token in value.split(_TOKEN_SPLIT)}


def asks_h2c(head: bytes) -> bool:
    """Whether a head names h2c in an Upgrade field at all (cheap; ``h2c_upgrade`` decides)."""
    return b"h2c" in head.lower()


def h2c_upgrade(head: bytes) -> Upgrade | None:
    """``head``: a request head up to (without) its blank line. None unless it is an h2c
    upgrade this listener takes (see the module docstring); malformed heads are None too,
    and the HTTP/1.1 session answers them as it answers any other."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or not parts[1].startswith(b"/") or not (
            _FIELD_NAME.fullmatch(parts[0]) and _FIELD_VALUE.fullmatch(parts[1])):
        return None
    method, path = parts[0], parts[1]
    fields: list[tuple[bytes, bytes]] = []
    connection: set[bytes] = set()
    upgrade: set[bytes] = set()
    settings: list[bytes] = []
    host = None
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
            return None
        name, value = name.lower(), value.strip()
        if name == b"connection":
            connection |= _tokens(value)
        elif name == b"upgrade":
            upgrade |= _tokens(value)
        elif name == b"http2-settings":
            settings.append(value)
        elif name == b"host":
            host = value
        elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return None
        if name not in _HOP:
            fields.append((name, value))
    if b"h2c" not in upgrade or not {b"upgrade", b"http2-settings"} <= connection or len(settings) != 1:
        return None
    if not _SETTINGS_VALUE.fullmatch(settings[0]):
        return None
    pseudo = [(b":method", method), (b":scheme", b"http"), (b":path", path)]
    if host is not None:
        pseudo.append((b":authority", host))
    return Upgrade(settings[0] + b"=" * (-len(settings[0]) % 4), pseudo + fields)
