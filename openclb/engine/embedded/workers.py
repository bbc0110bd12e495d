"""``--workers N``: the embedded data plane as N processes sharing every listening port.

Python runs one core per process; a node with several cores runs several data-plane workers
(``worker_process.py``), each an embedded engine whose sockets carry SO_REUSEPORT, so the
kernel spreads new connections (and UDP flows, by their addresses) over them. ``WorkerPool``
is the engine the control plane sees (the same contract): an apply goes to every worker and
fails a listener if any worker could not serve it; counters are summed over the workers.

Health checks are done once per node, here, by the one ``HealthChecker``; the targets it finds
down are pushed to every worker (at most ``HEALTH_PUSH_SECONDS`` late), and target health is
answered from it. A worker that dies is started again alone and given every CLB's last state
and the current health: the other workers never stop serving.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from openclb.engine.contract import ApplyResult, EngineError, LoadBalancerStats, TargetHealth
from openclb.engine.embedded import worker_process
from openclb.engine.embedded.health import HealthChecker, unwatch_listener, watch_listener
from openclb.engine.embedded.worker_process import WorkerOptions
from openclb.engine.spec import LoadBalancerState

log = logging.getLogger("openclb.engine.workers")

HEALTH_PUSH_SECONDS = 0.2
WATCH_SECONDS = 0.2
CALL_TIMEOUT_SECONDS = 30.0


# What names a listener, rule or target in a worker's counters, the same in every worker: kept, not summed.
_IDENTITY = frozenset({"protocol", "vip", "port", "end_port", "ip", "weight", "location_id"})


def _identity(item: dict) -> tuple:
    return tuple(item.get(name) for name in ("location_id", "ip", "port"))


def merge_counters(into: dict, counters: dict) -> None:
    """Add one worker's counters of a listener to ``into``: numbers summed; names, ports and
    weights kept; the per-rule and per-target lists merged item by item (by location, address)."""
    for name, value in counters.items():
        if name in _IDENTITY or isinstance(value, bool) or not isinstance(value, (int, float, list)):
            into.setdefault(name, value)
        elif isinstance(value, list):
            items = {_identity(item): item for item in into.setdefault(name, [])}
            for item in value:
                key = _identity(item)
                if key not in items:
                    items[key] = {}
                    into[name].append(items[key])
                merge_counters(items[key], item)
        else:
            into[name] = into.get(name, 0) + value


class _Worker:
    """One worker process and its end of the pipe; one command at a time."""

    def __init__(self, index: int, options: WorkerOptions) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=worker_process.run, args=(child_end, options),
                                       name=f"openclb-data-{index}", daemon=True)
        self.process.start()
        child_end.close()
        self.lock = asyncio.Lock()

    async def call(self, command: str, payload: Any = None) -> Any:
        async with self.lock:
            return await asyncio.get_running_loop().run_in_executor(None, self._round_trip, command, payload)

    def _round_trip(self, command: str, payload: Any) -> Any:
        self.conn.send((command, payload))
        if not self.conn.poll(CALL_TIMEOUT_SECONDS):
            # A worker that does not answer is killed: it is started again like one that crashed.
            self.process.kill()
            raise TimeoutError(f"data-plane worker {self.process.pid} did not answer {command!r}")
        return self.conn.recv()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()


class WorkerPool:
    def __init__(self, workers: int, options: WorkerOptions, health_checker: HealthChecker | None = None) -> None:
        self._count = workers
        self._options = options
        self._checker = health_checker or HealthChecker()
        self._workers: list[_Worker] = []
        self._states: dict[str, LoadBalancerState] = {}
        self._unhealthy: frozenset[tuple[str, str, int]] = frozenset()
        self._background: list[asyncio.Task] = []
        # Applies, removals and a restarted worker's catching up take turns: a worker never
        # gets an older state of a CLB after a newer one.
        self._changing = asyncio.Lock()

    @property
    def pids(self) -> list[int]:
        """The workers' process ids, for tests and diagnostics."""
        return [worker.process.pid for worker in self._workers]

    async def start(self) -> None:
        await self._checker.start()
        self._workers = [_Worker(index, self._options) for index in range(self._count)]
        # Started means serving: a new process takes a second or more to import the engine, and
        # the first task must not wait for that (nor ``serve`` announce a data plane not yet up).
        await self._everywhere("stats")
        loop = asyncio.get_running_loop()
        self._background = [loop.create_task(self._push_health()), loop.create_task(self._restart_dead())]

    async def apply(self, state: LoadBalancerState) -> ApplyResult:
        async with self._changing:
            old = self._states.get(state.load_balancer_id)
            self._states[state.load_balancer_id] = state
            results = await self._everywhere("apply", state)
        failed: dict[str, EngineError] = {}
        for result in results:
            if isinstance(result, ApplyResult):
                for listener_id, error in result.failed.items():
                    failed.setdefault(listener_id, error)
        old_specs = {spec.listener_id: spec for spec in old.listeners} if old else {}
        for spec in state.listeners:
            if spec.listener_id not in failed:
                watch_listener(self._checker, spec, old_specs.get(spec.listener_id))
        kept = {spec.listener_id for spec in state.listeners}
        for listener_id, spec in old_specs.items():
            if listener_id not in kept:
                unwatch_listener(self._checker, spec)
        return ApplyResult(failed=failed)

    async def remove(self, load_balancer_id: str) -> None:
        async with self._changing:
            state = self._states.pop(load_balancer_id, None)
            await self._everywhere("remove", load_balancer_id)
        for spec in state.listeners if state else ():
            unwatch_listener(self._checker, spec)

    async def health(self, load_balancer_id: str) -> list[TargetHealth]:
        state = self._states.get(load_balancer_id)
        if state is None:
            return []
        keys = [key for spec in state.listeners for key in (spec.listener_id, *(r.location_id for r in spec.rules))]
        return [h for key in keys for h in self._checker.snapshot(key)]

    async def stats(self) -> LoadBalancerStats:
        """Every worker's counters, summed per listener."""
        merged: LoadBalancerStats = {}
        for stats in await self._everywhere("stats"):
            if not isinstance(stats, dict):
                continue
            for lb_id, listeners in stats.items():
                into = merged.setdefault(lb_id, {})
                for listener_id, counters in listeners.items():
                    merge_counters(into.setdefault(listener_id, {}), counters)
        return merged

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._everywhere("close")
        for worker in self._workers:
            worker.process.join(5)
            if worker.alive:
                worker.process.kill()
        await self._checker.close()

    async def _everywhere(self, command: str, payload: Any = None) -> list[Any]:
        """One command to every live worker; a worker that dies meanwhile answers its exception."""
        live = [worker for worker in self._workers if worker.alive]
        return await asyncio.gather(*(worker.call(command, payload) for worker in live), return_exceptions=True)

    def _down(self) -> frozenset[tuple[str, str, int]]:
        down = set()
        for state in self._states.values():
            for spec in state.listeners:
                for key, targets in [(spec.listener_id, spec.targets), *((r.location_id, r.targets) for r in spec.rules)]:
                    down.update((key, t.ip, t.port) for t in targets if not self._checker.is_healthy(key, t.ip, t.port))
        return frozenset(down)

    async def _push_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_PUSH_SECONDS)
            down = self._down()
            if down != self._unhealthy:
                self._unhealthy = down
                await self._everywhere("unhealthy", down)

    async def _restart_dead(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            for index, worker in enumerate(self._workers):
                if worker.alive:
                    continue
                log.error("data-plane worker %d (pid %s) died (exit %s): starting it again",
                          index, worker.process.pid, worker.process.exitcode)
                async with self._changing:
                    await self._restart(index)

    async def _restart(self, index: int) -> None:
        fresh = self._workers[index] = _Worker(index, self._options)
        try:
            await fresh.call("unhealthy", self._unhealthy)
            for state in list(self._states.values()):
                result = await fresh.call("apply", state)
                for listener_id, error in result.failed.items():
                    log.warning("listener %s not served by the restarted worker: %s", listener_id,
                                error.operator_message)
        except (OSError, EOFError, TimeoutError) as exc:
            log.error("restarted data-plane worker %d failed: %s", index, exc)
