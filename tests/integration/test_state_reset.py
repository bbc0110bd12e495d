"""ResetState: every resource of the calling account gone in one call, its ports closed on the answer.

Through the SDK's CommonClient: CLBs with TCP and UDP listeners and a task held running by a
fault are removed in well under a second; the account's CLBs, tasks and ports are gone, another
account's are untouched, and the account can start again at once.
"""

from __future__ import annotations

import socket
import time

import pytest

from admin_support import admin, admin_client, export_document
from backends import accepts_tcp, port_free
from clb_support import checked, create_clb_with_vip, create_listener, refused
from conftest import sdk_client

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def test_reset_state_listeners_and_held_task_gone_ports_closed_other_account_kept(server_factory, tmp_path):
    from openclb.api import accounts

    data_dir = tmp_path / "reset-data"
    other = accounts.add_account(data_dir / "accounts.json", "AKIDresetKept0000000000000000000", "keptKey")
    server = server_factory(fault_injection=True, data_dir=data_dir)
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    other_client = sdk_client(server.url, secret_id=other.secret_id, secret_key="keptKey")
    kept_lb, kept_vip = create_clb_with_vip(other_client)
    create_listener(other_client, kept_lb, "TCP", [9500])
    bound = []
    for index in range(3):
        lb_id, vip = create_clb_with_vip(client, f"doomed-{index}")
        create_listener(client, lb_id, "TCP", [9500, 9501])
        create_listener(client, lb_id, "UDP", [9500])
        bound.append((lb_id, vip))
    admin(admin_api, "InjectFault", {"Kind": "TaskDelay", "Action": "CreateListener", "Seconds": 30})
    held = checked(client, "CreateListener", {"LoadBalancerId": bound[0][0], "Protocol": "TCP", "Ports": [9502]})

    started = time.perf_counter()
    removed = admin(admin_api, "ResetState")["LoadBalancerIds"]
    elapsed = time.perf_counter() - started

    assert sorted(removed) == sorted(lb_id for lb_id, _ in bound)
    assert elapsed < 1.0, elapsed
    for _, vip in bound:
        assert not accepts_tcp(vip, 9500) and not accepts_tcp(vip, 9501) and not accepts_tcp(vip, 9502)
        assert port_free(vip, 9500, (socket.SOCK_DGRAM,))
    assert checked(client, "DescribeLoadBalancers", {})["TotalCount"] == 0
    refused(client, "DescribeTaskStatus", {"TaskId": held["RequestId"]}, "InvalidParameter")
    document = export_document(admin_api)
    assert (document["LoadBalancers"], document["Certificates"]) == ([], [])
    assert accepts_tcp(kept_vip, 9500)
    assert checked(other_client, "DescribeLoadBalancers", {})["TotalCount"] == 1


def test_reset_state_then_create_again_same_ports_served(server):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    lb_id, vip = create_clb_with_vip(client)
    create_listener(client, lb_id, "TCP", [9510])

    admin(admin_api, "ResetState")
    again, again_vip = create_clb_with_vip(client)
    create_listener(client, again, "TCP", [9510])

    assert again != lb_id
    assert accepts_tcp(again_vip, 9510)
    assert [lb["LoadBalancerId"] for lb in checked(client, "DescribeLoadBalancers", {})["LoadBalancerSet"]] == [again]
