"""ProxyProtocol through the official SDK: targets that parse the PROXY header see the client.

The target (``backends.ProxyProtocolBackend``) refuses a connection without a PROXY header,
as nginx's ``listen ... proxy_protocol`` does, and answers with the addresses the header
carried. Clients bind to a loopback address of their own, so "the real client address" is
one the engine could not have made up.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from backends import ProxyProtocolBackend
from clb_support import create_clb_with_vip, create_listener, listener, register, trusting_context, upload, write

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

CLIENT_IP = "127.9.8.7"


@pytest.fixture
def proxy_target() -> Iterator[ProxyProtocolBackend]:
    target = ProxyProtocolBackend()
    yield target
    target.close()


def _connect(vip: str, port: int, tls: ssl.SSLContext | None = None) -> socket.socket:
    raw = socket.create_connection((vip, port), timeout=5, source_address=(CLIENT_IP, 0))
    return tls.wrap_socket(raw, server_hostname="rsa.example.com") if tls else raw


def _header_seen(conn: socket.socket) -> bytes:
    """What the target answered first: its view of the PROXY header (one line)."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            break
        line += chunk
    return line


def test_create_listener_tcp_proxy_protocol_target_sees_client_address(server, client, proxy_target):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [8601], ProxyProtocol=True)
    register(client, lb_id, listener_id, [proxy_target.port])

    assert listener(client, lb_id, listener_id)["AttrFlags"] == ["ProxyProtocol"]
    with _connect(vip, 8601) as conn:
        client_port = conn.getsockname()[1]
        assert _header_seen(conn) == f"v2 {CLIENT_IP} {client_port} {vip} 8601\n".encode()
        conn.sendall(b"after the header")
        assert conn.recv(64) == b"after the header"


def test_create_listener_tcp_ssl_proxy_protocol_target_sees_client_address(server, client, proxy_target):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP_SSL", [8602], ProxyProtocol=True, Certificate=upload("rsa"))
    register(client, lb_id, listener_id, [proxy_target.port])

    with _connect(vip, 8602, trusting_context()) as conn:
        client_port = conn.getsockname()[1]
        assert _header_seen(conn) == f"v2 {CLIENT_IP} {client_port} {vip} 8602\n".encode()
        conn.sendall(b"decrypted")
        assert conn.recv(64) == b"decrypted"


def test_modify_listener_proxy_protocol_on_then_off_changes_what_targets_get(server, client, proxy_target):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [8603])
    register(client, lb_id, listener_id, [proxy_target.port])
    with _connect(vip, 8603) as conn:
        conn.sendall(b"no header, twelve bytes at least")
        assert _header_seen(conn) == b"bad header\n"

    write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "ProxyProtocol": True})
    with _connect(vip, 8603) as conn:
        assert _header_seen(conn) == f"v2 {CLIENT_IP} {conn.getsockname()[1]} {vip} 8603\n".encode()

    write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "ProxyProtocol": False})
    assert listener(client, lb_id, listener_id)["AttrFlags"] == []
    with _connect(vip, 8603) as conn:
        conn.sendall(b"no header, twelve bytes at least")
        assert _header_seen(conn) == b"bad header\n"
