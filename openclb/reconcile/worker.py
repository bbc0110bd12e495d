"""The worker: claims running tasks, reconciles their CLBs through the engine, settles them.

A task is one committed row with Status 2 plus the before-images of what its write changed
(``store/transitions.py``). The worker builds the full desired state of every CLB the task
touches from the store, hands it to the engine and waits for its answer. If the engine could
not serve a listener whose rows (or ports, rules, targets) this task changed, the task fails
with the engine's user message and its changes are undone; the undone state is applied to
the engine again, so the store and the data plane agree on the last state that worked.
Otherwise the task's pending rows become ACTIVE and it gets Status 0.

A store that cannot be reached (a PostgreSQL outage, a restart of the database) never leaves
a task half-settled: every store step of a task is retried with a growing pause until it
succeeds or the worker stops, and a task still running at stop is resumed by the next start.

At start the worker first applies every CLB's state (rebinding everything after a restart,
clean or kill -9), tells an engine that adopted a data plane which outlived the last process
that it has seen every CLB (``restored``: what no apply claimed goes), and then resumes every
task that was still running: the store is the truth, the engine is rebuilt from it.

On a server started with ``--faults`` the worker asks ``task_faults`` (the ``FaultBook``) about
each task it is given: an injected fault holds the task at Status 2 for a while, and may then
fail it (Status 1, its changes undone) without the engine being asked. ``cancel_account`` and
``remove_load_balancers`` serve ResetState: an account's tasks stop (one already settling in
the store finishes first) and its CLBs leave the data plane.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import Any

from openclb.domain.faults import TaskFault
from openclb.domain.models import Listener, LoadBalancer, ProvisioningState, Task, TaskStatus
from openclb.engine.contract import DetachableEngine, Engine
from openclb.engine.spec import LoadBalancerState
from openclb.reconcile.snapshot import Snapshot, read_snapshot
from openclb.store.store import Store

log = logging.getLogger("openclb.reconcile")

DesiredState = Callable[[Snapshot], LoadBalancerState]
TaskFaults = Callable[[str], TaskFault | None]
STORE_RETRY_FIRST = 0.05
STORE_RETRY_MAX = 2.0


class TaskWorker:
    def __init__(
        self, store: Store, engine: Engine, executor: Executor, now: Callable[[], str], desired_state: DesiredState,
        task_faults: TaskFaults | None = None,
    ) -> None:
        self._store = store
        self._engine = engine
        self._executor = executor
        self._now = now
        self._desired_state = desired_state
        self._task_faults = task_faults
        self._running: dict[str, asyncio.Task] = {}
        self._tasks: dict[str, Task] = {}
        self._settling: set[str] = set()

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))

    async def _db_until_done(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A store step that must happen: retried while the database cannot be reached."""
        pause = STORE_RETRY_FIRST
        while True:
            try:
                return await self._db(fn, *args)
            except self._store.unavailable_errors as exc:
                log.warning("store unavailable, retrying in %.2fs: %s", pause, type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, STORE_RETRY_MAX)

    async def start(self) -> None:
        for lb in await self._db(self._store.all_load_balancers):
            if lb.state is ProvisioningState.PENDING_DELETE:
                continue
            result = await self._engine.apply(await self._desired(lb))
            for listener_id, error in result.failed.items():
                log.warning("listener %s could not be served after start: %s", listener_id, error.operator_message)
        if isinstance(self._engine, DetachableEngine):
            await self._engine.restored()
        for task in await self._db(self._store.running_tasks):
            self.submit(task)

    async def _desired(self, lb: LoadBalancer, listeners: list[Listener] | None = None) -> LoadBalancerState:
        """The full desired state of one CLB, read from the store."""
        return self._desired_state(await self._db_until_done(read_snapshot, self._store, lb, listeners))

    def submit(self, task: Task) -> asyncio.Task:
        """Start carrying out a committed task; the returned asyncio task ends when it is settled."""
        running = self._running.get(task.id)
        if running is None:
            fault = self._task_faults(task.id) if self._task_faults is not None else None
            running = asyncio.get_running_loop().create_task(self._carry_out(task, fault))
            self._running[task.id] = running
            self._tasks[task.id] = task
            running.add_done_callback(lambda _: self._forget(task.id))
        return running

    def _forget(self, task_id: str) -> None:
        self._running.pop(task_id, None)
        self._tasks.pop(task_id, None)

    async def wait(self, task_id: str, timeout: float) -> None:
        """Give a just-submitted task a short moment to finish before the API answers."""
        running = self._running.get(task_id)
        if running is not None:
            await asyncio.wait([running], timeout=timeout)

    async def health(self, lb_id: str) -> list:
        """Live health of one CLB's real servers, straight from the engine."""
        return await self._engine.health(lb_id)

    async def stats(self) -> dict:
        """The data plane's live counters of every CLB (``Engine.stats``), straight from the engine."""
        return await self._engine.stats()

    async def close(self) -> None:
        """Stop carrying out tasks now: each is cancelled where it is and stays running in the
        store, and the next ``start`` resumes it (the engine is rebuilt from the store anyway)."""
        pending = list(self._running.values())
        for running in pending:
            running.cancel()
        if pending:
            await asyncio.wait(pending)

    async def cancel_account(self, app_id: int | None) -> None:
        """Stop every task of the account (of every account with None) and wait until each has.

        A task already settling in the store finishes (its transaction cannot be taken back);
        the others are cancelled where they are.
        """
        chosen = [task_id for task_id, task in self._tasks.items() if app_id is None or task.app_id == app_id]
        pending = [self._running[task_id] for task_id in chosen if task_id in self._running]
        for task_id in chosen:
            if task_id not in self._settling and task_id in self._running:
                self._running[task_id].cancel()
        if pending:
            await asyncio.wait(pending)

    async def remove_load_balancers(self, lb_ids: list[str]) -> None:
        """Take CLBs out of the data plane: every port of theirs is closed on return."""
        await asyncio.gather(*(self._engine.remove(lb_id) for lb_id in lb_ids))

    async def _carry_out(self, task: Task, fault: TaskFault | None = None) -> None:
        try:
            message = await self._faulted(task, fault) if fault is not None else await self._reconcile(task)
        except Exception as exc:  # a bug must fail the task, not leave it running forever
            log.exception("task %s crashed", task.id)
            message = f"Internal error while applying the change: {type(exc).__name__}."
        self._settling.add(task.id)
        try:
            await self._settle(task, message)
        finally:
            self._settling.discard(task.id)

    async def _faulted(self, task: Task, fault: TaskFault) -> str | None:
        """An injected fault: Status 2 for ``fault.hold`` seconds, then its failure or the real work."""
        await asyncio.sleep(fault.hold)
        if fault.fail_message is not None:
            return fault.fail_message
        return await self._reconcile(task)

    async def _settle(self, task: Task, message: str | None) -> None:
        status = await self._db_until_done(self._store.settle_task, task, message, self._now())
        if status is TaskStatus.FAILED:
            await self._reapply(task)
        log.info("task settled", extra={"task_id": task.id, "kind": str(task.kind), "status": int(status)})

    async def _reconcile(self, task: Task) -> str | None:
        """Apply every touched CLB; the failure message of this task's listeners, if any failed."""
        changed = await self._db_until_done(self._store.changed_listener_ids, task.id)
        messages: list[str] = []
        for lb_id in task.lb_ids:
            lb = await self._db_until_done(self._store.get_load_balancer_any, lb_id)
            if lb is None:
                continue
            if lb.state is ProvisioningState.PENDING_DELETE:
                await self._engine.remove(lb_id)
                continue
            result = await self._engine.apply(await self._desired(lb))
            for listener_id, error in result.failed.items():
                if listener_id in changed:
                    messages.append(error.user_message)
                else:
                    log.warning("listener %s is not served: %s", listener_id, error.operator_message)
        return "; ".join(dict.fromkeys(messages)) if messages else None

    async def _reapply(self, task: Task) -> None:
        """After a rollback: the engine serves the restored state of every CLB of the task."""
        for lb_id in task.lb_ids:
            lb = await self._db_until_done(self._store.get_load_balancer_any, lb_id)
            if lb is None:
                await self._engine.remove(lb_id)  # a CLB its failed task had created (ImportState)
            elif lb.state is not ProvisioningState.PENDING_DELETE:
                await self._engine.apply(await self._desired(lb))
