"""Prometheus text exposition of the data plane's counters, served at ``/metrics``.

Per listener: active and total connections, refused connections, bytes in and out; per real
server: the same plus weight and health (1 healthy, 0 not). Rendering is pure: it takes the
engine's ``stats()`` and health reports and returns the text, so it is tested without sockets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_LISTENER_METRICS = (
    ("openclb_listener_active_connections", "gauge", "active", "Connections open now."),
    ("openclb_listener_connections_total", "counter", "total", "Connections accepted."),
    ("openclb_listener_dropped_connections_total", "counter", "dropped", "Connections refused or with no target."),
    ("openclb_listener_bytes_in_total", "counter", "bytes_in", "Bytes from clients to targets."),
    ("openclb_listener_bytes_out_total", "counter", "bytes_out", "Bytes from targets to clients."),
)
_TARGET_METRICS = (
    ("openclb_target_active_connections", "gauge", "active", "Connections open now."),
    ("openclb_target_connections_total", "counter", "total", "Connections sent to the target."),
    ("openclb_target_bytes_in_total", "counter", "bytes_in", "Bytes from clients to the target."),
    ("openclb_target_bytes_out_total", "counter", "bytes_out", "Bytes from the target to clients."),
    ("openclb_target_weight", "gauge", "weight", "Scheduling weight."),
)


def _labels(values: Mapping[str, Any]) -> str:
    escaped = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in values.items())
    return "{" + ",".join(escaped) + "}"


def render(stats: Mapping[str, Mapping[str, Mapping[str, Any]]], health: Iterable[Any]) -> str:
    """``stats``: {lb_id: {listener_id: counters}}; ``health``: TargetHealth-like records."""
    lines: list[str] = []
    series: dict[str, list[str]] = {name: [] for name, *_ in (*_LISTENER_METRICS, *_TARGET_METRICS)}
    for lb_id, listeners in sorted(stats.items()):
        for listener_id, counters in sorted(listeners.items()):
            base = {"load_balancer_id": lb_id, "listener_id": listener_id,
                    "protocol": counters.get("protocol", ""), "port": counters.get("port", "")}
            for name, _, key, _ in _LISTENER_METRICS:
                series[name].append(f"{name}{_labels(base)} {counters.get(key, 0)}")
            for target in counters.get("targets", []):
                labels = _labels({**base, "target_ip": target["ip"], "target_port": target["port"]})
                for name, _, key, _ in _TARGET_METRICS:
                    series[name].append(f"{name}{labels} {target.get(key, 0)}")
    for name, kind, _, text in (*_LISTENER_METRICS, *_TARGET_METRICS):
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *series[name]]
    lines += ["# HELP openclb_target_healthy Health check verdict (1 healthy).", "# TYPE openclb_target_healthy gauge"]
    for item in health:
        labels = _labels({"listener_id": item.listener_id, "target_ip": item.ip, "target_port": item.port,
                          "detail": item.detail})
        lines.append(f"openclb_target_healthy{labels} {int(item.healthy)}")
    return "\n".join(lines) + "\n"
