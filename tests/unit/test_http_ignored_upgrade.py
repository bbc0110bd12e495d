"""Which upgrades the HTTP/1.1 proxy ignores, and the framing head that lets llhttp read their body.

llhttp (httptools) skips the body of any request it takes as an upgrade; ``framing_head``
must make a fresh parser read that body exactly as a plain request's would be read.
"""

from __future__ import annotations

import pytest
from httptools import HttpParserUpgrade, HttpRequestParser

from openclb.engine.embedded.http_ignored_upgrade import framing_head, ignored_upgrade, without_upgrade


class _Recorder:
    def __init__(self) -> None:
        self.body = b""
        self.ends = 0

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.ends += 1


@pytest.mark.parametrize(("offered", "ignored"), [
    ([b"h2c"], True), ([b" H2C "], True), ([b"h2c", b"h2c"], True),
    ([b"websocket"], False), ([b"h2c, websocket"], False), ([b"TLS/1.0"], False), ([b""], False), ([], False),
])
def test_ignored_upgrade_offered_protocols_only_h2c_ignored(offered, ignored):
    headers = [(b"host", b"a.test"), *((b"upgrade", value) for value in offered)]
    assert ignored_upgrade(headers) is ignored


def test_without_upgrade_upgrade_fields_dropped_others_kept():
    headers = [(b"host", b"a"), (b"upgrade", b"h2c"), (b"connection", b"Upgrade, HTTP2-Settings"), (b"x", b"1")]
    assert without_upgrade(headers) == [(b"host", b"a"), (b"connection", b"Upgrade, HTTP2-Settings"), (b"x", b"1")]


@pytest.mark.parametrize(("framing", "wire_body"), [
    ((b"Content-Length", b"11"), b"hello world"),
    ((b"Transfer-Encoding", b"chunked"), b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
])
def test_framing_head_upgrade_body_skipped_by_llhttp_read_whole_by_fresh_parser(framing, wire_body):
    head = (b"POST / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: AAA\r\n%s: %s\r\n\r\n" % framing)
    first = _Recorder()
    with pytest.raises(HttpParserUpgrade) as stopped:
        HttpRequestParser(first).feed_data(head + wire_body + b"GET / HTTP/1.1\r\n\r\n")
    rest = (head + wire_body + b"GET / HTTP/1.1\r\n\r\n")[stopped.value.args[0]:]
    assert (first.body, rest[:len(wire_body)]) == (b"", wire_body)

    resumed = _Recorder()
    HttpRequestParser(resumed).feed_data(framing_head([(framing[0].lower(), framing[1]), (b"host", b"a")]) + rest)
    assert (resumed.body, resumed.ends) == (b"hello world", 2)


def test_framing_head_no_body_empty():
    assert framing_head([(b"host", b"a"), (b"upgrade", b"h2c")]) == b""
