"""Traffic faults (TrafficLatency, TrafficReset, DatagramDrop): real clients see exactly what was armed.

The faults are armed through the SDK's CommonClient (admin service), the traffic is real: a
TCP client timing its first byte, an HTTP client timing its response, a client seeing
ECONNRESET, UDP datagrams counted against the same seeded draws the fault makes. The HAProxy
engine refuses traffic faults cleanly (UnsupportedOperation), with nothing armed.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time

import pytest

from admin_support import admin, admin_client, admin_refused, tcp_listener
from admission_support import UdpEchoBackend, tcp_first_byte_seconds, tcp_outcome
from backends import NamedBackend
from clb_support import create_clb_with_vip, create_listener, create_rules, register
from conftest import SECRET_ID, SECRET_KEY, sdk_client
from gateway_support import OPENCLB, clean_env, serve_on_own_port
from l7_support import request

LATENCY = 0.3

@pytest.fixture
def server(server_factory):
    return server_factory(fault_injection=True)


def faults(admin_api) -> list[dict]:
    return admin(admin_api, "DescribeFaults")["Faults"]


def test_inject_fault_traffic_latency_tcp_count_delays_exactly_that_many_connections(server):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    backend = NamedBackend("slow")
    try:
        lb_id, vip, listener_id = tcp_listener(client, 9400, [backend])
        fast_before = tcp_first_byte_seconds(vip, 9400)
        fault_id = admin(admin_api, "InjectFault", {"Kind": "TrafficLatency", "LoadBalancerId": lb_id,
                                                    "ListenerId": listener_id, "Seconds": LATENCY,
                                                    "Count": 2})["FaultId"]
        delayed = [tcp_first_byte_seconds(vip, 9400) for _ in range(2)]
        fast_after = tcp_first_byte_seconds(vip, 9400)
        (described,) = faults(admin_api)
    finally:
        backend.close()

    assert fast_before[0] == b"slow" and fast_before[1] < LATENCY / 2
    assert all(outcome == b"slow" and LATENCY <= seconds < LATENCY + 0.5 for outcome, seconds in delayed)
    assert fast_after[0] == b"slow" and fast_after[1] < LATENCY / 2
    assert (described["FaultId"], described["Kind"], described["Hits"], described["ListenerId"]) == (
        fault_id, "TrafficLatency", 2, listener_id)


def test_inject_fault_traffic_latency_http_every_request_delayed_until_cleared(server, http_backends):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [9401])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "a.example.com", "Url": "/"}])
    register(client, lb_id, listener_id, [http_backends.start("web").port], location_id)
    fault_id = admin(admin_api, "InjectFault", {"Kind": "TrafficLatency", "LoadBalancerId": lb_id,
                                                "ListenerId": listener_id, "Seconds": LATENCY})["FaultId"]

    timings = []
    for _ in range(3):
        started = time.monotonic()
        assert request(vip, 9401, "/", host="a.example.com").status == 200
        timings.append(time.monotonic() - started)
    admin(admin_api, "ClearFaults", {"FaultIds": [fault_id]})
    started = time.monotonic()
    assert request(vip, 9401, "/", host="a.example.com").status == 200
    cleared = time.monotonic() - started

    assert all(LATENCY <= t < LATENCY + 0.5 for t in timings), timings
    assert cleared < LATENCY / 2
    assert faults(admin_api) == []


def test_inject_fault_traffic_reset_next_three_connections_see_econnreset(server):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    backend = NamedBackend("kept")
    try:
        lb_id, vip, listener_id = tcp_listener(client, 9402, [backend])
        admin(admin_api, "InjectFault", {"Kind": "TrafficReset", "LoadBalancerId": lb_id,
                                         "ListenerId": listener_id, "Count": 3})
        outcomes = [tcp_outcome(vip, 9402) for _ in range(5)]
    finally:
        backend.close()

    assert outcomes == ["reset", "reset", "reset", b"kept", b"kept"]


def test_inject_fault_traffic_reset_seeded_fraction_resets_exactly_the_drawn_connections(server):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    backend = NamedBackend("kept")
    draws = random.Random(7)
    expected = ["reset" if draws.random() < 0.4 else b"kept" for _ in range(30)]
    try:
        lb_id, vip, listener_id = tcp_listener(client, 9403, [backend])
        admin(admin_api, "InjectFault", {"Kind": "TrafficReset", "LoadBalancerId": lb_id, "ListenerId": listener_id,
                                         "Probability": 0.4, "Seed": 7})
        outcomes = [tcp_outcome(vip, 9403) for _ in range(30)]
    finally:
        backend.close()

    assert outcomes == expected
    assert faults(admin_api)[0]["Hits"] == expected.count("reset")


def test_inject_fault_datagram_drop_seeded_fraction_drops_exactly_the_drawn_datagrams(server):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    backend = UdpEchoBackend("echo")
    sent = 200
    draws = random.Random(11)
    kept = [i for i in range(sent) if not draws.random() < 0.3]
    try:
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = create_listener(client, lb_id, "UDP", [9404], HealthCheck={"HealthSwitch": 0})
        register(client, lb_id, listener_id, [backend.port])
        admin(admin_api, "InjectFault", {"Kind": "DatagramDrop", "LoadBalancerId": lb_id, "ListenerId": listener_id,
                                         "Probability": 0.3, "Seed": 11})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(1.0)
            replies = set()
            for i in range(sent):
                sock.sendto(b"%d" % i, (vip, 9404))
                time.sleep(0.002)
            try:
                while True:
                    replies.add(int(sock.recv(100).split(b":")[1]))
            except TimeoutError:
                pass
    finally:
        backend.close()

    assert sorted(replies) == kept
    assert faults(admin_api)[0]["Hits"] == sent - len(kept)


def test_reset_state_traffic_fault_cleared_and_next_listener_serves(server):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    backend = NamedBackend("again")
    try:
        lb_id, vip, listener_id = tcp_listener(client, 9405, [backend])
        admin(admin_api, "InjectFault", {"Kind": "TrafficReset", "LoadBalancerId": lb_id, "ListenerId": listener_id})
        assert tcp_outcome(vip, 9405) == "reset"
        admin(admin_api, "ResetState")
        assert faults(admin_api) == []
        _, vip, _ = tcp_listener(client, 9405, [backend])
        assert tcp_outcome(vip, 9405) == b"again"
    finally:
        backend.close()


def test_inject_fault_traffic_documented_refusals_arm_nothing(server):
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    lb_id, _ = create_clb_with_vip(client)
    (tcp_id,) = create_listener(client, lb_id, "TCP", [9406], HealthCheck={"HealthSwitch": 0})
    (udp_id,) = create_listener(client, lb_id, "UDP", [9406], HealthCheck={"HealthSwitch": 0})
    on = {"LoadBalancerId": lb_id}

    admin_refused(admin_api, "InjectFault", {"Kind": "DatagramDrop", **on, "ListenerId": tcp_id},
                  "InvalidParameterValue")
    admin_refused(admin_api, "InjectFault", {"Kind": "TrafficReset", **on, "ListenerId": udp_id},
                  "InvalidParameterValue")
    admin_refused(admin_api, "InjectFault", {"Kind": "TrafficLatency", **on, "ListenerId": tcp_id}, "MissingParameter")
    admin_refused(admin_api, "InjectFault", {"Kind": "TrafficReset", **on}, "MissingParameter")
    admin_refused(admin_api, "InjectFault", {"Kind": "TrafficReset", **on, "ListenerId": tcp_id, "Ip": "127.0.0.1"},
                  "InvalidParameterCombination")
    admin_refused(admin_api, "InjectFault", {"Kind": "TrafficReset", **on, "ListenerId": "lbl-nothere"},
                  "InvalidParameter.ListenerIdNotFound")
    admin_refused(admin_api, "InjectFault", {"Kind": "TrafficReset", **on, "ListenerId": tcp_id, "Probability": 1.5},
                  "InvalidParameterValue.Range")

    assert faults(admin_api) == []


@pytest.mark.haproxy
def test_inject_fault_traffic_on_haproxy_engine_unsupported_operation(server_factory):
    running = server_factory(fault_injection=True, engine="haproxy")
    client, admin_api = sdk_client(running.url), admin_client(running.url)
    backend = NamedBackend("proxied")
    try:
        lb_id, vip, listener_id = tcp_listener(client, 9407, [backend])
        message = admin_refused(admin_api, "InjectFault", {"Kind": "TrafficReset", "LoadBalancerId": lb_id,
                                                           "ListenerId": listener_id}, "UnsupportedOperation")
        assert "haproxy" in message
        assert faults(admin_api) == []
        assert tcp_outcome(vip, 9407) == b"proxied"
    finally:
        backend.close()


def test_faults_inject_cli_traffic_reset_met_logged_and_cleared(tmp_path):
    server = serve_on_own_port(tmp_path, "--faults").start()
    backend = NamedBackend("cli")
    env = clean_env(tmp_path, OPENCLB_SECRET_ID=SECRET_ID, OPENCLB_SECRET_KEY=SECRET_KEY)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([OPENCLB, "faults", *args, "--endpoint", server.url], env=env, capture_output=True,
                              text=True, timeout=60)

    try:
        lb_id, vip, listener_id = tcp_listener(sdk_client(server.url), 9408, [backend])
        injected = cli("inject", "--kind", "TrafficReset", "--load-balancer-id", lb_id, "--listener-id", listener_id,
                       "--count", "1")
        outcomes = [tcp_outcome(vip, 9408) for _ in range(2)]
        cleared = cli("clear")
        logged = [line for line in server.log_lines() if line.get("fault_id") == injected.stdout.strip()]
    finally:
        backend.close()
        server.stop()

    assert injected.returncode == 0 and outcomes == ["reset", b"cli"]
    assert cleared.stdout.strip() == "cleared 1 faults"
    messages = [line["message"] for line in logged]
    assert {"fault armed", "fault injected", "traffic fault cleared in the data plane"} <= set(messages), messages
