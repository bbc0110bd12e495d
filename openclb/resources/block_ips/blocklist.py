"""A CLB's block list as its settings keep it: entries ``{"ip", "created_at", "expires_at"}``.

Times are Unix seconds. An entry stops blocking at ``expires_at``: the data plane compares at
each new connection, flow or request, the views leave it out, and the next write drops it.
Adding an address already blocked renews its expiry; the list stays in the order addresses
were first added, so fifo removes the oldest.
"""

from __future__ import annotations

from typing import Any

from openclb.engine.spec import BlockedClient

Entry = dict[str, Any]


def live(entries: list[Entry], now: float) -> list[Entry]:
    return [e for e in entries if e["expires_at"] > now]


def changed(entries: list[Entry], kind: str, ips: list[str], expire: int, now: float, limit: int) -> list[Entry]:
    """The list after one ModifyBlockIPList of ``kind`` (field-only kinds leave it as it is, pruned)."""
    current = live(entries, now)
    if kind == "flush_blocked":
        return []
    if kind == "del_blocked":
        gone = set(ips)
        return [e for e in current if e["ip"] not in gone]
    if kind != "add_blocked":
        return current
    by_ip = {e["ip"]: dict(e) for e in current}
    for ip in ips:
        entry = by_ip.setdefault(ip, {"ip": ip, "created_at": int(now)})
        entry["expires_at"] = int(now) + expire
    ordered = list(by_ip.values())
    return ordered[-limit:]


def engine_view(entries: list[Entry], now: float) -> tuple[BlockedClient, ...]:
    return tuple(BlockedClient(e["ip"], float(e["expires_at"])) for e in live(entries, now))
