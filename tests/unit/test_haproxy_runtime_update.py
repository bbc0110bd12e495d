"""Which rendered changes the HAProxy engine makes through the runtime API instead of a reload."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from openclb.protocols import ListenerProtocol
from openclb.engine.haproxy.render import RuntimePaths, render
from openclb.engine.haproxy.runtime_update import set_weight_commands, weight_changes
from openclb.engine.spec import ListenerSpec, LoadBalancerState, RuleSpec, TargetSpec

PATHS = RuntimePaths(Path("/x"), "unix@stats.sock")


def _http(*targets: TargetSpec, url: str = "/") -> LoadBalancerState:
    rule = RuleSpec("loc-w", ("w.test",), url, targets)
    return LoadBalancerState("lb-w", "127.1.0.9", (ListenerSpec("lbl-w", ListenerProtocol.HTTP, 80, rules=(rule,)),))


def test_weight_changes_only_weights_changed_commands_for_server_and_twin():
    before = render([_http(TargetSpec("10.0.0.1", 80, 10), TargetSpec("10.0.0.2", 80, 10))], PATHS).text
    after = render([_http(TargetSpec("10.0.0.1", 80, 10), TargetSpec("10.0.0.2", 80, 0))], PATHS).text
    changes = weight_changes(before, after)
    assert changes == [("loc-w", "10.0.0.2:80", 0), ("loc-w", "fallback-10.0.0.2:80", 0)]
    assert set_weight_commands(changes) == ["set weight loc-w/10.0.0.2:80 0", "set weight loc-w/fallback-10.0.0.2:80 0"]


def test_weight_changes_tcp_listener_weight_named_by_listen_section():
    state = LoadBalancerState("lb-t", "127.1.0.9", (ListenerSpec("lbl-t", ListenerProtocol.TCP, 81,
                                                                 targets=(TargetSpec("10.0.0.1", 80, 10),)),))
    heavier = replace(state, listeners=(replace(state.listeners[0], targets=(TargetSpec("10.0.0.1", 80, 50),)),))
    assert weight_changes(render([state], PATHS).text, render([heavier], PATHS).text)[0] == ("lbl-t", "10.0.0.1:80", 50)


def test_weight_changes_structure_changed_none():
    before = render([_http(TargetSpec("10.0.0.1", 80, 10))], PATHS).text
    added = render([_http(TargetSpec("10.0.0.1", 80, 10), TargetSpec("10.0.0.2", 80, 10))], PATHS).text
    moved = render([_http(TargetSpec("10.0.0.1", 80, 10), url="/api")], PATHS).text
    assert weight_changes(before, added) is None
    assert weight_changes(before, moved) is None
    assert weight_changes(before, before) == []
