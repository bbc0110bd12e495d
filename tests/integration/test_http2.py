"""HTTP/2 to clients through the official SDK's configuration, with Debian's curl and h2load.

HTTPS listeners offer HTTP/2 by ALPN on the domains whose rule has Http2 on (CreateRule /
ModifyDomainAttributes); HTTP listeners with H2cSwitch take cleartext HTTP/2 with prior
knowledge or by Upgrade (RFC 7540 3.2). Targets stay HTTP/1.1 (aiohttp backends) and see the
usual forwarding headers.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time

import pytest

from backends import SilentBackend, free_port
from clb_support import checked, create_clb_with_vip, create_listener, create_rules, register, task_status, upload, write
from h2_support import DOMAIN, RawH2, curl, h2load
from l7_support import assert_served_by_test_engine

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def https_listener(client, http_backends, port: int, http2: bool, name: str = "h2",
                   dead_ports: tuple[int, ...] = ()) -> tuple[str, str, str]:
    """An HTTPS listener with one rule (DOMAIN, /) over a backend named ``name`` (and ``dead_ports``)."""
    backend = http_backends.start(name)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [port], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/", "Http2": http2}])
    register(client, lb_id, listener_id, [*dead_ports, backend.port], location_id)
    return lb_id, vip, listener_id


def h2c_listener(client, http_backends, port: int, name: str):
    """An HTTP listener with H2cSwitch and one rule (DOMAIN, /) over a backend named ``name``:
    (the backend, the CLB id, its VIP)."""
    backend = http_backends.start(name)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [port], H2cSwitch=True)
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/"}])
    register(client, lb_id, listener_id, [backend.port], location_id)
    return backend, lb_id, vip

def test_create_rule_http2_https_client_speaks_h2_target_gets_forwarding_headers(
        server, client, http_backends, tmp_path):
    _, vip, _ = https_listener(client, http_backends, 8701, http2=True)

    version, body = curl(vip, 8701, "/a?b=1", "--http2")
    seen = json.loads(body)
    assert version == "2"
    assert (seen["name"], seen["path"]) == ("h2", "/a?b=1")
    headers = {name.lower(): value for name, value in seen["headers"].items()}
    assert headers["host"] == f"{DOMAIN}:8701"
    assert (headers["x-client-proto"], headers["x-forwarded-port"]) == ("https", "8701")
    upload_file = tmp_path / "body"
    upload_file.write_bytes(b"x" * 300_000)
    version, body = curl(vip, 8701, "/upload", "--http2", "--data-binary", f"@{upload_file}")
    assert (version, json.loads(body)["body_length"]) == ("2", 300_000)


def test_modify_domain_attributes_http2_on_client_switches_from_http11_to_h2(server, client, http_backends):
    lb_id, vip, listener_id = https_listener(client, http_backends, 8702, http2=False)
    assert curl(vip, 8702, "/", "--http2")[0] == "1.1"

    write(client, "ModifyDomainAttributes", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Domain": DOMAIN,
                                             "Http2": True})
    assert curl(vip, 8702, "/", "--http2")[0] == "2"


def test_create_listener_h2c_switch_prior_knowledge_h2_and_http11_both_served(server, client, http_backends):
    _, _, vip = h2c_listener(client, http_backends, 8703, "h2c")

    version, body = curl(vip, 8703, "/x", "--http2-prior-knowledge", scheme="http")
    assert (version, json.loads(body)["name"]) == ("2", "h2c")
    assert curl(vip, 8703, "/x", scheme="http")[0] == "1.1"


def test_request_h2c_upgrade_h2c_switch_on_switches_else_http11_answers(server, client, http_backends, tmp_path):
    backend = http_backends.start("upgraded")
    lb_id, vip = create_clb_with_vip(client)
    on_id, off_id = (create_listener(client, lb_id, "HTTP", [port], H2cSwitch=switch)[0]
                     for port, switch in ((8710, True), (8711, False)))
    for listener_id in (on_id, off_id):
        (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/"}])
        register(client, lb_id, listener_id, [backend.port], location_id)

    # Debian's curl asks for h2c by Upgrade on http:// URLs with --http2.
    version, body = curl(vip, 8710, "/up?x=1", "--http2", scheme="http")
    seen = json.loads(body)
    assert (version, seen["name"], seen["path"]) == ("2", "upgraded", "/up?x=1")
    headers = {name.lower() for name in seen["headers"]}
    assert not headers & {"upgrade", "http2-settings"}
    assert curl(vip, 8711, "/", "--http2", scheme="http")[0] == "1.1"
    # An HTTP2-Settings that is not base64url or not whole SETTINGS entries: the upgrade is
    # ignored and the target never sees it.
    for settings in ("%%%", "AAMAAA"):
        version, body = curl(vip, 8710, "/bad", "-H", "Connection: Upgrade, HTTP2-Settings", "-H", "Upgrade: h2c",
                             "-H", f"HTTP2-Settings: {settings}", scheme="http")
        assert version == "1.1" and "upgrade" not in {name.lower() for name in json.loads(body)["headers"]}
    # With a body the upgrade is ignored (RFC 7540 3.2 allows it) and HTTP/1.1 carries it whole.
    upload_file = tmp_path / "body"
    upload_file.write_bytes(b"y" * 100_000)
    version, body = curl(vip, 8710, "/post", "--http2", "--data-binary", f"@{upload_file}", scheme="http")
    assert (version, json.loads(body)["body_length"]) == ("1.1", 100_000)
    nghttp = subprocess.run(["nghttp", "-u", "-v", "-H", f"host: {DOMAIN}", f"http://{vip}:8710/n"],
                            capture_output=True, text=True, timeout=20)
    assert nghttp.returncode == 0, nghttp.stderr
    assert "HTTP Upgrade success" in nghttp.stdout and '"name": "upgraded"' in nghttp.stdout


def test_request_h2c_upgrade_with_body_h2c_switch_off_proxied_as_http11_body_intact(
        server, client, http_backends, tmp_path):
    backend = http_backends.start("plain")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [8712], H2cSwitch=False)
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/"}])
    register(client, lb_id, listener_id, [backend.port], location_id)

    # What `curl --http2 -d` sends on http://: Connection: Upgrade, HTTP2-Settings and Upgrade: h2c.
    for size, framing in ((3_000, ()), (1_000_000, ()), (200_000, ("-H", "Transfer-Encoding: chunked"))):
        payload = os.urandom(size)
        upload_file = tmp_path / f"body-{size}"
        upload_file.write_bytes(payload)
        version, body = curl(vip, 8712, "/post", "--http2", *framing, "--data-binary", f"@{upload_file}",
                             scheme="http")
        seen = json.loads(body)
        assert (version, seen["method"], seen["body_length"]) == ("1.1", "POST", size)
        assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()
        assert not {name.lower() for name in seen["headers"]} & {"upgrade", "http2-settings"}
    # The connection stays open after the ignored upgrade: a request pipelined behind the body is answered;
    # with H2cSwitch on, an h2c upgrade after a connection's first request is ignored the same way.
    (switch_id,) = create_listener(client, lb_id, "HTTP", [8713], H2cSwitch=True)
    (switch_location,) = create_rules(client, lb_id, switch_id, [{"Domain": DOMAIN, "Url": "/"}])
    register(client, lb_id, switch_id, [backend.port], switch_location)
    upgrading = (b"POST /%s HTTP/1.1\r\nHost: " + DOMAIN.encode() + b"\r\nConnection: Upgrade, HTTP2-Settings%s\r\n"
                 b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhello")
    plain = b"GET /%s HTTP/1.1\r\nHost: " + DOMAIN.encode() + b"\r\n%s\r\n"
    for port, pipelined, paths in (
            (8712, upgrading % (b"first", b"") + plain % (b"second", b"Connection: close\r\n"), ["/first", "/second"]),
            (8713, plain % (b"one", b"") + upgrading % (b"two", b", close"), ["/one", "/two"])):
        answer = _exchange_raw(vip, port, pipelined)
        assert answer.count(b"HTTP/1.1 200 ") == 2 and b" 101 " not in answer
        assert [seen["path"] for seen in backend.requests[-2:]] == paths
        assert [seen["body_length"] for seen in backend.requests[-2:] if seen["method"] == "POST"] == [5]


def _exchange_raw(vip: str, port: int, data: bytes) -> bytes:
    """All the listener answers to ``data`` until it closes the connection."""
    with socket.create_connection((vip, port), timeout=10) as raw:
        raw.sendall(data)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    return answer


def test_request_h2load_many_streams_multiplexed_all_succeed(server, client, http_backends):
    _, vip, _ = https_listener(client, http_backends, 8704, http2=True)

    summary = h2load(vip, 8704, requests=400, clients=2, streams=20)
    assert "400 succeeded, 0 failed, 0 errored" in summary, summary
    assert "h2" in summary


def test_request_h2_streams_keepalive_on_share_target_connections_off_one_each(server, client, http_backends):
    pooled, unpooled = http_backends.start("pooled"), http_backends.start("unpooled")
    lb_id, vip = create_clb_with_vip(client)
    for port, keepalive, backend in ((8712, 1, pooled), (8713, 0, unpooled)):
        (listener_id,) = create_listener(client, lb_id, "HTTPS", [port], Certificate=upload("rsa"),
                                         KeepaliveEnable=keepalive)
        (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/", "Http2": True}])
        register(client, lb_id, listener_id, [backend.port], location_id)

    for port in (8712, 8713):
        summary = h2load(vip, port, requests=300, clients=1, streams=4)
        assert "300 succeeded, 0 failed, 0 errored" in summary, summary
    # At most one target connection per stream in flight, reused; without keep-alive, one per stream.
    assert len(pooled.requests) == 300 and len(pooled.peers) <= 8
    assert len(unpooled.requests) == 300 and len(unpooled.peers) == 300
    assert all(seen["headers"].get("Connection", "").lower() != "close" for seen in pooled.requests)


def test_request_stream_window_exhausted_other_streams_still_served(server, client, http_backends):
    _, vip, _ = https_listener(client, http_backends, 8705, http2=True)
    raw = RawH2(vip, 8705)
    try:
        big = raw.request("/stream/2000000")
        # The big stream's window is never given back: it stalls at 64 KiB, and must stall alone.
        stalled = lambda stream_id: stream_id != big  # noqa: E731
        raw.pump(lambda: len(raw.bodies.get(big, b"")) >= 65535, acknowledge=stalled)
        small = raw.request("/small")
        assert raw.pump(lambda: small in raw.ended, acknowledge=stalled)
        assert raw.status[small] == 200 and json.loads(raw.bodies[small])["path"] == "/small"
        assert len(raw.bodies[big]) == 65535 and big not in raw.ended

        raw.conn.increment_flow_control_window(2_000_000, big)
        raw.send()
        assert raw.pump(lambda: big in raw.ended, seconds=10)
        assert len(raw.bodies[big]) == 2_000_000
    finally:
        raw.close()


def test_request_h2_local_answers_and_head_match_http11(server, client, http_backends):
    alive = http_backends.start("alive")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8706], Certificate=upload("rsa"))
    app_id, dead_id = create_rules(client, lb_id, listener_id, [
        {"Domain": DOMAIN, "Url": "/app", "Http2": True}, {"Domain": DOMAIN, "Url": "/dead", "Http2": True}])
    register(client, lb_id, listener_id, [alive.port], app_id)
    assert_served_by_test_engine(server, listener_id)
    register(client, lb_id, listener_id, [free_port()], dead_id)
    raw = RawH2(vip, 8706)
    try:
        status, body = raw.fetch("/app/x")
        assert (status, json.loads(body)["name"]) == (200, "alive")
        assert raw.fetch("/app/x", method="HEAD") == (200, b"")
        assert raw.fetch("/nowhere")[0] == 404
        assert raw.fetch("/dead")[0] == 502
    finally:
        raw.close()


def test_associate_customized_config_proxy_read_timeout_h2_stream_gets_504_from_silent_target(server, client):
    silent = SilentBackend()
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8714], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/", "Http2": True}])
    register(client, lb_id, listener_id, [silent.port], location_id)
    # Not in the SDK's typed models (as in test_customized_config): called as JSON.
    added = client.call_json("AddCustomizedConfig", {"ConfigName": "h2-timeout", "ConfigType": "CLB",
                                                     "ConfigContent": "proxy_read_timeout 1s;"})["Response"]
    config_id = added["ConfigId"]
    associated = client.call_json("AssociateCustomizedConfig", {"UconfigId": config_id,
                                                                "BindList": [{"LoadBalancerId": lb_id}]})["Response"]
    assert task_status(client, associated["RequestId"]) == 0
    raw = RawH2(vip, 8714)
    try:
        started = time.monotonic()
        assert raw.fetch("/")[0] == 504
        assert time.monotonic() - started < 5
    finally:
        raw.close()
        silent.close()


def test_create_rule_session_expire_time_h2_cookie_pins_stream_to_target(server, client, http_backends):
    one, two = http_backends.start("one"), http_backends.start("two")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8707], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id, [
        {"Domain": DOMAIN, "Url": "/", "Http2": True, "SessionExpireTime": 60}])
    register(client, lb_id, listener_id, [one.port, two.port], location_id)
    assert_served_by_test_engine(server, listener_id)
    raw = RawH2(vip, 8707)
    try:
        first = raw.request("/")
        assert raw.pump(lambda: first in raw.ended)
        cookie = raw.response_headers[first][b"set-cookie"].decode()
        assert cookie.startswith("openclb_srv=") and "Max-Age=60" in cookie
        name = json.loads(raw.bodies[first])["name"]
        pinned = {json.loads(raw.fetch("/", extra=[("cookie", cookie.split(";")[0])])[1])["name"] for _ in range(6)}
        assert pinned == {name}
        assert {json.loads(raw.fetch("/")[1])["name"] for _ in range(8)} == {"one", "two"}
    finally:
        raw.close()


def test_request_h2_dead_target_of_rule_connect_retried_on_another(server, client, http_backends):
    _, vip, _ = https_listener(client, http_backends, 8708, http2=True, name="alive", dead_ports=(free_port(),))
    raw = RawH2(vip, 8708)
    try:
        answers = [raw.fetch("/") for _ in range(6)]
        assert {(status, json.loads(body)["name"]) for status, body in answers} == {(200, "alive")}
    finally:
        raw.close()


def test_create_rule_sni_domains_http2_offered_only_where_rule_has_it(server, client, http_backends):
    rsa_site, ec_site = http_backends.start("rsa-site"), http_backends.start("ec-site")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8709], SniSwitch=1)
    rsa_id, ec_id = create_rules(client, lb_id, listener_id, [
        {"Domain": "rsa.example.com", "Url": "/", "Certificate": upload("rsa"), "Http2": True},
        {"Domain": "ec.example.com", "Url": "/", "Certificate": upload("ecdsa")}])
    register(client, lb_id, listener_id, [rsa_site.port], rsa_id)
    assert_served_by_test_engine(server, listener_id)
    register(client, lb_id, listener_id, [ec_site.port], ec_id)

    version, body = curl(vip, 8709, "/", "--http2", domain="rsa.example.com")
    assert (version, json.loads(body)["name"]) == ("2", "rsa-site")
    version, body = curl(vip, 8709, "/", "--http2", domain="ec.example.com")
    assert (version, json.loads(body)["name"]) == ("1.1", "ec-site")


def test_request_h2_blocked_client_and_body_over_limit_refused_403_413_as_http11(server, client, http_backends):
    backend, lb_id, vip = h2c_listener(client, http_backends, 8711, "guarded")
    for params in ({"Type": "add_customized_field"}, {"Type": "add_blocked", "BlockIPList": ["10.1.2.3"]}):
        job_id = checked(client, "ModifyBlockIPList",
                         {"LoadBalancerIds": [lb_id], "ClientIPField": "X-Real-Client", **params})["JodId"]
        assert task_status(client, job_id) == 0
    config_id = checked(client, "SetCustomizedConfigForLoadBalancer", {
        "OperationType": "ADD", "ConfigName": "limit", "ConfigContent": "client_max_body_size 1k;"})["ConfigId"]
    write(client, "SetCustomizedConfigForLoadBalancer",
          {"OperationType": "BIND", "UconfigId": config_id, "LoadBalancerIds": [lb_id]})

    def status(*options: str) -> str:
        return subprocess.run(["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge", "-o", "/dev/null",
                               "-w", "%{http_version} %{http_code}", "-H", f"Host: {DOMAIN}", *options,
                               f"http://{vip}:8711/"], capture_output=True, text=True, timeout=20).stdout

    assert status("-H", "X-Real-Client: 10.1.2.3") == "2 403"
    assert status("--data-binary", "x" * 2048) == "2 413"
    assert status("--data-binary", "x" * 100) == "2 200"
    assert len(backend.requests) == 1
