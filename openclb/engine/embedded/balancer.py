"""Choosing a real server for a new connection: schedulers, session persistence, rate limits.

Everything here is plain, socket-free and clock-free (callers pass ``now``), so it is tested
without a network or a loop. The invariants a CLB user relies on:

- A target with weight 0 gets no new connection.
- Unhealthy targets get no new connection while any weighted target is healthy; when every
  weighted target is unhealthy they all share the traffic again, because a checker that marks
  everything down is more often wrong than a whole pool is dead (what Tencent CLB does too).
- Weight, target-set and scheduler changes take effect on the next pick. Nothing here touches
  established connections; the listener decides what happens to those.
- A pinned client (session persistence) stays on its target only while that target is still
  eligible; otherwise it is scheduled afresh and re-pinned.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Iterable

from openclb.engine.spec import Scheduler


class TargetState:
    """One real server of one listener at run time: its weight and its counters.

    ``connections`` holds the live connections (or UDP flows) relayed to it, so removing the
    target can reset them; ``active``/``total``/``bytes_*`` are plain ints because they are
    bumped on the hot path. ``bytes_*`` cover closed connections only; live ones carry their
    own counts until they close.
    """

    __slots__ = (
        "ip", "port", "weight", "current_weight", "active", "total",
        "bytes_in", "bytes_out", "connections", "removed",
    )

    def __init__(self, ip: str, port: int, weight: int) -> None:
        self.ip = ip
        self.port = port
        self.weight = weight
        self.current_weight = 0
        self.active = 0
        self.total = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.connections: set = set()
        self.removed = False

    @property
    def key(self) -> tuple[str, int]:
        return (self.ip, self.port)

    def __repr__(self) -> str:
        return f"TargetState({self.ip}:{self.port} w={self.weight} active={self.active})"


def _always_healthy(target: TargetState) -> bool:
    return True


class SessionTable:
    """Client IP → target pins that lapse after ``expire_seconds`` without activity.

    Bounded: once ``max_entries`` clients are pinned, new clients are scheduled normally but
    not pinned until expired entries are pruned.
    """

    def __init__(self, expire_seconds: float, max_entries: int = 100_000) -> None:
        self.expire_seconds = expire_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[TargetState, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, client_ip: str, now: float) -> TargetState | None:
        entry = self._entries.get(client_ip)
        if entry is None or now - entry[1] >= self.expire_seconds:
            return None
        return entry[0]

    def touch(self, client_ip: str, target: TargetState, now: float) -> None:
        """Pin ``client_ip`` to ``target`` as of ``now``."""
        entries = self._entries
        if client_ip in entries or len(entries) < self.max_entries:
            entries[client_ip] = (target, now)

    def refresh(self, client_ip: str, target: TargetState, now: float) -> None:
        """Record activity, but only if the client is still pinned to this very target."""
        entry = self._entries.get(client_ip)
        if entry is not None and entry[0] is target and entry[1] < now:
            self._entries[client_ip] = (target, now)

    def prune(self, now: float) -> None:
        expire = self.expire_seconds
        stale = [ip for ip, (_, seen) in self._entries.items() if now - seen >= expire]
        for ip in stale:
            del self._entries[ip]


class TokenBucket:
    """At most ``rate`` admissions per second on average, bursts up to ``rate``."""

    __slots__ = ("rate", "tokens", "stamp")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate)
        self.stamp = now

    def take(self, now: float) -> bool:
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.rate, self.tokens + elapsed * self.rate)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Balancer:
    """Picks a target for a new connection with one of the CLB schedulers.

    WRR is nginx's smooth weighted round robin: over any window the heavy targets are spread
    out, never sent in a burst. LEAST_CONN compares active connections relative to weight
    (ties: higher weight, then round robin). IP_HASH is weighted rendezvous hashing of the
    client IP, so adding or removing a target only moves the clients that must move.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        is_healthy: Callable[[TargetState], bool] = _always_healthy,
        sessions: SessionTable | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.sessions = sessions
        self.targets: tuple[TargetState, ...] = ()
        self._is_healthy = is_healthy
        self._tie_round = 0

    @property
    def scheduler(self) -> Scheduler:
        return self._scheduler

    @scheduler.setter
    def scheduler(self, scheduler: Scheduler) -> None:
        # The scheduler's function is chosen here, not compared against on every pick.
        self._scheduler = scheduler
        self.schedule = (self._least_conn if scheduler == Scheduler.LEAST_CONN
                         else _rendezvous if scheduler == Scheduler.IP_HASH else _smooth_wrr)

    def set_targets(self, targets: Iterable[TargetState]) -> None:
        self.targets = tuple(targets)

    def eligible(self, exclude: Collection[TargetState] = ()) -> list[TargetState]:
        """Targets that may take a new connection now (see the module invariants)."""
        if exclude:
            weighted = [t for t in self.targets if t.weight > 0 and t not in exclude]
            healthy = [t for t in weighted if self._is_healthy(t)]
            return healthy or weighted
        is_healthy = self._is_healthy
        # One pass in the usual case (some weighted target is healthy); a loop, which costs
        # less than a comprehension's own call for a handful of targets.
        healthy = []
        for target in self.targets:
            if target.weight > 0 and is_healthy(target):
                healthy.append(target)
        return healthy or [t for t in self.targets if t.weight > 0]

    def pick(self, client_ip: str, now: float, exclude: Collection[TargetState] = ()) -> TargetState | None:
        """The target for a new connection from ``client_ip``, or None if none may take it."""
        candidates = self.eligible(exclude)
        if not candidates:
            return None
        sessions = self.sessions
        if sessions is not None:
            pinned = sessions.lookup(client_ip, now)
            if pinned is not None and pinned in candidates:
                sessions.touch(client_ip, pinned, now)
                return pinned
        target = self.schedule(candidates, client_ip)
        if sessions is not None:
            sessions.touch(client_ip, target, now)
        return target

    def _least_conn(self, candidates: list[TargetState], client_ip: str) -> TargetState:
        best = candidates[0]
        ties = [best]
        for target in candidates[1:]:
            # active/weight compared without division: a.active/a.w < b.active/b.w
            mine = target.active * best.weight
            theirs = best.active * target.weight
            if mine < theirs or (mine == theirs and target.weight > best.weight):
                best = target
                ties = [target]
            elif mine == theirs and target.weight == best.weight:
                ties.append(target)
        if len(ties) == 1:
            return best
        self._tie_round += 1
        return ties[self._tie_round % len(ties)]


def _smooth_wrr(candidates: list[TargetState], client_ip: str) -> TargetState:
    total = 0
    best = None
    for target in candidates:
        target.current_weight += target.weight
        total += target.weight
        if best is None or target.current_weight > best.current_weight:
            best = target
    best.current_weight -= total
    return best


def _rendezvous(candidates: list[TargetState], client_ip: str) -> TargetState:
    best = candidates[0]
    best_score = -1.0
    prefix = client_ip.encode() + b"|"
    for target in candidates:
        digest = hashlib.blake2b(prefix + f"{target.ip}:{target.port}".encode(), digest_size=8).digest()
        unit = (int.from_bytes(digest, "big") + 0.5) / 2.0**64
        score = target.weight / -math.log(unit)
        if score > best_score:
            best, best_score = target, score
    return best
