"""HealthState verdicts and the pure half of the probes: no sockets, no loop."""

from __future__ import annotations

import pytest

from openclb.protocols import ListenerProtocol
from openclb.engine.spec import HealthCheckSpec, TargetSpec
from openclb.engine.embedded.health import HealthChecker, HealthState, Verdict
from openclb.engine.embedded.health_probes import (
    HttpStatusCheck,
    PrefixCheck,
    ProbeKind,
    decode_context,
    http_request,
    http_status_passes,
    icmp_checksum,
    icmp_echo_request,
    parse_http_status,
    parse_icmp_echo_reply,
    probe_spec_for,
    reply_check_for,
)


def alive_state(healthy: int = 3, unhealthy: int = 3) -> HealthState:
    state = HealthState(healthy, unhealthy)
    state.record_success()
    return state


def dead_state(healthy: int = 3, unhealthy: int = 3) -> HealthState:
    state = HealthState(healthy, unhealthy)
    state.record_failure()
    return state


def test_health_state_new_is_unknown_serves_but_reported_unhealthy():
    state = HealthState()
    assert state.verdict is Verdict.UNKNOWN
    assert state.serves is True
    assert state.reported_healthy is False


def test_health_state_first_success_alive_without_flip():
    state = HealthState()
    assert state.record_success() is False
    assert state.verdict is Verdict.ALIVE
    assert state.reported_healthy is True


def test_health_state_first_failure_dead_and_flips():
    state = HealthState()
    assert state.record_failure() is True
    assert state.verdict is Verdict.DEAD
    assert state.serves is False


def test_health_state_alive_failures_below_threshold_stays_alive():
    state = alive_state(unhealthy=3)
    assert [state.record_failure(), state.record_failure()] == [False, False]
    assert state.verdict is Verdict.ALIVE
    assert state.record_failure() is True
    assert state.verdict is Verdict.DEAD


def test_health_state_dead_successes_reach_threshold_alive():
    state = dead_state(healthy=2)
    assert state.record_success() is False
    assert state.verdict is Verdict.DEAD
    assert state.record_success() is True
    assert state.verdict is Verdict.ALIVE


def test_health_state_alive_success_resets_failure_count():
    state = alive_state(unhealthy=3)
    state.record_failure()
    state.record_failure()
    state.record_success()
    state.record_failure()
    state.record_failure()
    assert state.verdict is Verdict.ALIVE
    assert state.failures == 2


def test_health_state_dead_failure_resets_success_count():
    state = dead_state(healthy=3)
    state.record_success()
    state.record_success()
    state.record_failure()
    state.record_success()
    state.record_success()
    assert state.verdict is Verdict.DEAD
    state.record_success()
    assert state.verdict is Verdict.ALIVE


def test_health_state_flapping_never_crosses_threshold_keeps_verdict():
    alive, dead = alive_state(2, 2), dead_state(2, 2)
    for _ in range(10):
        alive.record_failure()
        alive.record_success()
        dead.record_success()
        dead.record_failure()
    assert alive.verdict is Verdict.ALIVE
    assert dead.verdict is Verdict.DEAD


def test_health_state_counters_reset_on_verdict_change():
    state = alive_state(healthy=2, unhealthy=2)
    state.record_failure()
    state.record_failure()
    assert (state.verdict, state.passes, state.failures) == (Verdict.DEAD, 0, 0)


def test_health_state_switch_off_close_serves_and_ignores_results():
    state = dead_state()
    assert state.switch_off() is True
    assert (state.verdict, state.serves, state.reported_healthy) == (Verdict.CLOSE, True, True)
    assert state.record_failure() is False
    assert state.verdict is Verdict.CLOSE


def test_health_state_switch_on_after_off_unknown():
    state = alive_state()
    state.switch_off()
    state.switch_on()
    assert state.verdict is Verdict.UNKNOWN


def test_health_state_switch_on_when_alive_keeps_verdict():
    state = alive_state()
    state.switch_on()
    assert state.verdict is Verdict.ALIVE


def test_health_checker_switch_off_reports_close_healthy_without_probes():
    checker = HealthChecker()
    check = HealthCheckSpec(enabled=False)
    checker.set_listener("lbl-1", ListenerProtocol.TCP, (TargetSpec("10.0.0.1", 80),), check)
    [health] = checker.snapshot("lbl-1")
    assert (health.healthy, health.detail) == (True, "Close")
    assert checker.is_healthy("lbl-1", "10.0.0.1", 80) is True
    assert checker.probe_count == 0


def test_health_checker_unknown_listener_serves():
    assert HealthChecker().is_healthy("lbl-none", "10.0.0.1", 80) is True


def test_health_checker_same_target_two_listeners_one_probe():
    checker = HealthChecker()
    target = (TargetSpec("10.0.0.1", 80),)
    checker.set_listener("lbl-1", ListenerProtocol.TCP, target, HealthCheckSpec())
    checker.set_listener("lbl-2", ListenerProtocol.TCP, target, HealthCheckSpec())
    assert checker.probe_count == 1
    checker.remove_listener("lbl-1")
    assert checker.probe_count == 1
    checker.remove_listener("lbl-2")
    assert checker.probe_count == 0


def test_health_checker_set_listener_again_same_probe_kept():
    checker = HealthChecker()
    target = (TargetSpec("10.0.0.1", 80),)
    checker.set_listener("lbl-1", ListenerProtocol.TCP, target, HealthCheckSpec())
    checker.set_listener("lbl-1", ListenerProtocol.TCP, target, HealthCheckSpec(interval=7))
    checker.set_listener("lbl-1", ListenerProtocol.TCP, target, HealthCheckSpec(interval=7))
    assert checker.probe_count == 1
    assert [h.detail for h in checker.snapshot("lbl-1")] == ["Unknown"]


def test_health_checker_deregistered_target_dropped_from_snapshot():
    checker = HealthChecker()
    both = (TargetSpec("10.0.0.1", 80), TargetSpec("10.0.0.2", 80))
    checker.set_listener("lbl-1", ListenerProtocol.TCP, both, HealthCheckSpec())
    checker.set_listener("lbl-1", ListenerProtocol.TCP, both[:1], HealthCheckSpec())
    assert [h.ip for h in checker.snapshot("lbl-1")] == ["10.0.0.1"]
    assert checker.probe_count == 1


def test_probe_spec_udp_default_ping_shared_across_ports():
    check = HealthCheckSpec()
    first = probe_spec_for(ListenerProtocol.UDP, TargetSpec("10.0.0.1", 53), check)
    second = probe_spec_for(ListenerProtocol.UDP, TargetSpec("10.0.0.1", 54), check)
    assert first.kind is ProbeKind.PING
    assert first == second


def test_probe_spec_check_port_overrides_target_port():
    spec = probe_spec_for(ListenerProtocol.TCP, TargetSpec("10.0.0.1", 80), HealthCheckSpec(check_port=8080))
    assert spec.port == 8080


def test_probe_spec_check_port_minus_one_uses_target_port():
    spec = probe_spec_for(ListenerProtocol.TCP, TargetSpec("10.0.0.1", 80), HealthCheckSpec(check_port=-1))
    assert spec.port == 80


@pytest.mark.parametrize(
    ("protocol", "check_type", "kind"),
    [
        (ListenerProtocol.TCP, "TCP", ProbeKind.TCP),
        (ListenerProtocol.TCP_SSL, "HTTP", ProbeKind.HTTP),
        (ListenerProtocol.HTTPS, "HTTPS", ProbeKind.HTTPS),
        (ListenerProtocol.TCP, "CUSTOM", ProbeKind.CUSTOM_TCP),
        (ListenerProtocol.UDP, "CUSTOM", ProbeKind.CUSTOM_UDP),
        (ListenerProtocol.QUIC, "TCP", ProbeKind.TCP),
        (ListenerProtocol.HTTP, "GRPC", ProbeKind.GRPC),
    ],
)
def test_probe_spec_check_type_maps_to_kind(protocol, check_type, kind):
    spec = probe_spec_for(protocol, TargetSpec("10.0.0.1", 80), HealthCheckSpec(check_type=check_type))
    assert spec.kind is kind


def test_probe_spec_custom_hex_decoded():
    check = HealthCheckSpec(check_type="CUSTOM", context_type="HEX", send_context="0A0B", recv_context="FF")
    spec = probe_spec_for(ListenerProtocol.UDP, TargetSpec("10.0.0.1", 53), check)
    assert (spec.payload, spec.expect) == (b"\x0a\x0b", b"\xff")


def test_decode_context_text_ascii():
    assert decode_context("TEXT", "ping") == b"ping"


def test_decode_context_hex_not_hex_taken_as_text():
    assert decode_context("HEX", "zz") == b"zz"


def test_http_request_uses_domain_else_ip():
    check = HealthCheckSpec(http_method="GET", http_path="/health", http_version="HTTP/1.0")
    assert http_request(check, "10.0.0.1") == (
        b"GET /health HTTP/1.0\r\nHost: 10.0.0.1\r\nConnection: close\r\n\r\n"
    )
    named = HealthCheckSpec(http_domain="example.com")
    assert b"Host: example.com\r\n" in http_request(named, "10.0.0.1")


@pytest.mark.parametrize(
    ("status", "mask", "passes"),
    [(200, 2, True), (204, 31, True), (503, 2, False), (503, 16, True), (301, 4, True),
     (404, 7, False), (101, 1, True), (600, 31, False)],
)
def test_http_status_passes_class_bit(status, mask, passes):
    assert http_status_passes(status, mask) is passes


def test_parse_http_status_line_code_or_none():
    assert parse_http_status(b"HTTP/1.1 200 OK\r\n") == 200
    assert parse_http_status(b"HTTP/1.0 404\r\n") == 404
    assert parse_http_status(b"SSH-2.0-OpenSSH\r\n") is None
    assert parse_http_status(b"HTTP/1.1 2000 X\r\n") is None


def test_http_status_check_waits_for_line_then_judges():
    check = HttpStatusCheck(2)
    assert check.feed(b"HTTP/1.1 20") is None
    assert check.feed(b"0 OK\r\n") is True
    assert HttpStatusCheck(2).feed(b"HTTP/1.1 500 Oops\r\n") is False


def test_prefix_check_decides_early_on_mismatch():
    check = PrefixCheck(b"+PONG")
    assert check.feed(b"+P") is None
    assert check.feed(b"ONG\r\nextra") is True
    assert PrefixCheck(b"+PONG").feed(b"-ERR") is False


def test_prefix_check_short_reply_then_close_fails():
    check = PrefixCheck(b"hello")
    check.feed(b"hel")
    assert check.finish() is False


def test_reply_check_custom_tcp_empty_expect_none():
    spec = probe_spec_for(ListenerProtocol.TCP, TargetSpec("10.0.0.1", 80), HealthCheckSpec(check_type="CUSTOM"))
    assert reply_check_for(spec) is None


def test_icmp_echo_request_checksum_verifies_to_zero():
    packet = icmp_echo_request(0x1234, 7)
    assert icmp_checksum(packet) == 0


def test_parse_icmp_echo_reply_with_and_without_ip_header():
    reply = bytearray(icmp_echo_request(0x1234, 7))
    reply[0] = 0
    ip_header = bytes([0x45]) + bytes(19)
    assert parse_icmp_echo_reply(bytes(reply), has_ip_header=False) == (0x1234, 7)
    assert parse_icmp_echo_reply(ip_header + bytes(reply), has_ip_header=True) == (0x1234, 7)
    assert parse_icmp_echo_reply(icmp_echo_request(1, 1), has_ip_header=False) is None
