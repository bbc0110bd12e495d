"""DescribeTargetHealth and /metrics on both engines, read through the official SDK's typed models.

Both read the engine's ``health`` and ``stats``, coroutines of the engine contract (HAProxy
answers them over its runtime API socket, which the event loop never blocks on), while
traffic keeps flowing through the listener.
"""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest
from tencentcloud.clb.v20180317 import models

from backends import NamedBackend
from clb_support import create_clb_with_vip, write
from conftest import sdk_client

FAST_CHECK = {"HealthSwitch": 1, "TimeOut": 2, "IntervalTime": 3, "HealthNum": 2, "UnHealthNum": 2}


def health_details(client, lb_id: str) -> dict[int, str]:
    request = models.DescribeTargetHealthRequest()
    request.LoadBalancerIds = [lb_id]
    (balancer,) = client.DescribeTargetHealth(request).LoadBalancers
    (listener,) = balancer.Listeners
    return {target.Port: target.HealthStatusDetail for rule in listener.Rules for target in rule.Targets}


@pytest.mark.parametrize("engine", ["embedded", "haproxy"])
def test_describe_target_health_with_open_connection_reports_alive_and_dead(server_factory, engine):
    server = server_factory(engine=engine)
    client = sdk_client(server.url)
    alive = NamedBackend("alive")
    dead_port = NamedBackend("gone")
    dead_port.close()
    try:
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = write(client, "CreateListener", {
            "LoadBalancerId": lb_id, "Ports": [8631], "Protocol": "TCP", "HealthCheck": FAST_CHECK})["ListenerIds"]
        write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Targets": [
            {"EniIp": "127.0.0.1", "Port": alive.port}, {"EniIp": "127.0.0.1", "Port": dead_port.port}]})
        with socket.create_connection((vip, 8631), timeout=5) as sock:
            assert sock.recv(5) == b"alive"
            deadline = time.monotonic() + 12
            while health_details(client, lb_id) != {alive.port: "Alive", dead_port.port: "Dead"}:
                assert time.monotonic() < deadline, health_details(client, lb_id)
                time.sleep(0.2)
            sock.sendall(b"echo")
            assert sock.recv(4) == b"echo"
            text = urllib.request.urlopen(f"{server.server.metrics_url}/metrics", timeout=5).read().decode()
        lines = text.splitlines()
        assert any(line.startswith("openclb_listener_active_connections") and listener_id in line
                   and line.endswith(" 1") for line in lines)
        assert any(line.startswith("openclb_target_healthy") and f'target_port="{alive.port}"' in line
                   and line.endswith(" 1") for line in lines)
    finally:
        alive.close()
