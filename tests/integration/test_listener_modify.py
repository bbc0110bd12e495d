"""ModifyListener, DeleteListener and DeleteLoadBalancerListeners through the SDK: the documented
rules per protocol, refusals with their codes, and what a deletion leaves."""

from __future__ import annotations

import json

import pytest
from tencentcloud.clb.v20180317 import models

from clb_support import checked, create_clb, create_listener, listener, listeners, refused, task_status, upload, write
from conftest import sdk_client

pytestmark = pytest.mark.postgres


# ModifyListener ------------------------------------------------------------------------------


def test_modify_listener_name_health_check_scheduler_merge_and_read_back(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    health = {"TimeOut": 3, "IntervalTime": 10, "HealthNum": 4}
    (listener_id,) = create_listener(client, lb_id, "TCP", [7601], ListenerNames=["before"], HealthCheck=health)
    request = models.ModifyListenerRequest()
    request.from_json_string(json.dumps({
        "LoadBalancerId": lb_id, "ListenerId": listener_id, "ListenerName": "after",
        "HealthCheck": {"UnHealthNum": 6}, "Scheduler": "LEAST_CONN", "SessionExpireTime": 90,
    }))
    assert task_status(client, client.ModifyListener(request).RequestId) == 0
    found = listener(client, lb_id, listener_id)
    assert (found["ListenerName"], found["Scheduler"], found["SessionExpireTime"]) == ("after", "LEAST_CONN", 90)
    hc = found["HealthCheck"]
    assert (hc["TimeOut"], hc["IntervalTime"], hc["HealthNum"], hc["UnHealthNum"]) == (3, 10, 4, 6)
    assert found["Port"] == 7601 and found["Protocol"] == "TCP"

    write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Scheduler": "IP_HASH"})
    assert listener(client, lb_id, listener_id)["Scheduler"] == "IP_HASH"


def test_modify_listener_health_check_sent_back_as_described_accepted(server, client):
    """Terraform reads HealthCheck from DescribeListeners and sends it back on update."""
    lb_id = create_clb(client)
    cert = upload()
    for protocol, port, extra in (("TCP", 7611, {}), ("UDP", 7611, {}), ("TCP_SSL", 7612, {"Certificate": cert}),
                                  ("QUIC", 7612, {})):
        (listener_id,) = create_listener(client, lb_id, protocol, [port], **extra)
        before = listener(client, lb_id, listener_id)
        health = {k: v for k, v in before["HealthCheck"].items() if v is not None}
        write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "HealthCheck": health})
        assert listener(client, lb_id, listener_id)["HealthCheck"] == before["HealthCheck"], protocol


MODIFY_REFUSALS = [
    ("name-81", "TCP", {"ListenerName": "n" * 81}, "InvalidParameterValue.Length"),
    ("name-emoji", "TCP", {"ListenerName": "\U0001F600"}, "InvalidParameterValue"),
    ("merged-timeout-not-below-interval", "TCP", {"HealthCheck": {"TimeOut": 10}}, "InvalidParameterValue"),
    ("health-check-on-http", "HTTP", {"HealthCheck": {"HealthNum": 3}}, "InvalidParameterValue"),
    ("scheduler-on-http", "HTTP", {"Scheduler": "WRR"}, "InvalidParameterValue"),
    ("scheduler-unknown", "TCP", {"Scheduler": "RANDOM"}, "InvalidParameterValue"),
    ("session-expire-29", "TCP", {"SessionExpireTime": 29}, "InvalidParameterValue.Range"),
    ("keepalive-on-tcp", "TCP", {"KeepaliveEnable": 1}, "InvalidParameterValue"),
    ("sni-on-tcp", "TCP", {"SniSwitch": 1}, "InvalidParameterValue"),
    ("idle-on-http", "HTTP", {"IdleConnectTimeout": 100}, "InvalidParameterValue"),
    ("quic-cid-on-tcp", "TCP", {"SessionType": "QUIC_CID"}, "InvalidParameterValue"),
    ("least-conn-under-quic-cid", "UDP", {"Scheduler": "LEAST_CONN"}, "InvalidParameterValue"),
    ("certificate-on-tcp", "TCP", {"Certificate": "cert"}, "InvalidParameterValue"),
    ("reschedule-on-http", "HTTP", {"RescheduleUnhealthy": True}, "InvalidParameterValue"),
]


@pytest.mark.parametrize(
    "protocol, changes, code", [case[1:] for case in MODIFY_REFUSALS], ids=[case[0] for case in MODIFY_REFUSALS]
)
def test_modify_listener_invalid_change_refused_and_listener_unchanged(server, client, protocol, changes, code):
    lb_id = create_clb(client)
    extra = {"HealthCheck": {"TimeOut": 3, "IntervalTime": 10}} if protocol == "TCP" else {}
    if protocol == "UDP":
        extra = {"SessionType": "QUIC_CID"}
    (listener_id,) = create_listener(client, lb_id, protocol, [7701], **extra)
    if changes.get("Certificate") == "cert":
        changes = {"Certificate": upload()}
    refused(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, **changes}, code)


def test_modify_listener_sni_switched_on_later_never_off(server, client):
    lb_id = create_clb(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [7801], Certificate=upload())
    write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "SniSwitch": 0})
    assert listener(client, lb_id, listener_id)["SniSwitch"] == 0
    write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "SniSwitch": 1})
    assert listener(client, lb_id, listener_id)["SniSwitch"] == 1
    refused(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "SniSwitch": 0},
            "InvalidParameterValue")
    refused(client, "ModifyListener",
            {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Certificate": upload()},
            "InvalidParameterValue")


# DeleteListener / DeleteLoadBalancerListeners ----------------------------------------------


def test_delete_listener_removes_only_that_listener_and_frees_its_port(server, client):
    lb_id = create_clb(client)
    first, second = create_listener(client, lb_id, "TCP", [7901, 7902])
    write(client, "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": first})
    assert [l["ListenerId"] for l in listeners(client, lb_id)] == [second]
    assert checked(client, "DescribeListeners", {"LoadBalancerId": lb_id, "ListenerIds": [first]})["Listeners"] == []
    (reused,) = create_listener(client, lb_id, "HTTP", [7901])
    assert listener(client, lb_id, reused)["Protocol"] == "HTTP"
