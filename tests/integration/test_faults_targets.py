"""TargetUnhealthy: DescribeTargetHealth reports the real server dead and it gets no new connection.

Real backends behind a TCP listener and behind an HTTP rule; the fault is armed through the
SDK's CommonClient, health read through the SDK's DescribeTargetHealth, traffic sent through
the listener on its VIP. Clearing the fault (or ResetState) brings the target back.
"""

from __future__ import annotations

import pytest

from admin_support import admin, admin_client, admin_refused, tcp_listener
from backends import NamedBackend, first_bytes
from clb_support import checked, create_clb_with_vip, create_listener, create_rules, register, task_status
from conftest import sdk_client
from l7_support import request

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


@pytest.fixture
def server(server_factory):
    return server_factory(fault_injection=True)


def health(client, lb_id: str) -> dict[int, tuple[bool, str]]:
    response = checked(client, "DescribeTargetHealth", {"LoadBalancerIds": [lb_id]})
    (rule,) = response["LoadBalancers"][0]["Listeners"][0]["Rules"]
    return {t["Port"]: (t["HealthStatus"], t["HealthStatusDetail"]) for t in rule["Targets"]}


def test_describe_target_health_unhealthy_fault_reports_dead_and_sends_no_new_connection(server):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    sick, well = NamedBackend("sick"), NamedBackend("well")
    try:
        lb_id, vip, listener_id = tcp_listener(client, 9300, [sick, well])
        before = {first_bytes(vip, 9300) for _ in range(8)}
        fault_id = admin(admin_api, "InjectFault", {"Kind": "TargetUnhealthy", "LoadBalancerId": lb_id,
                                                    "ListenerId": listener_id, "Ip": "127.0.0.1",
                                                    "Port": sick.port})["FaultId"]

        sidelined = {first_bytes(vip, 9300) for _ in range(12)}
        reported = health(client, lb_id)
        admin(admin_api, "ClearFaults", {"FaultIds": [fault_id]})
        after = {first_bytes(vip, 9300) for _ in range(8)}

        assert before == after == {b"sick", b"well"}
        assert sidelined == {b"well"}
        assert reported[sick.port] == (False, "Dead")
        assert reported[well.port][0] is True
        assert health(client, lb_id)[sick.port][1] != "Dead"
    finally:
        sick.close()
        well.close()


def test_describe_target_health_unhealthy_rule_target_http_requests_go_to_the_other(server, http_backends):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [9301])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "a.example.com", "Url": "/"}])
    sick, well = http_backends.start("sick-http"), http_backends.start("well-http")
    register(client, lb_id, listener_id, [sick.port, well.port], location_id)
    target = {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Ip": "127.0.0.1", "Port": sick.port}

    admin_refused(admin_api, "InjectFault", {"Kind": "TargetUnhealthy", **target}, "MissingParameter")
    admin(admin_api, "InjectFault", {"Kind": "TargetUnhealthy", "LocationId": location_id, **target})
    names = {request(vip, 9301, "/", host="a.example.com").json()["name"] for _ in range(10)}

    assert names == {"well-http"}
    assert health(client, lb_id)[sick.port] == (False, "Dead")


def test_inject_fault_target_not_registered_invalid_parameter(server):
    client = sdk_client(server.url)
    backend = NamedBackend("only")
    try:
        lb_id, _, listener_id = tcp_listener(client, 9302, [backend])
        admin_refused(admin_client(server.url), "InjectFault", {
            "Kind": "TargetUnhealthy", "LoadBalancerId": lb_id, "ListenerId": listener_id, "Ip": "127.0.0.1",
            "Port": 1}, "InvalidParameter")
        admin_refused(admin_client(server.url), "InjectFault", {
            "Kind": "TargetUnhealthy", "LoadBalancerId": "lb-00000000", "ListenerId": listener_id,
            "Ip": "127.0.0.1", "Port": backend.port}, "InvalidParameter.LBIdNotFound")
    finally:
        backend.close()


def test_reset_state_unhealthy_fault_gone_and_reimported_target_serves(server):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    sick, well = NamedBackend("sick"), NamedBackend("well")
    try:
        lb_id, vip, listener_id = tcp_listener(client, 9303, [sick, well])
        snapshot = admin(admin_api, "ExportState")["State"]
        admin(admin_api, "InjectFault", {"Kind": "TargetUnhealthy", "LoadBalancerId": lb_id,
                                         "ListenerId": listener_id, "Ip": "127.0.0.1", "Port": sick.port})

        admin(admin_api, "ResetState")
        answer = admin(admin_api, "ImportState", {"State": snapshot})
        assert task_status(client, answer["TaskId"]) == 0

        assert admin(admin_api, "DescribeFaults")["Faults"] == []
        assert {first_bytes(vip, 9303) for _ in range(8)} == {b"sick", b"well"}
    finally:
        sick.close()
        well.close()
