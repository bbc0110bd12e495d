"""HTTP heads, sans-IO: what the proxy forwards, what it drops, and what it answers itself.

Requests (``forward_request``): hop-by-hop headers go (``Connection`` and every header it
names, ``Keep-Alive``, ``Proxy-Connection``, ``TE``, ``Upgrade``); ``X-Forwarded-For`` gets
the client address appended to what the client sent (nginx's ``$proxy_add_x_forwarded_for``,
as the CLB's layer 7 does); ``X-Real-IP``, ``X-Forwarded-Proto``, ``X-Forwarded-Port`` (the
listener's port) and the CLB's own ``X-Client-Proto`` (http or https, docs 214/6534) are set
(``forwarding_stamps``; a client's own values of these are dropped, never trusted); a
request without Host (HTTP/1.0) gets the VIP; an Upgrade request keeps
``Connection: upgrade`` and its ``Upgrade``; otherwise ``Connection: close`` is added
unless target connections are kept alive. Framing headers stay so the body keeps its
framing, except that Content-Length is dropped when Transfer-Encoding is present (llhttp
refuses such a request before it gets here; the rule stays so no target can ever read a body
differently from us).

Responses (``forward_response_head``): the same hop-by-hop headers go; framing headers stay, and
what they say is returned so the proxy can frame the body for the client (chunked towards an
HTTP/1.0 client becomes close-delimited).

Header names arrive lower-cased (the parsers' callbacks lower them) and leave that way, as
HTTP/1.1 allows; ``head_lines`` serialises them. ``local_response`` builds the load
balancer's own answers (redirects, 400, 404, 405, 408, 431, 502, 503, 504).

Client request heads are held to ``MAX_REQUEST_HEAD`` bytes and ``MAX_REQUEST_HEADERS`` header
lines (see ``http_proxy``); both are answered with 431.

Fast paths, each giving the same bytes as the general one (tests/unit/test_http_heads_fast.py):
``plain_request_head`` rewrites the usual HTTP/1.1 request (no forwarding or hop-by-hop header
of its own but ``Connection: keep-alive|close``) in one pass, with the lines a connection
(``client_lines``) or a listener (``stamp_lines``) fixes made once; ``forward_response_head``
remembers the result for small heads it has seen, which targets repeat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

MAX_REQUEST_HEAD = 64 * 1024
MAX_REQUEST_HEADERS = 100
# A head's size as parsed is at most its size on the wire plus one byte per header line (one
# without a space after its colon is counted with one): a head of at most this many bytes on
# the wire is within MAX_REQUEST_HEAD without being measured.
SURELY_WITHIN_HEAD = MAX_REQUEST_HEAD - MAX_REQUEST_HEADERS

_REQUEST_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"te", b"upgrade"))
_RESPONSE_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"upgrade"))
_CONNECTION_KEEP = frozenset((b"close", b"keep-alive", b"upgrade"))
_SET_BY_PROXY = frozenset((b"x-real-ip", b"x-forwarded-proto", b"x-forwarded-port", b"x-client-proto"))

Stamps = tuple[tuple[bytes, bytes], ...]


def forwarding_stamps(scheme: bytes, port: int) -> Stamps:
    """The headers a listener sets on every request after X-Real-IP: how the client came in."""
    return ((b"x-forwarded-proto", scheme), (b"x-forwarded-port", b"%d" % port), (b"x-client-proto", scheme))


class ForwardedRequest:
    """A client request head as it goes to a target, with what routing needs from it."""

    __slots__ = ("headers", "host", "cookie", "body_expected", "chunked")

    def __init__(self, headers: Headers, host: bytes | None, cookie: bytes | None, body_expected: bool,
                 chunked: bool) -> None:
        self.headers = headers
        self.host = host
        self.cookie = cookie
        self.body_expected = body_expected
        self.chunked = chunked


def forward_request(
    received: Iterable[tuple[bytes, bytes]], client_ip: bytes, stamps: Stamps, vip: bytes, keepalive: bool,
) -> ForwardedRequest:
    """``received``: (lower-case name, value) pairs as the client sent them; ``stamps``: see
    ``forwarding_stamps``."""
    headers: Headers = []
    host = forwarded = upgrade = connection = cookie = length = chunked = None
    for name, value in received:
        if name in _REQUEST_HOP:
            if name == b"connection":
                connection = value if connection is None else connection + b"," + value
            elif name == b"upgrade":
                upgrade = value
            continue
        if name == b"host":
            host = value
        elif name == b"x-forwarded-for":
            forwarded = value if forwarded is None else forwarded + b", " + value
            continue
        elif name in _SET_BY_PROXY:
            continue
        elif name == b"content-length":
            length = value
        elif name == b"transfer-encoding":
            chunked = value
        elif name == b"cookie":
            cookie = value if cookie is None else cookie + b"; " + value
        headers.append((name, value))
    if connection is not None:
        named = {token.strip().lower() for token in connection.split(b",")} - _CONNECTION_KEEP
        if named:
            headers = [item for item in headers if item[0] not in named]
    if chunked is not None and length is not None:
        headers = [item for item in headers if item[0] != b"content-length"]
    if host is None:
        headers.append((b"host", vip))
    headers.append((b"x-forwarded-for", forwarded + b", " + client_ip if forwarded else client_ip))
    headers.append((b"x-real-ip", client_ip))
    headers.extend(stamps)
    if upgrade is not None and connection is not None and b"upgrade" in connection.lower():
        headers.append((b"connection", b"upgrade"))
        headers.append((b"upgrade", upgrade))
    elif not keepalive:
        headers.append((b"connection", b"close"))
    body_expected = chunked is not None or (length is not None and length != b"0")
    return ForwardedRequest(headers, host, cookie, body_expected, chunked is not None)


_UNPLAIN = _REQUEST_HOP | _SET_BY_PROXY | {b"x-forwarded-for"}
_NOTED = frozenset((b"host", b"cookie", b"content-length", b"transfer-encoding"))
_PLAIN_CONNECTION = frozenset((b"keep-alive", b"close"))


def stamp_lines(stamps: Stamps, keepalive: bool) -> bytes:
    """A listener's header lines after X-Real-IP on a request that does not upgrade."""
    return head_lines(list(stamps))[:-2] + (b"" if keepalive else b"connection: close\r\n")


def client_lines(client_ip: bytes) -> bytes:
    """The X-Forwarded-For and X-Real-IP lines of a client that sent no X-Forwarded-For."""
    return b"x-forwarded-for: %s\r\nx-real-ip: %s\r\n" % (client_ip, client_ip)


def plain_request_head(method: bytes, target: bytes, received: Headers, client: bytes, stamps: bytes,
                       vip: bytes) -> tuple[bytes, bytes | None, bytes | None, bool, bool] | None:
    """The common request in one pass: (head as forwarded, Host, Cookie, body expected,
    chunked), the same head ``forward_request`` and ``head_lines`` would make; ``client``:
    ``client_lines``; ``stamps``: ``stamp_lines``. None when the request carries a hop-by-hop
    header other than ``Connection: keep-alive|close``, any forwarding header of its own, or
    both framings: ``forward_request`` handles those."""
    parts = []
    host = cookie = length = chunked = None
    for name, value in received:
        if name in _UNPLAIN:
            if name == b"connection" and value.strip().lower() in _PLAIN_CONNECTION:
                continue
            return None
        if name in _NOTED:
            if name == b"host":
                host = value
            elif name == b"cookie":
                cookie = value if cookie is None else cookie + b"; " + value
            elif name == b"content-length":
                length = value
            else:
                chunked = value
        parts.append(name + b": " + value + b"\r\n")
    if chunked is not None and length is not None:
        return None
    if host is None:
        parts.append(b"host: " + vip + b"\r\n")
    head = b"%s %s HTTP/1.1\r\n%s%s%s\r\n" % (method, target, b"".join(parts), client, stamps)
    return head, host, cookie, chunked is not None or (length is not None and length != b"0"), chunked is not None


class ForwardedResponse:
    """A target's response head as it goes to the client, with the body framing it declared.

    ``status_line`` is the target's, as HTTP/1.1; ``lines`` are the kept header lines, each
    ending in CRLF, without the blank line that ends the head.
    """

    __slots__ = ("status_line", "lines", "has_length", "chunked", "plain")

    def __init__(self, status_line: bytes, lines: bytes, has_length: bool, chunked: bool) -> None:
        self.status_line = status_line
        self.lines = lines
        self.has_length = has_length
        self.chunked = chunked
        # The head as the client gets it when the proxy adds nothing to it.
        self.plain = b"%s\r\n%s\r\n" % (status_line, lines)

    def without(self, name: bytes) -> bytes:
        """``lines`` without the header ``name`` (lower case)."""
        return b"".join(line + b"\r\n" for line in self.lines.split(b"\r\n")[:-1]
                        if line.partition(b":")[0].strip().lower() != name)


def _forward_pairs(status_line: bytes, received: Iterable[tuple[bytes, bytes]]) -> ForwardedResponse:
    """The general case of ``forward_response_head``, from (lower-case name, value) pairs."""
    named = None
    kept: Headers = []
    has_length = chunked = False
    for name, value in received:
        if name in _RESPONSE_HOP:
            if name == b"connection":
                named = {token.strip().lower() for token in value.split(b",")} - _CONNECTION_KEEP
            continue
        if name == b"content-length":
            has_length = True
        elif name == b"transfer-encoding":
            chunked = _ends_chunked(value)
        kept.append((name, value))
    if named:
        kept = [item for item in kept if item[0] not in named]
    return ForwardedResponse(status_line, head_lines(kept)[:-2], has_length, chunked)


_UNUSUAL = re.compile(rb"\r\n(?:keep-alive|proxy-connection|upgrade):")
_CONNECTION = b"\r\nconnection:"
_TRANSFER_ENCODING = b"\r\ntransfer-encoding:"


# Targets repeat the same few response heads (nginx's change with its Date header once a
# second): a small head seen before is taken from here, for a dict lookup instead of the cut.
_FORWARDED_HEADS: dict[bytes, ForwardedResponse] = {}
_FORWARDED_HEADS_MAX = 256
_REMEMBERED_HEAD_SIZE = 1024


def forward_response_head(head: bytes) -> ForwardedResponse:
    """``_forward_head``, remembered for small heads (the result depends on the bytes alone)."""
    found = _FORWARDED_HEADS.get(head)
    if found is None:
        found = _forward_head(head)
        if len(head) <= _REMEMBERED_HEAD_SIZE:
            if len(_FORWARDED_HEADS) >= _FORWARDED_HEADS_MAX:
                _FORWARDED_HEADS.clear()
            _FORWARDED_HEADS[head] = found
    return found


def _forward_head(head: bytes) -> ForwardedResponse:
    """A head exactly as the target sent it (status line through the blank line).

    llhttp has accepted it, so every line ends in CRLF, none is folded and no name has space
    before its colon. The common head (at most one ``Connection: keep-alive|close``, no other
    hop-by-hop header) is cut, not parsed: finding a few names in the lower-cased bytes costs
    less than a callback per header. Anything else goes through ``_forward_pairs``.
    """
    cut = head.find(b"\r\n")
    status_line, raw = head[:cut], head[cut:]
    if not status_line.startswith(b"HTTP/1.1 "):
        status_line = b"HTTP/1.1" + status_line[8:]
    lower = raw.lower()
    lines = None
    if _UNUSUAL.search(lower) is None:
        start = lower.find(_CONNECTION)
        if start < 0:
            lines = raw[2:-2]
        else:
            end = lower.find(b"\r\n", start + 2)
            if lower.find(_CONNECTION, end) < 0 and lower[start + len(_CONNECTION):end].strip() in _CONNECTION_KEEP:
                lines = raw[2:start + 2] + raw[end + 2:-2]
    if lines is not None:
        chunked = False
        encoding = lower.find(_TRANSFER_ENCODING)
        if encoding >= 0:
            value_end = lower.find(b"\r\n", encoding + 2)
            chunked = _ends_chunked(lower[encoding + len(_TRANSFER_ENCODING):value_end])
            if lower.find(_TRANSFER_ENCODING, value_end) >= 0:
                lines = None
        if lines is not None:
            return ForwardedResponse(status_line, lines, b"\r\ncontent-length:" in lower, chunked)
    return _forward_pairs(status_line, _header_pairs(raw[2:-4]))


def _header_pairs(lines: bytes) -> Headers:
    pairs: Headers = []
    for line in lines.split(b"\r\n"):
        name, _, value = line.partition(b":")
        pairs.append((name.lower(), value.strip()))
    return pairs


def _ends_chunked(value: bytes) -> bool:
    return value.rpartition(b",")[2].strip().lower() == b"chunked"


def head_lines(headers: Headers) -> bytes:
    """Header lines of a message head, with the blank line that ends the head."""
    return b"".join([name + b": " + value + b"\r\n" for name, value in headers]) + b"\r\n"


def chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def cookie_value(header: bytes | None, name: bytes) -> bytes | None:
    """The value of cookie ``name`` in a (joined) Cookie header, or None."""
    if not header:
        return None
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name:
            return value.strip()
    return None


_REASONS = {
    301: b"Moved Permanently", 302: b"Found", 307: b"Temporary Redirect", 308: b"Permanent Redirect",
    400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed", 408: b"Request Timeout",
    413: b"Payload Too Large", 431: b"Request Header Fields Too Large", 502: b"Bad Gateway", 503: b"Service Unavailable",
    504: b"Gateway Timeout",
}


def local_response(status: int, extra_lines: bytes, close: bool) -> bytes:
    """A whole response the load balancer gives itself (redirects, 400, 404, 405, 408, 431,
    502, 503, 504)."""
    reason = _REASONS.get(status, b"")
    body = b"<html><body><h1>%d %s</h1></body></html>" % (status, reason)
    lines = b"content-type: text/html\r\ncontent-length: %d\r\n%s" % (len(body), extra_lines)
    if close:
        lines += b"connection: close\r\n"
    return b"HTTP/1.1 %d %s\r\n%s\r\n%s" % (status, reason, lines, body)


BAD_REQUEST = local_response(400, b"", True)
REQUEST_TIMEOUT = local_response(408, b"", True)
HEAD_TOO_LARGE = local_response(431, b"", True)


def parsed_head_size(method: bytes, url: bytes, headers: Headers) -> int:
    """A request head's size as parsed, what MAX_REQUEST_HEAD limits: ``METHOD URL HTTP/1.1``
    CRLF, ``name: value`` CRLF per header line, CRLF. For a head written that way (one space
    between the parts, one after each colon) it is its size on the wire."""
    return len(method) + len(url) + 14 + sum(len(name) + len(value) + 4 for name, value in headers)


class RequestHead:
    """A parsed client request head, as the session routes it."""

    __slots__ = ("method", "target", "headers", "keep_alive", "upgrade")

    def __init__(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                 keep_alive: bool, upgrade: bool) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.keep_alive = keep_alive
        self.upgrade = upgrade
