"""Which rendered changes the HAProxy engine makes through the runtime API instead of a reload."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from openclb.protocols import ListenerProtocol
from openclb.engine.haproxy.render import RuntimePaths, render
from openclb.engine.haproxy.runtime_update import ADDED, RuntimeCommand, plan
from openclb.engine.spec import HealthCheckSpec, ListenerSpec, LoadBalancerState, RuleSpec, TargetSpec

PATHS = RuntimePaths(Path("/x"), "unix@stats.sock")


def _http(*targets: TargetSpec, url: str = "/", sticky: int = 0) -> str:
    rule = RuleSpec("loc-w", ("w.test",), url, targets, session_expire_time=sticky)
    state = LoadBalancerState("lb-w", "127.1.0.9", (ListenerSpec("lbl-w", ListenerProtocol.HTTP, 80, rules=(rule,)),))
    return render([state], PATHS).text


def _tcp(*targets: TargetSpec) -> str:
    spec = ListenerSpec("lbl-t", ListenerProtocol.TCP, 81, targets=targets, health_check=HealthCheckSpec(enabled=False))
    return render([LoadBalancerState("lb-t", "127.1.0.9", (spec,))], PATHS).text


def _commands(found: list[RuntimeCommand] | None) -> list[str]:
    assert found is not None
    return [c.command for c in found]


def test_plan_weight_changed_set_weight_for_server_and_twin():
    before = _http(TargetSpec("10.0.0.1", 80, 10), TargetSpec("10.0.0.2", 80, 10))
    after = _http(TargetSpec("10.0.0.1", 80, 10), TargetSpec("10.0.0.2", 80, 0))
    assert _commands(plan(before, after)) == [
        "set weight loc-w/10.0.0.2:80 0", "set weight loc-w/fallback-10.0.0.2:80 0"]


def test_plan_target_added_to_checked_rule_added_enabled_and_checked():
    found = plan(_http(TargetSpec("10.0.0.1", 80)), _http(TargetSpec("10.0.0.1", 80), TargetSpec("10.0.0.2", 80)))
    assert _commands(found) == [
        "add server loc-w/10.0.0.2:80 10.0.0.2:80 weight 10 check inter 5s fall 3 rise 3 observe layer4 error-limit 3 "
        "on-error mark-down", "enable server loc-w/10.0.0.2:80", "enable health loc-w/10.0.0.2:80",
        "add server loc-w/fallback-10.0.0.2:80 10.0.0.2:80 weight 10 backup",
        "enable server loc-w/fallback-10.0.0.2:80"]
    assert found[0].expect == ADDED


def test_plan_target_removed_with_reset_section_maint_shutdown_then_delete():
    before, after = _tcp(TargetSpec("10.0.0.1", 80), TargetSpec("10.0.0.2", 80)), _tcp(TargetSpec("10.0.0.1", 80))
    assert _commands(plan(before, after)) == ["set server lbl-t/10.0.0.2:80 state maint", "del server lbl-t/10.0.0.2:80"]
    assert _commands(plan(before, after, {"lbl-t"})) == [
        "set server lbl-t/10.0.0.2:80 state maint", "shutdown sessions server lbl-t/10.0.0.2:80",
        "del server lbl-t/10.0.0.2:80"]


def test_plan_structure_or_cookie_server_changed_none():
    before = _http(TargetSpec("10.0.0.1", 80))
    assert plan(before, _http(TargetSpec("10.0.0.1", 80), url="/api")) is None
    assert plan(_http(TargetSpec("10.0.0.1", 80), sticky=30),
                _http(TargetSpec("10.0.0.1", 80), TargetSpec("10.0.0.2", 80), sticky=30)) is None
    assert plan(before, before) == []
    state = LoadBalancerState("lb-t", "127.1.0.9", (ListenerSpec("lbl-t", ListenerProtocol.TCP, 81,
                                                                 targets=(TargetSpec("10.0.0.1", 80),)),))
    other_port = replace(state, listeners=(replace(state.listeners[0], port=82),))
    assert plan(render([state], PATHS).text, render([other_port], PATHS).text) is None
