"""HTTP listeners carrying real traffic: rules through the official SDK, requests through http.client.

Every test builds its CLB, listener and rules with the SDK against a real openclb, then sends
real HTTP to the VIP and checks what the targets (aiohttp backends) saw and what came back.
"""

from __future__ import annotations

import base64
import os
import socket
import time

import pytest

from backends import rss_bytes
from clb_support import (
    checked, create_clb_with_vip, create_listener, create_rules, listener, register, upload, write,
)
from l7_support import assert_served_by_test_engine, connect, request, send

pytestmark = pytest.mark.postgres

PORT = 8080


def http_listener(client, rules: list[dict], **extra) -> tuple[str, str, str, list[str]]:
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [PORT], **extra)
    return lb_id, vip, listener_id, create_rules(client, lb_id, listener_id, rules)


@pytest.mark.haproxy
def test_create_rule_exact_and_wildcard_domains_route_and_target_sees_client_ip(server, client, http_backends):
    exact, wildcard = http_backends.start("exact"), http_backends.start("wildcard")
    lb_id, vip, listener_id, (exact_id, wildcard_id) = http_listener(client, [
        {"Domain": "www.shop.test", "Url": "/"}, {"Domain": "*.shop.test", "Url": "/"}])
    register(client, lb_id, listener_id, [exact.port], exact_id)
    assert_served_by_test_engine(server, listener_id)
    register(client, lb_id, listener_id, [wildcard.port], wildcard_id)

    direct = request(vip, PORT, "/a?b=1", host="www.shop.test", source_ip="127.0.0.77").json()
    via = request(vip, PORT, "/", host="api.shop.test", headers={"X-Forwarded-For": "203.0.113.9"},
                  source_ip="127.0.0.78").json()

    assert (direct["name"], direct["path"]) == ("exact", "/a?b=1")
    assert direct["headers"]["X-Forwarded-For"] == "127.0.0.77"
    assert direct["headers"]["X-Forwarded-Proto"] == "http"
    assert direct["headers"]["Host"] == "www.shop.test"
    assert via["name"] == "wildcard"
    assert via["headers"]["X-Forwarded-For"] == "203.0.113.9, 127.0.0.78"


@pytest.mark.haproxy
def test_request_host_matching_no_domain_goes_to_default_server_else_404(server, client, http_backends):
    first, second = http_backends.start("first"), http_backends.start("second")
    lb_id, vip, listener_id, (first_id, second_id) = http_listener(client, [
        {"Domain": "first.test", "Url": "/app"}, {"Domain": "second.test", "Url": "/"}])
    register(client, lb_id, listener_id, [first.port], first_id)
    assert_served_by_test_engine(server, listener_id)
    register(client, lb_id, listener_id, [second.port], second_id)

    assert request(vip, PORT, "/app/x", host="unknown.test").json()["name"] == "first"
    assert request(vip, PORT, "/app", host=vip).json()["name"] == "first"
    missing = request(vip, PORT, "/other", host="unknown.test")
    assert missing.status == 404 and b"404" in missing.body
    assert request(vip, PORT, "/other", host="second.test").json()["name"] == "second"
    assert request(vip, PORT, "/other", host="first.test").status == 404
    assert all(r["path"] != "/other" for r in first.requests)


@pytest.mark.haproxy
def test_request_rule_without_targets_503_and_dead_target_502(server, client, http_backends):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    lb_id, vip, listener_id, (_, dead_id) = http_listener(client, [
        {"Domain": "x.test", "Url": "/empty"}, {"Domain": "x.test", "Url": "/dead"}])
    register(client, lb_id, listener_id, [dead_port], dead_id)
    assert_served_by_test_engine(server, listener_id)

    assert request(vip, PORT, "/empty", host="x.test").status == 503
    assert request(vip, PORT, "/dead", host="x.test").status == 502


@pytest.mark.haproxy
def test_request_malformed_request_line_gets_400_and_is_not_forwarded(server, client, http_backends):
    target = http_backends.start("target")
    lb_id, vip, listener_id, (location_id,) = http_listener(client, [{"Domain": "x.test", "Url": "/"}])
    register(client, lb_id, listener_id, [target.port], location_id)
    assert_served_by_test_engine(server, listener_id)

    for garbage in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x.test\r\nBad Header\r\n\r\n",
                    b"GET /\x00 HTTP/1.1\r\nHost: x.test\r\n\r\n", b"GET /\r\n\r\n"):
        with socket.create_connection((vip, PORT), timeout=5) as raw:
            raw.sendall(garbage)
            answer = b""
            while chunk := raw.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert target.requests == [] and target.connections == 0


def test_create_listener_http_spec_gets_documented_timeouts_and_view_does_not_show_them(server, client):
    lb_id, _ = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [PORT])
    spec = server.server.engine.listener(lb_id, listener_id).spec
    assert (spec.client_head_timeout, spec.target_response_timeout) == (60, 60)
    described = listener(client, lb_id, listener_id)
    assert [name for name in described if name.endswith("Timeout")] == ["IdleConnectTimeout"]


@pytest.mark.haproxy
def test_create_listener_keepalive_enabled_reuses_target_connections(server, client, http_backends):
    pooled, fresh = http_backends.start("pooled"), http_backends.start("fresh")
    for backend, keepalive in ((pooled, 1), (fresh, 0)):
        lb_id, vip, listener_id, (location_id,) = http_listener(
            client, [{"Domain": "k.test", "Url": "/"}], KeepaliveEnable=keepalive)
        register(client, lb_id, listener_id, [backend.port], location_id)
        assert_served_by_test_engine(server, listener_id)
        for index in range(10):
            assert request(vip, PORT, f"/{index}", host="k.test").json()["name"] == backend.name
        keep_client = connect(vip, PORT)
        for index in range(10):
            assert send(keep_client, f"/again/{index}", host="k.test").status == 200
        keep_client.close()
    assert len(pooled.requests) == len(fresh.requests) == 20
    assert pooled.connections == 1
    assert fresh.connections == 20


def test_modify_rule_url_changed_open_keepalive_connection_follows_new_url(server, client, http_backends):
    target = http_backends.start("moved")
    lb_id, vip, listener_id, (location_id,) = http_listener(client, [{"Domain": "m.test", "Url": "/old"}])
    register(client, lb_id, listener_id, [target.port], location_id)
    kept = connect(vip, PORT)
    assert send(kept, "/old/a", host="m.test").status == 200
    write(client, "ModifyRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": location_id,
                                 "Url": "/new"})
    assert send(kept, "/old/a", host="m.test").status == 404
    assert send(kept, "/new/a", host="m.test").json()["name"] == "moved"
    kept.close()


@pytest.mark.haproxy
def test_request_body_chunked_and_100_continue_streamed_to_target(server, client, http_backends):
    target = http_backends.start("upload")
    lb_id, vip, listener_id, (location_id,) = http_listener(client, [{"Domain": "u.test", "Url": "/"}])
    register(client, lb_id, listener_id, [target.port], location_id)
    assert_served_by_test_engine(server, listener_id)

    connection = connect(vip, PORT)
    connection.putrequest("POST", "/chunked", skip_host=True)
    connection.putheader("Host", "u.test")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for _ in range(4):
        connection.send(b"4000\r\n" + b"y" * 0x4000 + b"\r\n")
    connection.send(b"0\r\n\r\n")
    chunked = connection.getresponse()
    assert chunked.status == 200 and b'"body_length": 65536' in chunked.read()
    connection.close()

    with socket.create_connection((vip, PORT), timeout=5) as raw:
        raw.sendall(b"PUT /expect HTTP/1.1\r\nHost: u.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 100 ")
        raw.sendall(b"hello")
        answer = b""
        while b'"body_length": 5' not in answer:
            chunk = raw.recv(4096)
            assert chunk
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")


@pytest.mark.haproxy
def test_request_head_and_pipelined_requests_answered_in_order(server, client, http_backends):
    target = http_backends.start("pipeline")
    lb_id, vip, listener_id, (location_id,) = http_listener(client, [{"Domain": "p.test", "Url": "/"}])
    register(client, lb_id, listener_id, [target.port], location_id)
    assert_served_by_test_engine(server, listener_id)

    with socket.create_connection((vip, PORT), timeout=5) as raw:
        raw.sendall(b"HEAD /one HTTP/1.1\r\nHost: p.test\r\n\r\nGET /two HTTP/1.1\r\nHost: p.test\r\n\r\n"
                    b"GET /three HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer.count(b"HTTP/1.1 200 ") == 3
    assert answer.index(b'"/two"') < answer.index(b'"/three"')
    assert [r["path"] for r in target.requests] == ["/one", "/two", "/three"]


@pytest.mark.haproxy
def test_response_200mb_streams_through_with_bounded_memory(server, client, http_backends):
    target = http_backends.start("bulk")
    lb_id, vip, listener_id, (location_id,) = http_listener(client, [{"Domain": "s.test", "Url": "/"}])
    register(client, lb_id, listener_id, [target.port], location_id)
    assert_served_by_test_engine(server, listener_id)
    size = 200 * 1024 * 1024
    before = peak = rss_bytes()
    started = time.monotonic()
    connection = connect(vip, PORT)
    connection.request("GET", f"/stream/{size}", headers={"Host": "s.test"})
    response = connection.getresponse()
    buffer = bytearray(1 << 20)
    received = 0
    while count := response.readinto(buffer):
        received += count
        if received % (16 << 20) < count:
            peak = max(peak, rss_bytes())
    connection.close()
    assert response.status == 200 and received == size
    assert time.monotonic() - started < 20
    assert peak - before < 64 << 20, f"RSS grew by {(peak - before) >> 20} MB"


@pytest.mark.haproxy
def test_websocket_upgrade_echoes_both_ways_through_the_listener(server, client, http_backends):
    target = http_backends.start("ws")
    lb_id, vip, listener_id, (location_id,) = http_listener(client, [{"Domain": "w.test", "Url": "/"}])
    register(client, lb_id, listener_id, [target.port], location_id)
    assert_served_by_test_engine(server, listener_id)
    key = base64.b64encode(os.urandom(16)).decode()

    with socket.create_connection((vip, PORT), timeout=5) as raw:
        raw.sendall((f"GET /ws HTTP/1.1\r\nHost: w.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += raw.recv(4096)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"upgrade: websocket" in head.lower()
        for text in ("hello", "x" * 300):
            raw.sendall(_ws_frame(text.encode()))
            assert _ws_read_text(raw) == f"ws:{text}"


def _ws_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        header = bytes([0x81, 0x80 | len(payload)])
    else:
        header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    return header + mask + masked


def _ws_read_text(raw: socket.socket) -> str:
    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = raw.recv(count - len(data))
            assert chunk
            data += chunk
        return data
    first, second = exactly(2)
    assert first & 0x0F == 1
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(exactly(2), "big")
    return exactly(length).decode()


@pytest.mark.haproxy
def test_create_rule_session_expire_time_cookie_pins_client_to_target(server, client, http_backends):
    one, two = http_backends.start("one"), http_backends.start("two")
    lb_id, vip, listener_id, (location_id,) = http_listener(
        client, [{"Domain": "c.test", "Url": "/", "SessionExpireTime": 60}])
    register(client, lb_id, listener_id, [one.port, two.port], location_id)
    assert_served_by_test_engine(server, listener_id)

    first = request(vip, PORT, "/", host="c.test")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("openclb_srv=") and "Max-Age=60" in cookie
    pinned = {request(vip, PORT, "/", host="c.test", headers={"Cookie": cookie.split(";")[0]}).json()["name"]
              for _ in range(8)}
    assert pinned == {first.json()["name"]}
    spread = {request(vip, PORT, "/", host="c.test").json()["name"] for _ in range(8)}
    assert spread == {"one", "two"}


@pytest.mark.haproxy
def test_manual_rewrite_rule_redirects_to_https_listener_with_location(server, client, http_backends):
    lb_id, vip = create_clb_with_vip(client)
    (http_id,) = create_listener(client, lb_id, "HTTP", [PORT])
    (https_id,) = create_listener(client, lb_id, "HTTPS", [8443], Certificate=upload("rsa"))
    (source,) = create_rules(client, lb_id, http_id, [{"Domain": "r.test", "Url": "/old"}])
    (target,) = create_rules(client, lb_id, https_id, [{"Domain": "r.test", "Url": "/new"}])
    write(client, "ManualRewrite", {"LoadBalancerId": lb_id, "SourceListenerId": http_id, "TargetListenerId": https_id,
                                    "RewriteInfos": [{"SourceLocationId": source, "TargetLocationId": target,
                                                      "RewriteCode": 302, "TakeUrl": False}]})

    moved = request(vip, PORT, "/old/page?x=1", host="r.test")
    assert moved.status == 302
    assert moved.headers["location"] == "https://r.test:8443/new"


@pytest.mark.haproxy
def test_auto_rewrite_http_80_redirects_to_https_keeping_url(server, client, http_backends):
    lb_id, vip = create_clb_with_vip(client)
    (https_id,) = create_listener(client, lb_id, "HTTPS", [443], Certificate=upload("rsa"))
    create_rules(client, lb_id, https_id, [{"Domain": "auto.test", "Url": "/"}])
    write(client, "AutoRewrite", {"LoadBalancerId": lb_id, "ListenerId": https_id, "Domains": ["auto.test"]})
    described = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id, "Protocol": "HTTP"})["Listeners"]
    assert [listener["Port"] for listener in described] == [80]

    moved = request(vip, 80, "/a/b?c=d", host="auto.test:80")
    assert moved.status == 301
    assert moved.headers["location"] == "https://auto.test/a/b?c=d"
