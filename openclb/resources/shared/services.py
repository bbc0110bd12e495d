"""What handlers work with: the store (run off the event loop), the task worker, settings,
and the sealer that encrypts uploaded private keys before they reach the store. On a server
started with ``--faults``, also the fault book and the fault-injecting engine wrapper (both
None otherwise).

``start_task`` is the one way a write begins its asynchronous part: the handler's rows and
the task (id = RequestId) commit together; the worker then carries the task out. The API
answers after giving the task a short grace period, so a task that finishes in milliseconds
is already settled when the client sees the answer and a sequential caller never meets
``FailedOperation.ResourceInOperating``; a slower task simply keeps running.

Short reads go through ``read``: on SQLite they run on the event loop itself (see
``Store.inline_reads``), elsewhere on the store's threads like every write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from openclb import errors
from openclb.config import Settings
from openclb.domain.faults import FaultBook
from openclb.domain.models import Task, TaskKind, TaskStatus
from openclb.engine.faults import FaultInjectingEngine
from openclb.resources.certificates.sealing import PrivateKeySealer
from openclb.resources.shared.clock import sortable_now
from openclb.context import RequestContext
from openclb.store.store import Store
from openclb.store.transitions import LoadBalancerBusy, LoadBalancerGone
from openclb.reconcile.worker import TaskWorker

TASK_GRACE_SECONDS = 1.0
INLINE_TURN_SECONDS = 0.002


@dataclass
class Services:
    store: Store
    worker: TaskWorker
    settings: Settings
    executor: Executor
    keys: PrivateKeySealer
    faults: FaultBook | None = None
    fault_engine: FaultInjectingEngine | None = None
    # The CLB actions the handler table serves (``resources.CLB_ACTIONS``): what a fault may name.
    clb_actions: frozenset[str] = frozenset()
    # Held from reading the used VIPs until the new CLB rows are committed: concurrent
    # CreateLoadBalancer calls of this process take turns instead of racing for one address.
    vip_allocation: asyncio.Lock = field(default_factory=asyncio.Lock)
    _turn_started: float = field(default_factory=time.perf_counter, repr=False)

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, partial(fn, *args))
        except self.store.unavailable_errors as exc:
            raise _store_unavailable() from exc

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A short store read: called right here where the store allows it, else like ``db``.

        For a read of a few rows, the trip to the store's thread and back (a future, a
        thread wake-up, a loop wake-up and two GIL hand-offs) costs more than the query.
        """
        if self.store.inline_reads:
            try:
                result = fn(*args)
            except self.store.unavailable_errors as exc:
                raise _store_unavailable() from exc
            await self._take_turns()
            return result
        return await self.db(fn, *args)

    async def _take_turns(self) -> None:
        """Give the loop away once inline reads have held it for ``INLINE_TURN_SECONDS``.

        Inline reads never suspend, so a call making many of them (DescribeTargetHealth over 30
        CLBs) would hold the loop, and every relay and every other account's call, for its whole
        length. Yielding every couple of milliseconds bounds that wait at the cost of a clock
        read per read.
        """
        now = time.perf_counter()
        if now - self._turn_started >= INLINE_TURN_SECONDS:
            await asyncio.sleep(0)
            self._turn_started = time.perf_counter()

    async def start_task(
        self, ctx: RequestContext, kind: TaskKind, lb_ids: Sequence[str], write: Callable[[Task], None]
    ) -> Task:
        """Commit ``write``'s rows with a new running task, then hand the task to the worker."""
        task = await self.commit_task(ctx, kind, lb_ids, write)
        await self.hand_over(task)
        return task

    async def commit_task(
        self, ctx: RequestContext, kind: TaskKind, lb_ids: Sequence[str], write: Callable[[Task], None]
    ) -> Task:
        """Commit ``write``'s rows with a new running task; ``hand_over`` must follow."""
        task = Task(ctx.request_id, ctx.app_id, ctx.region, kind, tuple(lb_ids), TaskStatus.RUNNING, sortable_now())
        try:
            await self.db(write, task)
        except LoadBalancerBusy as exc:
            raise errors.FailedOperationResourceInOperating(
                f"The LoadBalancer {exc.args[0]} is being operated on by another task. Please try again later."
            ) from exc
        except LoadBalancerGone as exc:
            raise errors.InvalidParameterLBIdNotFound(f"LoadBalancer not exist: {exc.args[0]}.") from exc
        return task

    async def hand_over(self, task: Task) -> None:
        """Give a committed task to the worker and wait out the grace period for it to settle."""
        self.worker.submit(task)
        await self.worker.wait(task.id, TASK_GRACE_SECONDS)


def _store_unavailable() -> errors.InternalError:
    """The database cannot be reached (an outage, a restart): the client retries; no traceback is logged."""
    return errors.InternalError("The store is temporarily unavailable. Retry the request.")
