"""The worker: claims running tasks, reconciles their CLBs through the engine, settles them.

A task is one committed row with Status 2. The worker builds the full desired state of every
CLB the task touches from the store, hands it to the engine and waits for its answer. Then,
in one transaction, the task's rows become ACTIVE (or are rolled back, for listeners the
engine could not serve) and the task gets Status 0 or 1 with a message. A rollback is
applied to the engine again, so a batch that failed on one port leaves no port of it bound.

At start the worker first applies every CLB's state (rebinding everything after a restart,
clean or kill -9) and then resumes every task that was still running: the store is the
truth, the engine is rebuilt from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import Any

from openclb.domain.models import Listener, LoadBalancer, ProvisioningState, Task, TaskStatus
from openclb.engine.contract import Engine
from openclb.engine.spec import LoadBalancerState
from openclb.store.store import Store
from openclb.reconcile.snapshot import certificate_ids, load_balancer_state

log = logging.getLogger("openclb.reconcile")


class TaskWorker:
    def __init__(self, store: Store, engine: Engine, executor: Executor, now: Callable[[], str]) -> None:
        self._store = store
        self._engine = engine
        self._executor = executor
        self._now = now
        self._running: dict[str, asyncio.Task] = {}

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))

    async def start(self) -> None:
        for lb in await self._db(self._store.all_load_balancers):
            if lb.state is ProvisioningState.PENDING_DELETE:
                continue
            result = await self._engine.apply(await self._desired(lb))
            for listener_id, error in result.failed.items():
                log.warning("listener %s could not be served after start: %s", listener_id, error.operator_message)
        for task in await self._db(self._store.running_tasks):
            self.submit(task)

    async def _desired(self, lb: LoadBalancer, listeners: list[Listener] | None = None) -> LoadBalancerState:
        """The full desired state of one CLB, read from the store."""
        if listeners is None:
            listeners = await self._db(self._store.listeners_of, lb.id)
        targets = await self._db(self._store.targets_of, lb.id)
        rules = await self._db(self._store.rules_of, lb.id)
        certificates = await self._db(self._store.certificates_by_id, certificate_ids(listeners, rules))
        return load_balancer_state(lb, listeners, targets, rules, certificates)

    def submit(self, task: Task) -> asyncio.Task:
        """Start carrying out a committed task; the returned asyncio task ends when it is settled."""
        running = self._running.get(task.id)
        if running is None:
            running = asyncio.get_running_loop().create_task(self._carry_out(task))
            self._running[task.id] = running
            running.add_done_callback(lambda _: self._running.pop(task.id, None))
        return running

    async def wait(self, task_id: str, timeout: float) -> None:
        """Give a just-submitted task a short moment to finish before the API answers."""
        running = self._running.get(task_id)
        if running is not None:
            await asyncio.wait([running], timeout=timeout)

    async def health(self, lb_id: str) -> list:
        """Live health of one CLB's real servers, straight from the engine."""
        return await self._engine.health(lb_id)

    async def close(self) -> None:
        """Stop carrying out tasks now: each is cancelled where it is and stays running in the
        store, and the next ``start`` resumes it (the engine is rebuilt from the store anyway)."""
        pending = list(self._running.values())
        for running in pending:
            running.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _carry_out(self, task: Task) -> None:
        try:
            failed, message = await self._reconcile(task)
        except Exception as exc:  # a bug must fail the task, not leave it running forever
            log.exception("task %s crashed", task.id)
            failed, message = {}, f"Internal error while applying the change: {type(exc).__name__}."
        await self._db(self._store.finish_task, task, failed, message, self._now())
        if failed:
            await self._reconcile(task)
        status = TaskStatus.FAILED if failed or message else TaskStatus.SUCCEEDED
        log.info("task settled", extra={"task_id": task.id, "kind": str(task.kind), "status": int(status)})

    async def _reconcile(self, task: Task) -> tuple[dict[str, str], str | None]:
        """Apply every touched CLB; returns this task's failed listeners and the message.

        A task's listener changes are atomic: when one listener fails, every listener the
        task touched is reported failed, so the whole batch is rolled back.
        """
        failed: dict[str, str] = {}
        messages: list[str] = []
        for lb_id in task.lb_ids:
            lb = await self._db(self._store.get_load_balancer_any, lb_id)
            if lb is None:
                continue
            if lb.state is ProvisioningState.PENDING_DELETE:
                await self._engine.remove(lb_id)
                continue
            listeners = await self._db(self._store.listeners_of, lb_id)
            result = await self._engine.apply(await self._desired(lb, listeners))
            mine = {l.id for l in listeners if l.pending_task_id == task.id}
            reasons = [err.user_message for lid, err in result.failed.items() if lid in mine]
            if reasons:
                failed.update({lid: reasons[0] for lid in mine})
                messages.extend(reasons)
        return failed, "; ".join(messages) if messages else None
