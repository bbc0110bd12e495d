"""DescribeTargetConnections (admin API): the engine's live connection counts of the account's targets."""

from __future__ import annotations

import socket
import time

from admin_support import admin, admin_client, admin_refused
from backends import NamedBackend, first_bytes
from clb_support import create_clb_with_vip, create_listener, register
from conftest import sdk_client
from openclb.api import accounts


def _counts(client, lb_id: str) -> dict[tuple[str, int], tuple[int, int]]:
    rows = admin(client, "DescribeTargetConnections", {"LoadBalancerIds": [lb_id]})["Targets"]
    return {(row["Ip"], row["Port"]): (row["ActiveConnections"], row["TotalConnections"]) for row in rows}


def test_describe_target_connections_open_connection_counted_active_then_total(server):
    backend = NamedBackend("counted")
    client = sdk_client(server.url)
    lb_id, vip = create_clb_with_vip(client, "connections")
    (listener_id,) = create_listener(client, lb_id, "TCP", [8100])
    register(client, lb_id, listener_id, [backend.port])
    admin_api = admin_client(server.url)

    held = socket.create_connection((vip, 8100), timeout=3)
    assert held.recv(7) == b"counted"
    while_open = _counts(admin_api, lb_id)
    held.close()
    assert first_bytes(vip, 8100).startswith(b"counted")
    deadline = time.monotonic() + 5
    while _counts(admin_api, lb_id)[("127.0.0.1", backend.port)][0] and time.monotonic() < deadline:
        time.sleep(0.05)

    assert while_open == {("127.0.0.1", backend.port): (1, 1)}
    assert _counts(admin_api, lb_id) == {("127.0.0.1", backend.port): (0, 2)}
    backend.close()


def test_describe_target_connections_other_accounts_clb_left_out(server_factory, tmp_path):
    data_dir = tmp_path / "connections-two-accounts"
    theirs = accounts.add_account(data_dir / "accounts.json", "AKIDconnectionsOther000000000000", "otherKey")
    server = server_factory(data_dir=data_dir)
    lb_id, _ = create_clb_with_vip(sdk_client(server.url), "mine")
    other = admin_client(server.url, theirs.secret_id, "otherKey")

    assert admin(other, "DescribeTargetConnections", {"LoadBalancerIds": [lb_id]})["Targets"] == []


def test_describe_target_connections_no_ids_is_invalid_length(server):
    admin_refused(admin_client(server.url), "DescribeTargetConnections", {"LoadBalancerIds": []},
                  "InvalidParameterValue.Length")
