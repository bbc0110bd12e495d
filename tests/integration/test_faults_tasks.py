"""Task faults as DescribeTaskStatus shows them: Status 1 with the message, or Status 2 for a while.

A ``TaskFailure`` fault fails the task of the next matching call (its changes undone, the engine
never asked); a ``TaskDelay`` fault holds it at Status 2 for ``Seconds`` and the CLB stays busy
meanwhile (another write is ``FailedOperation.ResourceInOperating``), then it succeeds.
"""

from __future__ import annotations

import time

import pytest

from admin_support import admin, admin_client
from backends import NamedBackend, accepts_tcp, first_bytes
from clb_support import checked, create_clb_with_vip, create_listener, refused, task_status
from conftest import sdk_client

pytestmark = pytest.mark.postgres


@pytest.fixture
def server(server_factory):
    return server_factory(fault_injection=True)


def status(client, task_id: str) -> dict:
    return checked(client, "DescribeTaskStatus", {"TaskId": task_id})


def test_create_listener_task_failure_status_1_with_message_and_no_listener(server):
    client = sdk_client(server.url)
    lb_id, vip = create_clb_with_vip(client)
    admin(admin_client(server.url), "InjectFault", {
        "Kind": "TaskFailure", "Action": "CreateListener", "Count": 1, "Message": "Injected: the cluster is full."})

    failed = checked(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [9200]})
    task_status(client, failed["RequestId"])
    final = status(client, failed["RequestId"])
    retried = checked(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [9201]})

    assert (final["Status"], final["Message"]) == (1, "Injected: the cluster is full.")
    assert task_status(client, retried["RequestId"]) == 0
    listeners = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})["Listeners"]
    assert [l["Port"] for l in listeners] == [9201]
    assert not accepts_tcp(vip, 9200) and accepts_tcp(vip, 9201)


def test_register_targets_task_failure_after_hold_seconds_running_then_failed_targets_unchanged(server):
    client = sdk_client(server.url)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [9202], HealthCheck={"HealthSwitch": 0})
    admin(admin_client(server.url), "InjectFault", {"Kind": "TaskFailure", "Action": "RegisterTargets", "Seconds": 1.5})
    backend = NamedBackend("never")
    try:
        started = time.monotonic()
        answer = checked(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                     "Targets": [{"EniIp": "127.0.0.1", "Port": backend.port}]})
        running = status(client, answer["RequestId"])["Status"]
        final = task_status(client, answer["RequestId"])
        elapsed = time.monotonic() - started

        assert (running, final) == (2, 1)
        assert elapsed >= 1.5
        described = checked(client, "DescribeTargets", {"LoadBalancerId": lb_id})["Listeners"][0]["Targets"]
        assert described == [] and backend.accepted == 0
    finally:
        backend.close()


def test_create_listener_task_delay_status_2_for_seconds_clb_busy_then_0(server):
    client = sdk_client(server.url)
    lb_id, vip = create_clb_with_vip(client)
    admin(admin_client(server.url), "InjectFault", {"Kind": "TaskDelay", "Action": "CreateListener", "Seconds": 2,
                                                    "Count": 1})
    backend = NamedBackend("late")
    try:
        started = time.monotonic()
        answer = checked(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [9203]})
        running = status(client, answer["RequestId"])["Status"]
        refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [9204]},
                "FailedOperation.ResourceInOperating")
        final = task_status(client, answer["RequestId"])
        while final == 2 and time.monotonic() - started < 10:
            final = task_status(client, answer["RequestId"])
        elapsed = time.monotonic() - started

        assert (running, final) == (2, 0)
        assert elapsed >= 2.0
        (listener_id,) = answer["ListenerIds"]
        checked(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                            "Targets": [{"EniIp": "127.0.0.1", "Port": backend.port}]})
        assert first_bytes(vip, 9203) == b"late"
    finally:
        backend.close()


def test_describe_faults_task_fault_counts_tasks_of_its_action_only(server):
    client = sdk_client(server.url)
    admin_api = admin_client(server.url)
    fault_id = admin(admin_api, "InjectFault", {"Kind": "TaskFailure", "Action": "DeleteLoadBalancer", "Count": 1})[
        "FaultId"]

    lb_id, _ = create_clb_with_vip(client)
    deleted = checked(client, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]})

    assert task_status(client, deleted["RequestId"]) == 1
    assert checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["TotalCount"] == 1
    (fault,) = admin(admin_api, "DescribeFaults")["Faults"]
    assert (fault["FaultId"], fault["Hits"], fault["Count"]) == (fault_id, 1, 0)
