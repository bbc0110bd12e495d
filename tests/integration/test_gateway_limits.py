"""What one call may cost, and that one tenant cannot stall another or the data plane.

Arrays over their documented maximum, bodies over the size and value caps, and JSON nested
deeper than the interpreter decodes are refused with their documented codes before any
handler work, through the official SDK where a client can send them. The rate limit holds in
any one-second window. The isolation test runs the server as its own process, the loud tenant
in another (``tenants.LoudTenant``), and measures the quiet tenant's calls and a TCP relay;
its thresholds are loose (a shared two-core machine), the exact figures are the reliability
benchmark's (``benchmarks/reliability.py``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from tencentcloud.clb.v20180317 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from clb_support import create_clb_with_vip, task_status
from conftest import SECRET_ID, SECRET_KEY, sdk_client, unique_vip_pool
from gateway_support import ServeProcess, Tc3Call, api_log_records, clean_env, error_code, sdk_raises
from openclb.api import accounts
from tenants import EchoBackend, LoudTenant, percentile, relay_round_trips, timed_calls


def _target_health_request(lb_count: int, listener_count: int) -> models.DescribeTargetHealthRequest:
    request = models.DescribeTargetHealthRequest()
    request.LoadBalancerIds = [f"lb-{index:08d}" for index in range(lb_count)]
    request.ListenerIds = [f"lbl-{index:08d}" for index in range(listener_count)]
    return request


@pytest.mark.parametrize(("lb_count", "listener_count", "named"), [(31, 1, "LoadBalancerIds"), (1, 101, "ListenerIds")])
def test_describe_target_health_array_over_documented_maximum_raises_length(server, lb_count, listener_count, named):
    client = sdk_client(server.url)

    error = sdk_raises("InvalidParameterValue.Length",
                       lambda: client.DescribeTargetHealth(_target_health_request(lb_count, listener_count)))

    assert f"`{named}`" in error.message


def test_describe_target_health_arrays_at_their_maximums_succeeds(server):
    response = sdk_client(server.url).DescribeTargetHealth(_target_health_request(30, 100))

    assert response.LoadBalancers == []


@pytest.mark.parametrize(("sign_method", "req_method"), [("HmacSHA256", "GET"), ("TC3-HMAC-SHA256", "GET"),
                                                         ("HmacSHA1", "POST")])
def test_describe_load_balancers_flattened_ids_over_maximum_raises_length(server, sign_method, req_method):
    client = sdk_client(server.url, sign_method, req_method)
    ids = [f"lb-{index:08d}" for index in range(21)]

    sdk_raises("InvalidParameterValue.Length", lambda: client.call_json("DescribeLoadBalancers", {"LoadBalancerIds": ids}))


def test_describe_target_health_issue_probe_of_600000_listener_ids_refused_quickly(server):
    client = sdk_client(server.url)
    probe = {"LoadBalancerIds": ["lb-00000000"], "ListenerIds": [f"lbl-{index:08d}" for index in range(600_000)]}

    started = time.monotonic()
    sdk_raises("RequestSizeLimitExceeded", lambda: client.call_json("DescribeTargetHealth", probe))

    assert time.monotonic() - started < 5.0
    assert client.call_json("DescribeQuota", {})["Response"]["QuotaSet"]


def test_describe_target_health_body_under_size_cap_with_too_many_values_raises_size_limit(server):
    client = sdk_client(server.url)
    params = {"LoadBalancerIds": ["lb-00000000"], "ListenerIds": ["l"] * 30_000}

    error = sdk_raises("RequestSizeLimitExceeded", lambda: client.call_json("DescribeTargetHealth", params))

    assert "20000 values" in error.message


def test_describe_load_balancers_v1_form_with_too_many_parameters_raises_size_limit(server):
    body = "&".join(f"P{index}=1" for index in range(6_000))

    response = requests.post(f"{server.url}/", data=body, timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert error_code(response) == "RequestSizeLimitExceeded"


@pytest.mark.parametrize(("depth", "code"), [(2_000, "InvalidRequest"), (100_000, "RequestSizeLimitExceeded")])
def test_describe_load_balancers_json_nested_too_deep_signed_answers_its_code(server, depth, code):
    body = b'{"LoadBalancerIds": ' + b"[" * depth + b"]" * depth + b"}"
    with api_log_records() as records:
        response = Tc3Call("DescribeLoadBalancers", body=body).send(server.url)

    assert error_code(response) == code
    assert not any(record.exc_info for record in records)


@pytest.mark.parametrize("body", [b"[" * 1_000 + b"]" * 1_000, b'{"a": ' * 900 + b"1" + b"}" * 900])
def test_describe_load_balancers_json_nested_too_deep_wrongly_signed_is_refused_before_parsing(server, body):
    with api_log_records() as records:
        response = Tc3Call("DescribeLoadBalancers", body=body, secret_key="not-the-key").send(server.url)

    assert error_code(response) == "AuthFailure.SignatureFailure"
    assert not any(record.exc_info for record in records)


def test_describe_quota_burst_never_passes_more_than_the_limit_in_one_second(server_factory):
    server = server_factory(rate_limit_default=20)
    clients = [sdk_client(server.url) for _ in range(8)]
    started = time.monotonic()

    def burst(client) -> tuple[int, float]:
        passed = 0
        while time.monotonic() - started < 0.7:
            try:
                client.call_json("DescribeQuota", {})
                passed += 1
            except TencentCloudSDKException as error:
                assert error.code == "RequestLimitExceeded"
        return passed, time.monotonic()

    with ThreadPoolExecutor(len(clients)) as pool:
        outcomes = list(pool.map(burst, clients))
    span = max(finished for _, finished in outcomes) - started
    time.sleep(1.05)

    assert span < 1.0, "the whole burst must fit in one second for the count to mean anything"
    assert 15 <= sum(passed for passed, _ in outcomes) <= 20
    assert clients[0].call_json("DescribeQuota", {})["Response"]["QuotaSet"]


def _loud_and_quiet_server(tmp_path):
    data = tmp_path / "data"
    quiet = accounts.add_account(data / "accounts.json", "AKIDquietTenant00000000000000000", "quietKey")
    args = ["--listen", "127.0.0.1:0", "--data-dir", str(data), "--vip-pool", unique_vip_pool(),
            "--metrics-listen", "off", "--log-level", "WARNING"]
    env = clean_env(tmp_path, OPENCLB_SECRET_ID=SECRET_ID, OPENCLB_SECRET_KEY=SECRET_KEY)
    return ServeProcess(args, env, tmp_path / "serve.log").start(), quiet


def test_describe_target_health_loud_tenant_leaves_other_tenant_and_relay_responsive(tmp_path):
    serve, quiet = _loud_and_quiet_server(tmp_path)
    echo = EchoBackend()
    try:
        loud_client = sdk_client(serve.url)
        quiet_client = sdk_client(serve.url, secret_id=quiet.secret_id, secret_key="quietKey")
        loud_lbs = [create_clb_with_vip(loud_client, f"loud-{index}")[0] for index in range(3)]
        lb_id, vip = create_clb_with_vip(quiet_client, "quiet")
        created = quiet_client.call_json("CreateListener", {"LoadBalancerId": lb_id, "Ports": [8310],
                                                            "Protocol": "TCP"})["Response"]
        assert task_status(quiet_client, created["RequestId"]) == 0
        registered = quiet_client.call_json("RegisterTargets", {
            "LoadBalancerId": lb_id, "ListenerId": created["ListenerIds"][0],
            "Targets": [{"EniIp": "127.0.0.1", "Port": echo.port}]})["Response"]
        assert task_status(quiet_client, registered["RequestId"]) == 0

        loud = LoudTenant(serve.url, SECRET_ID, SECRET_KEY, loud_lbs, threads=6, seconds=5.0)
        time.sleep(1.0)
        with ThreadPoolExecutor(1) as relay_thread:
            relay = relay_thread.submit(relay_round_trips, vip, 8310, 3.0)
            quiet_calls = timed_calls(lambda: quiet_client.call_json("DescribeQuota", {}), 3.0, pause=0.06)
            round_trips = relay.result()
        loud_calls = loud.join()
    finally:
        echo.close()
        serve.stop()

    assert loud_calls > 50
    assert percentile(quiet_calls, 50) < 100, sorted(quiet_calls)
    assert max(quiet_calls) < 1000, sorted(quiet_calls)
    assert percentile(round_trips, 99) < 150, sorted(round_trips)[-10:]
