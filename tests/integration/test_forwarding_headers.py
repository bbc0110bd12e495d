"""What an HTTP/HTTPS listener tells its targets about the client, and what it does with the
client's own forwarding headers: X-Forwarded-For is appended to, the others are the load
balancer's to set (a client cannot pass itself off as another address, scheme or port)."""

from __future__ import annotations

import pytest

from clb_support import create_clb_with_vip, create_listener, create_rules, register, trusting_context, upload
from l7_support import assert_served_by_test_engine, request

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

SPOOFED = {
    "X-Forwarded-For": "203.0.113.9", "X-Real-IP": "6.6.6.6", "X-Forwarded-Proto": "gopher",
    "X-Forwarded-Port": "1", "X-Client-Proto": "gopher",
}


def _seen_by_target(server, client, http_backends, protocol: str, port: int, **extra) -> tuple[dict, dict]:
    """The headers (lower-cased names) a target saw on a plain request and on one carrying SPOOFED."""
    backend = http_backends.start("seen")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, protocol, [port], **extra)
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "rsa.example.com", "Url": "/"}])
    register(client, lb_id, listener_id, [backend.port], location_id)
    assert_served_by_test_engine(server, listener_id)
    tls = {"tls": trusting_context(), "server_name": "rsa.example.com"} if protocol == "HTTPS" else {}
    plain = request(vip, port, "/", host="rsa.example.com", source_ip="127.0.0.61", **tls).json()["headers"]
    spoofed = request(vip, port, "/", host="rsa.example.com", headers=SPOOFED, source_ip="127.0.0.62",
                      **tls).json()["headers"]
    return _lower(plain), _lower(spoofed)


def _lower(headers: dict) -> dict:
    return {name.lower(): value for name, value in headers.items()}


@pytest.mark.parametrize("protocol,port,scheme", [("HTTP", 8680, "http"), ("HTTPS", 8681, "https")])
def test_create_listener_l7_targets_see_client_address_scheme_and_port(
        server, client, http_backends, protocol, port, scheme):
    extra = {"Certificate": upload("rsa")} if protocol == "HTTPS" else {}
    plain, spoofed = _seen_by_target(server, client, http_backends, protocol, port, **extra)

    expected = {"x-real-ip": "127.0.0.61", "x-forwarded-for": "127.0.0.61", "x-forwarded-proto": scheme,
                "x-forwarded-port": str(port), "x-client-proto": scheme}
    assert {name: plain.get(name) for name in expected} == expected
    expected.update({"x-real-ip": "127.0.0.62", "x-forwarded-for": "203.0.113.9, 127.0.0.62"})
    assert {name: spoofed.get(name) for name in expected} == expected
