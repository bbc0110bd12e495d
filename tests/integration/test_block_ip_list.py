"""ModifyBlockIPList, DescribeBlockIPList, DescribeBlockIPTask: blocked clients are refused on every listener.

Clients bind to loopback sources: 127.0.0.3 is blocked, 127.0.0.2 is not. TCP connections of
a blocked client are reset, its UDP datagrams dropped, its HTTP requests answered 403, also when
its address comes in the header named by ClientIPField; entries expire on time.
"""

from __future__ import annotations

import json
import time

import pytest
from tencentcloud.clb.v20180317 import models

from admission_support import UdpEchoBackend, tcp_outcome, udp_ask
from backends import NamedBackend
from clb_support import (
    checked, create_clb_with_vip, create_listener, create_rules, refused, register, task_status, write,
)
from conftest import sdk_client
from l7_support import request

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

ALLOWED, BLOCKED = "127.0.0.2", "127.0.0.3"


def block(client, lb_id: str, kind: str, ips: list[str] | None = None, field: str = "X-Client-Ip", **extra) -> str:
    params = {"LoadBalancerIds": [lb_id], "Type": kind, "ClientIPField": field, **extra}
    if ips is not None:
        params["BlockIPList"] = ips
    return write(client, "ModifyBlockIPList", params)["JodId"]


def blocked(client, lb_id: str) -> dict:
    return checked(client, "DescribeBlockIPList", {"LoadBalancerId": lb_id})


def test_modify_block_ip_list_add_blocked_tcp_client_reset_other_served_until_deleted(server):
    client = sdk_client(server.url)
    backend = NamedBackend("tcp")
    try:
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = create_listener(client, lb_id, "TCP", [9500], HealthCheck={"HealthSwitch": 0})
        register(client, lb_id, listener_id, [backend.port])
        assert tcp_outcome(vip, 9500, BLOCKED) == b"tcp"

        request_model = models.ModifyBlockIPListRequest()
        request_model.from_json_string(json.dumps({"LoadBalancerIds": [lb_id], "Type": "add_blocked",
                                                   "ClientIPField": "X-Client-Ip", "BlockIPList": [BLOCKED]}))
        job_id = client.ModifyBlockIPList(request_model).JodId
        assert task_status(client, job_id) == 0
        status = client.DescribeBlockIPTask(_task_request(job_id)).Status
        listed = blocked(client, lb_id)
        typed_list = models.DescribeBlockIPListRequest()
        typed_list.LoadBalancerId = lb_id
        typed_ips = [entry.IP for entry in client.DescribeBlockIPList(typed_list).BlockedIPList]
        outcomes = (tcp_outcome(vip, 9500, BLOCKED), tcp_outcome(vip, 9500, ALLOWED))

        block(client, lb_id, "del_blocked", [BLOCKED])
        after = tcp_outcome(vip, 9500, BLOCKED)
    finally:
        backend.close()

    assert status == 6
    assert typed_ips == [BLOCKED]
    assert outcomes == ("reset", b"tcp")
    assert after == b"tcp"
    assert listed["BlockedIPCount"] == 1 and listed["BlockedIPList"][0]["IP"] == BLOCKED
    created = time.strptime(listed["BlockedIPList"][0]["CreateTime"], "%Y-%m-%d %H:%M:%S")
    expires = time.strptime(listed["BlockedIPList"][0]["ExpireTime"], "%Y-%m-%d %H:%M:%S")
    assert time.mktime(expires) - time.mktime(created) == 3600
    assert blocked(client, lb_id)["BlockedIPCount"] == 0


def _task_request(job_id: str) -> models.DescribeBlockIPTaskRequest:
    model = models.DescribeBlockIPTaskRequest()
    model.TaskId = job_id
    return model


def test_modify_block_ip_list_expire_time_entry_expires_and_client_served_again(server):
    client = sdk_client(server.url)
    backend = NamedBackend("back")
    try:
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = create_listener(client, lb_id, "TCP", [9501], HealthCheck={"HealthSwitch": 0})
        register(client, lb_id, listener_id, [backend.port])
        asked = time.monotonic()
        block(client, lb_id, "add_blocked", [BLOCKED], ExpireTime=4)
        during = tcp_outcome(vip, 9501, BLOCKED)
        time.sleep(max(0.0, asked + 5.1 - time.monotonic()))
        after = tcp_outcome(vip, 9501, BLOCKED)
    finally:
        backend.close()

    assert during == "reset"
    assert after == b"back"
    assert blocked(client, lb_id)["BlockedIPCount"] == 0


def test_modify_block_ip_list_udp_flow_from_blocked_client_dropped(server):
    client = sdk_client(server.url)
    backend = UdpEchoBackend("udp")
    try:
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = create_listener(client, lb_id, "UDP", [9502], HealthCheck={"HealthSwitch": 0})
        register(client, lb_id, listener_id, [backend.port])
        block(client, lb_id, "add_blocked", [BLOCKED])
        answers = (udp_ask(vip, 9502, b"a", BLOCKED), udp_ask(vip, 9502, b"b", ALLOWED))
        block(client, lb_id, "flush_blocked")
        after = udp_ask(vip, 9502, b"c", BLOCKED)
    finally:
        backend.close()

    assert answers == (None, b"udp:b")
    assert after == b"udp:c"


def test_modify_block_ip_list_http_request_refused_403_by_peer_and_by_client_ip_field(server, http_backends):
    client = sdk_client(server.url)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [9503])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "b.example.com", "Url": "/"}])
    register(client, lb_id, listener_id, [http_backends.start("web").port], location_id)
    block(client, lb_id, "add_customized_field", field="X-Real-Client")
    block(client, lb_id, "add_blocked", [BLOCKED, "10.1.2.3"], field="X-Real-Client")

    def status(source: str, headers: dict | None = None) -> int:
        return request(vip, 9503, "/", host="b.example.com", source_ip=source, headers=headers).status

    by_peer = status(BLOCKED)
    by_header = status(ALLOWED, {"X-Real-Client": "10.1.2.3, 127.0.0.9"})
    other_header = status(ALLOWED, {"X-Forwarded-For": "10.1.2.3"})
    clean = status(ALLOWED)
    listed = blocked(client, lb_id)
    block(client, lb_id, "del_customized_field", field="X-Real-Client")
    header_after = status(ALLOWED, {"X-Real-Client": "10.1.2.3"})

    assert (by_peer, by_header, other_header, clean) == (403, 403, 200, 200)
    assert listed["ClientIPField"] == "X-Real-Client"
    assert sorted(e["IP"] for e in listed["BlockedIPList"]) == ["10.1.2.3", BLOCKED]
    assert header_after == 200


def test_modify_block_ip_list_documented_refusals_change_nothing(server):
    client = sdk_client(server.url)
    lb_id, _ = create_clb_with_vip(client)
    block(client, lb_id, "add_blocked", ["10.0.0.1"])
    before = blocked(client, lb_id)
    base = {"LoadBalancerIds": [lb_id], "ClientIPField": "X-Client-Ip"}

    refused(client, "ModifyBlockIPList", {**base, "Type": "block_everyone"}, "InvalidParameterValue", lb_id)
    refused(client, "ModifyBlockIPList", {**base, "Type": "add_blocked", "BlockIPList": ["10.0.0.300"]},
            "InvalidParameterValue", lb_id)
    refused(client, "ModifyBlockIPList", {**base, "Type": "add_blocked"}, "MissingParameter", lb_id)
    refused(client, "ModifyBlockIPList", {**base, "Type": "add_blocked", "BlockIPList": ["10.0.0.2"],
                                          "AddStrategy": "lifo"}, "InvalidParameterValue", lb_id)
    refused(client, "ModifyBlockIPList", {**base, "Type": "add_blocked", "BlockIPList": ["10.0.0.2"],
                                          "ExpireTime": 0}, "InvalidParameterValue.Range", lb_id)
    refused(client, "ModifyBlockIPList", {**base, "Type": "add_customized_field", "ClientIPField": "bad header"},
            "InvalidParameterValue", lb_id)
    refused(client, "ModifyBlockIPList", {**base, "LoadBalancerIds": [lb_id, "lb-nothere"], "Type": "flush_blocked"},
            "InvalidParameter.LBIdNotFound", lb_id)
    refused(client, "DescribeBlockIPList", {"LoadBalancerId": "lb-nothere"}, "InvalidParameter.LBIdNotFound", lb_id)
    refused(client, "DescribeBlockIPTask", {"TaskId": "localjob-unknown"}, "InvalidParameter", lb_id)

    after = blocked(client, lb_id)
    before.pop("RequestId"), after.pop("RequestId")
    assert after == before
