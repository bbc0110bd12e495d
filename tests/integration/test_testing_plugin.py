"""The pytest plugin openclb ships (``openclb.testing``), run the way a user's suite runs it.

A small suite is written to a temporary directory and run by a separate pytest process that
loads only the plugin (``-p openclb.testing``): two tests in order on ``openclb_session_server``
with a fixture that resets between them. The second test finds no CLB and the first test's
listener port closed. ``openclb_server`` gives each test its own endpoint and key.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(180)

SUITE = '''
import json, socket
from pathlib import Path

import pytest

SEEN = Path(__file__).with_name("seen.json")


@pytest.fixture
def clean(openclb_session_server):
    yield openclb_session_server
    openclb_session_server.reset()


def test_first_creates_a_listener(clean):
    client = clean.admin
    created = client.clb("CreateLoadBalancer", {"LoadBalancerType": "OPEN"})
    lb_id = created["LoadBalancerIds"][0]
    assert client.wait_for_task(created["RequestId"])["Status"] == 0
    listener = client.clb("CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [8500]})
    assert client.wait_for_task(listener["RequestId"])["Status"] == 0
    vip = client.clb("DescribeLoadBalancers", {})["LoadBalancerSet"][0]["LoadBalancerVips"][0]
    socket.create_connection((vip, 8500), timeout=5).close()
    SEEN.write_text(json.dumps([vip, 8500]))


def test_second_finds_nothing_left(clean):
    vip, port = json.loads(SEEN.read_text())
    assert clean.admin.clb("DescribeLoadBalancers", {})["TotalCount"] == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((vip, port), timeout=5)


def test_fresh_servers_have_their_own_endpoint_and_key(openclb_server, openclb_session_server):
    assert openclb_server.endpoint != openclb_session_server.endpoint
    assert openclb_server.secret_id != openclb_session_server.secret_id
    assert openclb_server.admin.call("DescribeFaults")["Faults"] == []
'''


def test_reset_state_between_two_tests_of_plugin_suite_leaves_no_clb_and_no_open_port(tmp_path):
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(SUITE))

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "openclb.testing", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-q", "test_suite.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=150,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
