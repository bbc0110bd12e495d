"""h2c by Upgrade (``http2_upgrade``): which request heads the embedded engine takes as an upgrade."""

from __future__ import annotations

import pytest

from openclb.engine.embedded.http2_upgrade import h2c_upgrade, without_upgrade

CURL = (b"GET /a?b=1 HTTP/1.1\r\nHost: bench.test:80\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
        b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA")


def test_h2c_upgrade_curl_head_gives_stream_one_fields_without_hop_fields():
    upgrade = h2c_upgrade(CURL)
    assert upgrade is not None and upgrade.settings == b"AAMAAABkAAQAoAAAAAIAAAAA"
    assert upgrade.headers == [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/a?b=1"),
                               (b":authority", b"bench.test:80"), (b"user-agent", b"curl/7.88.1"),
                               (b"accept", b"*/*")]


def test_h2c_upgrade_unpadded_settings_value_gets_padding():
    assert h2c_upgrade(CURL.replace(b"AAMAAABkAAQAoAAAAAIAAAAA", b"AAMAAABkAAQ")).settings == b"AAMAAABkAAQ="


@pytest.mark.parametrize("head", [
    CURL.replace(b"Upgrade: h2c", b"Upgrade: websocket"),
    CURL.replace(b"Connection: Upgrade, HTTP2-Settings", b"Connection: Upgrade"),
    CURL.replace(b"\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA", b""),
    CURL + b"\r\nHTTP2-Settings: AAMAAABk",
    CURL.replace(b"AAMAAABkAAQAoAAAAAIAAAAA", b"%%%"),
    CURL + b"\r\nContent-Length: 5",
    CURL + b"\r\nTransfer-Encoding: chunked",
    CURL + b"\r\nTransfer-Encoding: 0",
    CURL.replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    CURL.replace(b"Accept: */*", b"Accept */*"),
    CURL.replace(b"Accept: */*", b"Accept: */*\nX-Smuggled: 1"),
    CURL.replace(b"Accept: */*", b"Accept : */*"),
    CURL.replace(b"Accept: */*", b"Accept: \x00"),
    CURL.replace(b"/a?b=1", b"/a\x01"),
])
def test_h2c_upgrade_not_a_takeable_upgrade_gives_none(head):
    assert h2c_upgrade(head) is None


def test_without_upgrade_body_request_keeps_everything_but_upgrade_fields():
    head = CURL + b"\r\nContent-Length: 5\r\n\r\n"
    assert without_upgrade(head) == head.replace(b"Upgrade: h2c\r\n", b"").replace(
        b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n", b"")
