"""The admission layer's decisions, without sockets: security-group order, ports, protocols, block
expiry, the client-address header, seeded traffic faults, and the HAProxy rules that say the same
(which ``haproxy -c`` must accept)."""

from __future__ import annotations

import random
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from openclb.engine.embedded.admission import Admission, TrafficFaults
from openclb.engine.haproxy.admission import admission_lines
from openclb.engine.haproxy.adoption import load_states, save_states
from openclb.engine.haproxy.process import find_haproxy
from openclb.engine.haproxy.render import RuntimePaths, render
from openclb.engine.spec import (
    AdmissionRule, AdmissionSpec, BlockedClient, ListenerSpec, LoadBalancerState, TargetSpec, TrafficFaultSpec,
)
from openclb.protocols import ListenerProtocol
from openclb.resources.security_groups.policies import parse_ports

RULES = (
    AdmissionRule(False, "127.0.0.3/32"),
    AdmissionRule(True, "127.0.0.0/8", "TCP", ((80, 80), (9000, 9100))),
    AdmissionRule(True, "::1/128", "UDP"),
)


def test_admission_first_matching_policy_decides_and_none_matching_drops():
    tcp = Admission(AdmissionSpec(rules=RULES), "TCP", l7=False)

    assert tcp.accepts("127.0.0.2", 80) and tcp.accepts("127.0.0.2", 9050)
    assert not tcp.accepts("127.0.0.3", 80)
    assert not tcp.accepts("127.0.0.2", 81)
    assert not tcp.accepts("10.0.0.1", 80)
    assert not tcp.accepts("::1", 80)
    assert tcp.accepts("::ffff:127.0.0.2", 80)


def test_admission_udp_policy_applies_to_udp_listeners_only():
    udp = Admission(AdmissionSpec(rules=RULES), "UDP", l7=False)

    assert udp.accepts("::1", 53)
    assert not udp.accepts("127.0.0.2", 80)


def test_admission_without_security_group_admits_everything_and_is_inactive():
    admission = Admission(AdmissionSpec(), "TCP", l7=False)

    assert not admission.active
    assert admission.accepts("203.0.113.9", 1)


def test_admission_blocked_client_expires_on_time_and_header_names_first_address():
    now = time.time()
    spec = AdmissionSpec(blocked=(BlockedClient("10.1.2.3", now + 60), BlockedClient("10.9.9.9", now - 1),
                                  BlockedClient("2001:db8::1")), client_ip_header="X-Real-Client")
    admission = Admission(spec, "TCP", l7=True)

    assert admission.is_blocked("10.1.2.3") and admission.is_blocked("2001:DB8::1")
    assert not admission.is_blocked("10.9.9.9")
    assert admission.request_refused([(b"x-real-client", b"10.1.2.3, 127.0.0.1")], "127.0.0.2")
    assert not admission.request_refused([(b"x-real-client", b"127.0.0.1, 10.1.2.3")], "127.0.0.2")
    assert not admission.request_refused([(b"x-forwarded-for", b"10.1.2.3")], "127.0.0.2")
    assert admission.request_refused([], "10.1.2.3")


def test_traffic_faults_seeded_fraction_and_count_survive_reconfiguration():
    spec = TrafficFaultSpec("fault-1", resets=True, count=5, probability=0.5, seed=3)
    faults = TrafficFaults("lbl-1")
    faults.configure((spec,))
    first = [faults.resets() for _ in range(4)]
    faults.configure((spec,))
    rest = [faults.resets() for _ in range(20)]
    draws = random.Random(3)
    expected, left = [], 5
    for _ in range(24):
        taken = left > 0 and draws.random() < 0.5
        left -= taken
        expected.append(taken)
        if left == 0:
            break

    assert (first + rest)[:len(expected)] == expected
    assert sum(first + rest) == 5
    assert faults.hits() == {"fault-1": 5}


@pytest.mark.parametrize(("text", "ranges"), [
    ("all", ()), ("80", ((80, 80),)), ("8000-8080", ((8000, 8080),)), ("80,443", ((80, 80), (443, 443))),
])
def test_parse_ports_documented_forms(text, ranges):
    assert parse_ports(text) == ranges


def _listener(admission: AdmissionSpec) -> ListenerSpec:
    return ListenerSpec("lbl-adm00001", ListenerProtocol.TCP, 9000, targets=(TargetSpec("127.0.0.1", 8080),),
                        admission=admission)


def test_haproxy_admission_lines_blocked_first_policies_in_order_final_reject(tmp_path):
    files: dict[Path, str] = {}
    spec = _listener(AdmissionSpec(rules=RULES, blocked=(BlockedClient("10.1.2.3", 1_900_000_000),
                                                          BlockedClient("10.1.2.4"))))

    lines = admission_lines(spec, tmp_path, files)

    assert lines == [
        f"tcp-request connection reject if {{ src -f {tmp_path}/lbl-adm00001-blocked-0.lst }}",
        f"tcp-request connection reject if {{ src -f {tmp_path}/lbl-adm00001-blocked-1.lst }} {{ date lt 1900000000 }}",
        "tcp-request connection reject if { src 127.0.0.3/32 }",
        "tcp-request connection accept if { src 127.0.0.0/8 } { dst_port 80 9000:9100 }",
        "tcp-request connection reject",
    ]
    assert sorted(files.values()) == ["10.1.2.3\n", "10.1.2.4\n"]


def test_haproxy_admission_rendered_configuration_passes_haproxy_check(tmp_path):
    assert find_haproxy(), "HAProxy is needed: scripts/provision-deps test (make test runs it)"
    paths = RuntimePaths(tmp_path, "unix@stats.sock")
    spec = _listener(AdmissionSpec(rules=RULES, blocked=(BlockedClient("10.1.2.3", 1_900_000_000),)))
    rendered = render([LoadBalancerState("lb-adm00001", "127.1.0.9", (spec,))], paths)
    paths.certs_dir.mkdir()
    for path, content in rendered.files.items():
        path.write_text(content)
    config = tmp_path / "haproxy.cfg"
    config.write_text(rendered.text)

    checked = subprocess.run([find_haproxy(), "-c", "-f", str(config)], capture_output=True, text=True, cwd=tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_haproxy_saved_state_round_trips_admission_and_traffic_faults(tmp_path):
    spec = _listener(AdmissionSpec(rules=RULES, blocked=(BlockedClient("10.1.2.3", 5.0),), client_ip_header="X-Ip"))
    faulty = replace(spec, traffic_faults=(TrafficFaultSpec("fault-1", latency=0.1, count=2),))
    state = LoadBalancerState("lb-adm00001", "127.1.0.9", (faulty,))
    save_states(tmp_path / "states.json", {state.load_balancer_id: state})

    assert load_states(tmp_path / "states.json") == {state.load_balancer_id: state}
