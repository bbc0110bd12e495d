"""The API port's connections, driven over raw sockets: deadlines, the cap, and framing.

Idle, slow and malformed connections cost nothing without credentials: a connection that does
not deliver its head, its body or its next request in time is closed; past the connection cap
the longest-waiting one makes room, so a signed SDK call still answers; and whatever bytes
arrive, every answer is the JSON envelope, logged without a traceback. Timeouts are configured
short here (about a second) so each test stays bounded.
"""

from __future__ import annotations

import logging
import socket
import time
from contextlib import ExitStack, contextmanager

import pytest

from conftest import sdk_client
from gateway_support import api_log_records
from wire import closed_by_server, connect, exchange, read_answer

FAST = {"api_head_timeout": 1.0, "api_idle_timeout": 1.5, "api_body_timeout": 1.0}
HEALTH_KEEP_ALIVE = b"GET /healthz HTTP/1.1\r\nHost: openclb\r\n\r\n"


@pytest.fixture
def fast_server(server_factory):
    return server_factory(**FAST)


@contextmanager
def aiohttp_server_records():
    """What aiohttp's own server logger emits meanwhile (it logs tracebacks for bad requests)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("aiohttp.server")
    handler = Collect(logging.DEBUG)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def test_healthz_kept_alive_connection_idle_past_timeout_is_closed(fast_server):
    with connect(fast_server.port) as sock:
        sock.sendall(HEALTH_KEEP_ALIVE)
        answer = read_answer(sock)
        answered = time.monotonic()

        assert answer is not None and answer.status == 200 and b'"ok"' in answer.body
        assert not closed_by_server(sock, 0.8)
        assert closed_by_server(sock, 4.0)
        assert 1.0 < time.monotonic() - answered < 5.0


def test_any_action_connection_sending_nothing_is_closed_after_head_timeout(fast_server):
    with connect(fast_server.port) as sock:
        opened = time.monotonic()

        assert closed_by_server(sock, 4.0)
        assert 0.8 < time.monotonic() - opened < 4.0


def test_any_action_slowloris_head_trickling_bytes_is_closed_after_head_timeout(fast_server):
    head = b"POST / HTTP/1.1\r\nHost: openclb\r\nX-Padding: " + b"a" * 200
    with connect(fast_server.port) as sock:
        opened = time.monotonic()
        closed = False
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if closed_by_server(sock, 0.1):
                closed = True
                break
            if time.monotonic() - opened > 5:
                break

        assert closed
        assert time.monotonic() - opened < 4.0


def test_any_action_body_slower_than_body_timeout_answers_invalid_request_and_closes(fast_server):
    with connect(fast_server.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: openclb\r\nContent-Type: application/json\r\n"
                     b"Authorization: TC3-HMAC-SHA256 x\r\nContent-Length: 100\r\n\r\n{\"Limit\"")
        answer = read_answer(sock, deadline=5.0)

        assert answer is not None and answer.envelope_code() == "InvalidRequest"
        assert b"did not arrive within 1 s" in answer.body
        assert closed_by_server(sock, 2.0)


def test_describe_quota_hundreds_of_idle_and_slowloris_sockets_at_the_cap_still_answers(server_factory):
    server = server_factory(api_max_connections=64, api_head_timeout=30.0, api_idle_timeout=30.0)
    client = sdk_client(server.url)
    with ExitStack() as stack:
        sockets = [stack.enter_context(connect(server.port)) for _ in range(300)]
        for index, sock in enumerate(sockets):
            if index % 2:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: openclb\r\nX-Slow: ")
        started = time.monotonic()

        answer = client.call_json("DescribeQuota", {})
        took = time.monotonic() - started
        closed = sum(closed_by_server(sock, 0.01) for sock in sockets)

    assert "QuotaSet" in answer["Response"]
    assert took < 2.0
    assert closed >= 300 - 64


def test_any_action_connections_over_the_cap_all_busy_refuses_the_new_one(server_factory):
    """While every connection is inside a request (its body still arriving), a new one is refused."""
    server = server_factory(api_max_connections=4, api_body_timeout=30.0)
    with ExitStack() as stack:
        busy = [stack.enter_context(connect(server.port)) for _ in range(4)]
        for sock in busy:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: openclb\r\nContent-Type: application/json\r\n"
                         b"Authorization: TC3-HMAC-SHA256 x\r\nContent-Length: 10\r\n\r\n{")
        time.sleep(0.3)
        extra = stack.enter_context(connect(server.port))

        assert closed_by_server(extra, 3.0)
        assert not any(closed_by_server(sock, 0.05) for sock in busy)


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad\x00Header: 1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32) + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
]


@pytest.mark.parametrize("data", MALFORMED, ids=range(len(MALFORMED)))
def test_any_action_malformed_http_framing_answers_envelope_without_traceback(server, data):
    with api_log_records() as records, aiohttp_server_records() as aiohttp_records:
        answer = exchange(server.port, data)

    assert answer is not None, data
    assert answer.envelope_code() == "InvalidRequest"
    assert not any(r.exc_info for r in records + aiohttp_records)
    assert not [r for r in aiohttp_records if r.levelno >= logging.WARNING]


def test_any_action_header_line_over_its_limit_answers_request_size_limit_exceeded(server):
    answer = exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")

    assert answer is not None and answer.envelope_code() == "RequestSizeLimitExceeded"


@pytest.mark.parametrize(
    "request_line", [b"GET /metrics HTTP/1.1", b"GET /nothing HTTP/1.1", b"POST /healthz HTTP/1.1",
                     b"GET //?Action=DescribeQuota HTTP/1.1"],
)
def test_any_action_unknown_path_answers_envelope(server, request_line):
    answer = exchange(server.port, request_line + b"\r\nHost: x\r\nContent-Length: 0\r\n\r\n")

    assert answer is not None and answer.envelope_code() == "InvalidRequest"
    assert b"openclb_" not in answer.body


def test_any_action_expect_100_continue_gets_continue_then_the_envelope(server):
    with connect(server.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        interim = sock.recv(64)
        sock.sendall(b"{}")
        answer = read_answer(sock)

    assert interim.startswith(b"HTTP/1.1 100 Continue")
    assert answer is not None and answer.envelope_code() == "AuthFailure.InvalidAuthorization"


def test_any_action_half_closed_client_socket_answers_or_closes_without_error(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    with sock, api_log_records() as records:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nshort")
        sock.shutdown(socket.SHUT_WR)
        answer = read_answer(sock)

    assert answer is None or answer.envelope_code() is not None
    assert not any(r.exc_info for r in records)
