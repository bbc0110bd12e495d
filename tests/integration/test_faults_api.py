"""InjectFault's API faults as the official SDK meets them: the code, how many calls, how long.

Faults are armed through the SDK's CommonClient (service ``openclb``) on servers started with
fault injection (``--faults``), and observed by the SDK's ClbClient: ``ApiError`` fails exactly
``Count`` calls (or the drawn fraction of them, repeatable with ``Seed``) with the code asked
for and changes nothing; ``ApiLatency`` delays the answer by ``Seconds``. Faults are scoped to
the account that armed them, logged when armed, fired and cleared, and cleared by ResetState.
"""

from __future__ import annotations

import random
import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from admin_support import admin, admin_client, admin_refused
from clb_support import checked, create_clb, create_clb_with_vip
from conftest import sdk_client
from gateway_support import api_log_records

pytestmark = pytest.mark.postgres


@pytest.fixture
def server(server_factory):
    return server_factory(fault_injection=True)


def outcome(call) -> str:
    try:
        call()
        return "Success"
    except TencentCloudSDKException as error:
        return error.code


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "InternalError", "FailedOperation.ResourceInOperating"])
def test_describe_load_balancers_api_error_count_two_fails_exactly_twice_with_code(server, code):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    admin(admin_api, "InjectFault", {"Kind": "ApiError", "Action": "DescribeLoadBalancers", "Code": code, "Count": 2})

    outcomes = [outcome(lambda: client.call_json("DescribeLoadBalancers", {})) for _ in range(4)]

    assert outcomes == [code, code, "Success", "Success"]
    (fault,) = admin(admin_api, "DescribeFaults")["Faults"]
    assert (fault["Hits"], fault["Count"], fault["Code"]) == (2, 0, code)


def test_create_listener_api_error_resource_in_operating_changes_nothing(server):
    client = sdk_client(server.url)
    lb_id = create_clb(client)
    admin(admin_client(server.url), "InjectFault", {
        "Kind": "ApiError", "Action": "CreateListener", "Code": "FailedOperation.ResourceInOperating", "Count": 1,
        "Message": "The LoadBalancer is busy."})
    params = {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [9100]}

    with pytest.raises(TencentCloudSDKException) as caught:
        client.call_json("CreateListener", params)
    listeners_after_fault = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})["Listeners"]
    retried = checked(client, "CreateListener", params)

    assert caught.value.code == "FailedOperation.ResourceInOperating"
    assert caught.value.message == "The LoadBalancer is busy."
    assert listeners_after_fault == []
    assert len(retried["ListenerIds"]) == 1


def test_describe_load_balancers_api_error_probability_with_seed_fails_the_drawn_calls(server):
    client = sdk_client(server.url)
    admin(admin_client(server.url), "InjectFault", {
        "Kind": "ApiError", "Action": "DescribeLoadBalancers", "Code": "InternalError", "Probability": 0.3,
        "Seed": 1234})
    draw = random.Random(1234)
    expected = ["InternalError" if draw.random() < 0.3 else "Success" for _ in range(40)]

    outcomes = [outcome(lambda: client.call_json("DescribeLoadBalancers", {})) for _ in range(40)]

    assert outcomes == expected
    assert 0 < outcomes.count("InternalError") < 40


def test_describe_load_balancers_api_latency_one_call_delayed_by_seconds(server):
    client = sdk_client(server.url)
    admin(admin_client(server.url), "InjectFault", {
        "Kind": "ApiLatency", "Action": "DescribeLoadBalancers", "Seconds": 1.5, "Count": 1})

    timings = []
    for _ in range(2):
        started = time.perf_counter()
        checked(client, "DescribeLoadBalancers", {})
        timings.append(time.perf_counter() - started)

    assert timings[0] >= 1.5
    assert timings[1] < 1.0


def test_inject_fault_without_action_every_clb_action_meets_it(server):
    client = sdk_client(server.url)
    admin_api = admin_client(server.url)
    admin(admin_api, "InjectFault", {"Kind": "ApiError", "Code": "RequestLimitExceeded", "Count": 3})

    outcomes = [outcome(lambda: client.call_json(action, {}))
                for action in ("DescribeLoadBalancers", "DescribeQuota", "DescribeLoadBalancers")]
    admin_still_answers = admin(admin_api, "DescribeFaults")

    assert outcomes == ["RequestLimitExceeded"] * 3
    assert admin_still_answers["Faults"][0]["Hits"] == 3


def test_inject_fault_other_account_calls_not_affected(server_factory, tmp_path):
    from openclb.api import accounts

    data_dir = tmp_path / "faults-two-accounts"
    other = accounts.add_account(data_dir / "accounts.json", "AKIDfaultsOther00000000000000000", "otherKey")
    server = server_factory(fault_injection=True, data_dir=data_dir)
    admin(admin_client(server.url), "InjectFault", {"Kind": "ApiError", "Code": "InternalError"})

    mine = outcome(lambda: sdk_client(server.url).call_json("DescribeQuota", {}))
    theirs = outcome(lambda: sdk_client(server.url, secret_id=other.secret_id,
                                        secret_key="otherKey").call_json("DescribeQuota", {}))

    assert (mine, theirs) == ("InternalError", "Success")
    assert admin(admin_client(server.url, other.secret_id, "otherKey"), "DescribeFaults")["Faults"] == []


def test_inject_fault_server_without_faults_unsupported_operation(server_factory):
    server = server_factory()
    message = admin_refused(admin_client(server.url), "InjectFault", {"Kind": "ApiError", "Code": "InternalError"},
                            "UnsupportedOperation")
    assert "--faults" in message


def test_clear_faults_named_fault_cleared_other_kept_unknown_id_refused(server):
    admin_api = admin_client(server.url)
    first = admin(admin_api, "InjectFault", {"Kind": "ApiLatency", "Seconds": 0.1})["FaultId"]
    second = admin(admin_api, "InjectFault", {"Kind": "ApiError", "Code": "InternalError", "Action": "DescribeQuota"})[
        "FaultId"]

    cleared = admin(admin_api, "ClearFaults", {"FaultIds": [first]})["FaultIds"]
    admin_refused(admin_api, "ClearFaults", {"FaultIds": ["fault-99999999"]}, "ResourceNotFound")

    assert cleared == [first]
    assert [f["FaultId"] for f in admin(admin_api, "DescribeFaults")["Faults"]] == [second]
    assert admin(admin_api, "ClearFaults")["FaultIds"] == [second]


def test_reset_state_faults_of_account_cleared(server):
    admin_api = admin_client(server.url)
    admin(admin_api, "InjectFault", {"Kind": "ApiError", "Code": "InternalError", "Action": "DescribeQuota"})

    admin(admin_api, "ResetState")

    assert admin(admin_api, "DescribeFaults")["Faults"] == []
    assert outcome(lambda: sdk_client(server.url).call_json("DescribeQuota", {})) == "Success"


def test_inject_fault_armed_fired_and_cleared_each_logged(server):
    admin_api = admin_client(server.url)
    with api_log_records("openclb.faults") as records:
        fault_id = admin(admin_api, "InjectFault", {"Kind": "ApiError", "Code": "InternalError", "Count": 1})["FaultId"]
        outcome(lambda: sdk_client(server.url).call_json("DescribeQuota", {}))
        admin(admin_api, "ClearFaults")

    lines = [(r.getMessage(), getattr(r, "fault_id", None) or getattr(r, "fault_ids", None)) for r in records]
    assert lines == [("fault armed", fault_id), ("fault injected", fault_id), ("faults cleared", [fault_id])]
    assert records[1].action == "DescribeQuota" and records[1].code == "InternalError"


@pytest.mark.parametrize("name, params, code", [
    ("unknown-kind", {"Kind": "Meteor"}, "InvalidParameterValue"),
    ("unknown-code", {"Kind": "ApiError", "Code": "Nope.Never"}, "InvalidParameterValue"),
    ("missing-code", {"Kind": "ApiError"}, "MissingParameter"),
    ("code-on-latency", {"Kind": "ApiLatency", "Seconds": 1, "Code": "InternalError"}, "InvalidParameterCombination"),
    ("latency-without-seconds", {"Kind": "ApiLatency"}, "MissingParameter"),
    ("seconds-too-long", {"Kind": "TaskDelay", "Seconds": 601}, "InvalidParameterValue.Range"),
    ("probability-zero", {"Kind": "ApiError", "Code": "InternalError", "Probability": 0},
     "InvalidParameterValue.Range"),
    ("count-zero", {"Kind": "ApiError", "Code": "InternalError", "Count": 0}, "InvalidParameterValue.Range"),
    ("unknown-action", {"Kind": "ApiError", "Code": "InternalError", "Action": "LaunchRocket"},
     "InvalidParameterValue"),
    ("target-without-listener", {"Kind": "TargetUnhealthy", "LoadBalancerId": "lb-12345678", "Ip": "127.0.0.1",
                                 "Port": 80}, "MissingParameter"),
])
def test_inject_fault_invalid_parameters_refused_with_code(server, name, params, code):
    admin_refused(admin_client(server.url), "InjectFault", params, code)
    assert admin(admin_client(server.url), "DescribeFaults")["Faults"] == []


def test_reset_state_all_accounts_refused_without_faults_and_resets_every_account_with(server_factory, tmp_path):
    from openclb.api import accounts

    plain = server_factory()
    admin_refused(admin_client(plain.url), "ResetState", {"AllAccounts": True}, "UnauthorizedOperation")
    data_dir = tmp_path / "reset-all"
    other = accounts.add_account(data_dir / "accounts.json", "AKIDresetOther000000000000000000", "otherKey")
    server = server_factory(fault_injection=True, data_dir=data_dir)
    other_client = sdk_client(server.url, secret_id=other.secret_id, secret_key="otherKey")
    mine, _ = create_clb_with_vip(sdk_client(server.url))
    theirs, _ = create_clb_with_vip(other_client)

    removed = admin(admin_client(server.url), "ResetState", {"AllAccounts": True})["LoadBalancerIds"]

    assert sorted(removed) == sorted([mine, theirs])
    assert checked(other_client, "DescribeLoadBalancers", {})["TotalCount"] == 0
