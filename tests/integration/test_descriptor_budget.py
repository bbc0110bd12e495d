"""The data plane's descriptor budget, end to end: ``openclb serve`` under a low RLIMIT_NOFILE.

The server is a real child process whose limit is lowered before it starts; a TCP listener is
filled with held connections until the budget refuses new ones. The API must keep answering
signed SDK calls on fresh connections, the refusal must be logged once (and its end once),
and connections must be admitted again once some close. Counts and times are bounded.
"""

from __future__ import annotations

import socket
import time

from backends import NamedBackend
from clb_support import create_clb_with_vip, write
from conftest import sdk_client
from gateway_support import serve_on_own_port

OPEN_FILES = 700
PORT = 8642
REACHED = "descriptor budget reached: new data-plane connections are refused until some close"
AVAILABLE = "descriptor budget available again: new data-plane connections are accepted"


def relayed(vip: str) -> socket.socket | None:
    """A connection that the target greeted through the listener, or None if it was refused."""
    sock = socket.create_connection((vip, PORT), timeout=5)
    try:
        if sock.recv(16) == b"t\n":
            return sock
    except ConnectionResetError:
        pass
    sock.close()
    return None


def messages(serve, text: str) -> list[dict]:
    return [line for line in serve.log_lines() if line.get("message") == text]


def test_connect_tcp_listener_past_descriptor_budget_refused_logged_once_and_api_answers(tmp_path):
    serve = serve_on_own_port(tmp_path, open_files=OPEN_FILES).start()
    backend = NamedBackend("t", end=b"\n")
    held: list[socket.socket] = []
    try:
        (budget_line,) = [line for line in serve.log_lines() if line.get("message") == "data-plane descriptor budget"]
        budget = budget_line["descriptor_budget"]
        assert budget_line["open_files_limit"] == OPEN_FILES
        assert 0 < budget < OPEN_FILES - 256
        client = sdk_client(serve.url)
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = write(client, "CreateListener", {
            "LoadBalancerId": lb_id, "Ports": [PORT], "Protocol": "TCP",
            "HealthCheck": {"HealthSwitch": 0}})["ListenerIds"]
        write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                          "Targets": [{"EniIp": "127.0.0.1", "Port": backend.port}]})

        refused = 0
        for _ in range(budget // 2 + 40):
            sock = relayed(vip)
            if sock is None:
                refused += 1
            else:
                held.append(sock)
        assert len(held) == budget // 2
        assert refused == 40

        latencies = []
        for _ in range(5):
            started = time.monotonic()
            fresh = sdk_client(serve.url)
            assert fresh.call_json("DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["Response"]["TotalCount"] == 1
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 1.0, latencies
        assert len(messages(serve, REACHED)) == 1
        assert messages(serve, AVAILABLE) == []

        for sock in held[: len(held) // 4]:
            sock.close()
        del held[: len(held) // 4]
        deadline = time.monotonic() + 5
        while not messages(serve, AVAILABLE) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(messages(serve, AVAILABLE)) == 1
        again = relayed(vip)
        assert again is not None
        held.append(again)
        assert len(messages(serve, REACHED)) == 1
    finally:
        for sock in held:
            sock.close()
        serve.stop()
        backend.close()
