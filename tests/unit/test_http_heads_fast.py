"""The HTTP/1.1 head fast paths give the bytes the general path gives, or step aside.

``plain_request_head`` must forward exactly what ``forward_request`` + ``head_lines`` would,
and hand every unusual request back to them; remembered response heads must be the ones a
fresh cut gives.
"""

from __future__ import annotations

import pytest

from openclb.engine.embedded.http_headers import (
    client_lines, forward_request, forward_response_head, forwarding_stamps, head_lines, plain_request_head,
    stamp_lines,
)

CLIENT = b"10.0.0.9"
VIP = b"127.0.0.5"

PLAIN_REQUESTS = [
    [(b"host", b"a.test")],
    [],
    [(b"host", b"a.test"), (b"user-agent", b"curl/8"), (b"accept", b"*/*"), (b"cookie", b"a=1"), (b"cookie", b"b=2")],
    [(b"host", b"a.test"), (b"connection", b"Keep-Alive")],
    [(b"host", b"a.test"), (b"connection", b" close ")],
    [(b"host", b"a.test"), (b"content-length", b"5")],
    [(b"host", b"a.test"), (b"content-length", b"0")],
    [(b"host", b"a.test"), (b"transfer-encoding", b"chunked")],
]

UNUSUAL_REQUESTS = [
    [(b"host", b"a.test"), (b"connection", b"keep-alive, x-hop"), (b"x-hop", b"1")],
    [(b"host", b"a.test"), (b"connection", b"upgrade"), (b"upgrade", b"websocket")],
    [(b"host", b"a.test"), (b"te", b"trailers")],
    [(b"host", b"a.test"), (b"x-forwarded-for", b"203.0.113.1")],
    [(b"host", b"a.test"), (b"x-real-ip", b"6.6.6.6")],
    [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
]


@pytest.mark.parametrize("keepalive", [True, False])
@pytest.mark.parametrize("received", PLAIN_REQUESTS)
def test_plain_request_head_common_request_same_bytes_as_general_path(received, keepalive):
    stamps = forwarding_stamps(b"https", 8443)
    general = forward_request(received, CLIENT, stamps, VIP, keepalive)
    plain = plain_request_head(b"POST", b"/x?y=1", received, client_lines(CLIENT), stamp_lines(stamps, keepalive), VIP)
    assert plain is not None
    head, host, cookie, body_expected, chunked = plain
    assert head == b"POST /x?y=1 HTTP/1.1\r\n" + head_lines(general.headers)
    assert (host, cookie, body_expected, chunked) == (
        general.host, general.cookie, general.body_expected, general.chunked)


@pytest.mark.parametrize("received", UNUSUAL_REQUESTS)
def test_plain_request_head_unusual_request_left_to_general_path(received):
    stamps = forwarding_stamps(b"http", 80)
    assert plain_request_head(b"GET", b"/", received, client_lines(CLIENT), stamp_lines(stamps, True), VIP) is None


def test_forward_response_head_seen_again_same_result_as_fresh_cut():
    head = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 00:00:00 GMT\r\n"
            b"Connection: keep-alive\r\nContent-Length: 41\r\n\r\n")
    first = forward_response_head(head)
    again = forward_response_head(bytes(bytearray(head)))
    assert again is first
    assert first.plain == b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 00:00:00 GMT\r\n" \
                          b"Content-Length: 41\r\n\r\n"


def test_forward_response_head_large_head_not_remembered_still_cut():
    head = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 2000 + b"\r\nContent-Length: 0\r\n\r\n"
    first = forward_response_head(head)
    assert forward_response_head(head) is not first
    assert first.lines == b"X-Big: " + b"a" * 2000 + b"\r\nContent-Length: 0\r\n"
