"""The contract between the control plane and a data plane.

The worker hands an engine the full desired state of one CLB; the engine makes it so and
answers, per listener, whether that listener now serves. A listener that cannot serve (its
port is held by another process, no permission for a low port) is reported with an
``EngineError`` carrying a message fit for the API user and one for the operator; the other
listeners of the CLB are not affected by it. Engines never read the store or the API.

Every method is a coroutine: an engine whose data plane lives in another process (HAProxy)
answers ``health`` and ``stats`` over a socket, and nothing an engine does may block the event
loop it shares with the API.

An engine whose data plane runs in processes of its own (HAProxy) may let it outlive
openclb (``DetachableEngine``): a crash or an upgrade restart leaves it serving, and the next
``start`` adopts it instead of starting another. ``close`` still stops it.

Stopping drains. A listener that leaves (``apply`` without it, ``remove``) and every listener
at ``close`` stops accepting at once: its ports are closed when the call returns. Its
established connections then get the engine's drain grace to finish by themselves (an HTTP
connection finishes the request in flight, an idle one is closed at once); what is left after
the grace is closed. ``apply`` and ``remove`` do not wait for that drain; ``close`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from openclb.engine.spec import LoadBalancerState


@dataclass(frozen=True)
class EngineError:
    """Why a listener could not be served: ``user_message`` goes to DescribeTaskStatus."""

    user_message: str
    operator_message: str = ""


@dataclass(frozen=True)
class ApplyResult:
    """Outcome of one apply: listener ids that failed, with why; every other one serves."""

    failed: dict[str, EngineError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class TargetHealth:
    """Live health of one real server of one listener, as DescribeTargetHealth reports it."""

    listener_id: str
    ip: str
    port: int
    healthy: bool
    detail: str  # Alive | Dead | Unknown | Close


LoadBalancerStats = dict[str, dict[str, dict]]
"""``{load_balancer_id: {listener_id: counters}}``; see ``obs.metrics`` for the counters."""


class Engine(Protocol):
    async def start(self) -> None:
        """Prepare to serve (health checker, timers). Called once before any apply."""

    async def apply(self, state: LoadBalancerState) -> ApplyResult:
        """Converge one CLB to ``state``: bind new listeners, update changed, close missing.

        Idempotent. Returns once every listener in ``state`` accepts traffic (or failed) and
        every removed listener's ports are closed; their connections drain in the background.
        """

    async def remove(self, load_balancer_id: str) -> None:
        """Stop serving every listener of one CLB: ports closed on return, connections draining."""

    async def health(self, load_balancer_id: str) -> list[TargetHealth]:
        """Current health of every real server of one CLB."""

    async def stats(self) -> LoadBalancerStats:
        """Live counters of every listener of every CLB, and of each of its real servers."""

    async def close(self) -> None:
        """Stop everything: every port closes at once, connections drain for the grace, then
        whatever is left is closed. After this no port or connection of ours is open."""


@runtime_checkable
class DetachableEngine(Engine, Protocol):
    """An engine whose data plane can outlive this process and be adopted by the next one."""

    async def restored(self) -> None:
        """Every CLB's state has been applied since ``start``: what an adopted data plane
        served that no ``apply`` or ``remove`` claimed meanwhile is no longer desired."""

    async def detach(self) -> None:
        """Let go of the data plane without stopping what outlives this process (an upgrade
        restart); what cannot outlive it closes as at ``close``. The next ``start`` adopts it."""
