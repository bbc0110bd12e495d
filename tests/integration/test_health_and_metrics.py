"""Health checks configured through the API, seen in DescribeTargetHealth and in traffic;
Prometheus metrics; no descriptor or memory leak over many short connections."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from backends import CannedBackend, NamedBackend, first_bytes, open_fds, rss_bytes
from clb_support import (
    FAST_CHECK, create_clb_with_vip as create_clb, listener_with_targets, target_health, task_status, wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def test_describe_target_health_stopped_backend_turns_dead_then_alive_again(server, client):
    steady, flaky = NamedBackend("steady"), NamedBackend("flaky")
    lb_id, vip, _ = listener_with_targets(client, "TCP", 8201, [
        {"EniIp": "127.0.0.1", "Port": steady.port}, {"EniIp": "127.0.0.1", "Port": flaky.port},
    ], HealthCheck=FAST_CHECK)
    wait_for(lambda: target_health(client, lb_id) == {steady.port: "Alive", flaky.port: "Alive"}, 8)

    flaky_port = flaky.port
    flaky.close()
    limit = FAST_CHECK["IntervalTime"] * FAST_CHECK["UnHealthNum"] + FAST_CHECK["IntervalTime"]
    wait_for(lambda: target_health(client, lb_id)[flaky_port] == "Dead", limit + 1)
    assert {first_bytes(vip, 8201) for _ in range(10)} == {b"steady"}

    back = socket.socket()
    back.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    back.bind(("127.0.0.1", flaky_port))
    back.listen(64)
    try:
        wait_for(lambda: target_health(client, lb_id)[flaky_port] == "Alive", limit + 1)
    finally:
        back.close()
        steady.close()


def test_describe_target_health_tcp_check_half_open_backend_never_accepts_a_check(server, client):
    backend = socket.socket()
    backend.bind(("127.0.0.1", 0))
    backend.listen(64)
    backend.setblocking(False)
    port = backend.getsockname()[1]
    try:
        lb_id, _, _ = listener_with_targets(client, "TCP", 8209, [{"EniIp": "127.0.0.1", "Port": port}],
                                            HealthCheck=FAST_CHECK)
        wait_for(lambda: target_health(client, lb_id) == {port: "Alive"}, 8)
        time.sleep(FAST_CHECK["IntervalTime"])
        with pytest.raises(BlockingIOError):
            backend.accept()
    finally:
        backend.close()


def test_describe_target_health_switch_off_reports_close_and_healthy(server, client):
    backend = NamedBackend("any")
    try:
        lb_id, _, _ = listener_with_targets(client, "TCP", 8202, [{"EniIp": "127.0.0.1", "Port": backend.port}],
                                            HealthCheck={"HealthSwitch": 0})
        response = client.call_json("DescribeTargetHealth", {"LoadBalancerIds": [lb_id]})["Response"]
        (target,) = response["LoadBalancers"][0]["Listeners"][0]["Rules"][0]["Targets"]
        assert target["HealthStatus"] is True and target["HealthStatusDetail"] == "Close"
    finally:
        backend.close()


def test_metrics_after_traffic_counts_connections_and_bytes(server, client):
    backend = NamedBackend("metrics")
    try:
        lb_id, vip, listener_id = listener_with_targets(client, "TCP", 8203, [{"EniIp": "127.0.0.1", "Port": backend.port}])
        for _ in range(5):
            assert first_bytes(vip, 8203) == b"metrics"
        time.sleep(0.2)
        text = urllib.request.urlopen(f"{server.server.metrics_url}/metrics", timeout=5).read().decode()
        total = next(l for l in text.splitlines()
                     if l.startswith("openclb_listener_connections_total") and listener_id in l)
        assert total.endswith(" 5")
        assert f'openclb_target_weight{{load_balancer_id="{lb_id}"' in text
        assert "openclb_listener_bytes_out_total" in text
    finally:
        backend.close()


def test_register_targets_ten_thousand_short_connections_leak_nothing(server, client):
    backend = NamedBackend("leak")
    try:
        _, vip, _ = listener_with_targets(client, "TCP", 8204, [{"EniIp": "127.0.0.1", "Port": backend.port}])
        for _ in range(500):
            first_bytes(vip, 8204)
        time.sleep(0.5)
        fds_before, rss_before = open_fds(), rss_bytes()
        for _ in range(10_000):
            first_bytes(vip, 8204)
        wait_for(lambda: open_fds() <= fds_before + 5, 10)
        assert rss_bytes() - rss_before < 20_000 * 1024
    finally:
        backend.close()


def test_create_listener_clb_busy_with_running_task_gets_resource_in_operating(server, client):
    lb_id, _ = create_clb(client)
    from openclb.store import schema
    from sqlalchemy import update

    store = server.server.store
    with store.engine.begin() as conn:
        conn.execute(update(schema.load_balancers).where(schema.load_balancers.c.id == lb_id)
                     .values(busy_task_id="a-running-task"))
    with pytest.raises(TencentCloudSDKException) as refused:
        client.call_json("CreateListener", {"LoadBalancerId": lb_id, "Ports": [8205], "Protocol": "TCP"})
    assert refused.value.code == "FailedOperation.ResourceInOperating"
    with store.engine.begin() as conn:
        conn.execute(update(schema.load_balancers).where(schema.load_balancers.c.id == lb_id).values(busy_task_id=None))
    response = client.call_json("CreateListener", {"LoadBalancerId": lb_id, "Ports": [8205], "Protocol": "TCP"})
    assert task_status(client, response["Response"]["RequestId"]) == 0
    assert len(client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})["Response"]["Listeners"]) == 1


def test_describe_target_health_http_and_custom_checks_judge_replies(server, client):
    ok = CannedBackend(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    failing = CannedBackend(b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n")
    right = CannedBackend(b"PONG ready")
    wrong = CannedBackend(b"NOPE")
    http_check = {**FAST_CHECK, "CheckType": "HTTP", "HttpCode": 2, "HttpCheckDomain": "health.example.com",
                  "HttpCheckPath": "/healthz", "HttpCheckMethod": "GET", "HttpVersion": "HTTP/1.1"}
    custom_check = {**FAST_CHECK, "CheckType": "CUSTOM", "ContextType": "TEXT", "SendContext": "PING",
                    "RecvContext": "PONG"}
    try:
        http_lb, _, _ = listener_with_targets(client, "TCP", 8206, [
            {"EniIp": "127.0.0.1", "Port": ok.port}, {"EniIp": "127.0.0.1", "Port": failing.port}],
            HealthCheck=http_check)
        custom_lb, _, _ = listener_with_targets(client, "TCP", 8207, [
            {"EniIp": "127.0.0.1", "Port": right.port}, {"EniIp": "127.0.0.1", "Port": wrong.port}],
            HealthCheck=custom_check)
        wait_for(lambda: target_health(client, http_lb) == {ok.port: "Alive", failing.port: "Dead"}, 8)
        wait_for(lambda: target_health(client, custom_lb) == {right.port: "Alive", wrong.port: "Dead"}, 8)
    finally:
        for backend in (ok, failing, right, wrong):
            backend.close()


def test_create_listener_session_expire_time_keeps_client_on_one_target(server, client):
    backends = [NamedBackend(f"b{i}") for i in range(3)]
    try:
        _, vip, _ = listener_with_targets(client, "TCP", 8208, [
            {"EniIp": "127.0.0.1", "Port": b.port} for b in backends], SessionExpireTime=30)
        assert len({first_bytes(vip, 8208) for _ in range(12)}) == 1
    finally:
        for backend in backends:
            backend.close()
