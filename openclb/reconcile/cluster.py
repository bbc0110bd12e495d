"""One node of several on one PostgreSQL store: every node applies every task, one settles it.

``openclb serve --store postgresql://... --node-name NAME`` runs a ``ClusterWorker`` in place of
the single-node ``TaskWorker``. Every node serves the API and the data plane of every CLB. A
write commits its rows and its task once, on whichever node took the call; the database
announces every new or settled task on the store's channel (a trigger, ``store/migrations.py``)
and every node, listening on its own psycopg connection, applies the task's CLBs and writes
its answer (``store/nodes.py``). The task settles once: Status 1 with the refusing node's
message as soon as one node refuses (its changes undone, every node applies the restored
state), Status 0 when every live, ready node has applied it. Any node may settle a task, so a
task never waits for the node that took the call: if that node dies, the others finish it.

Liveness is the heartbeat (every ``interval``, on the database's clock); a node whose last
heartbeat is older than ``timeout`` is no longer waited for. A node that (re)joins, that lost
its listening connection (notifications may have been missed) or whose heartbeats could not
be written for longer than the timeout is not ready: it applies every CLB again, removes the
CLBs the store no longer has, takes up every running task, and only then counts again.
Notifications are the fast path; every waiting task also looks again at least once a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

import psycopg
from psycopg import sql

from openclb.domain.faults import TaskFault
from openclb.domain.models import ProvisioningState, Task, TaskStatus
from openclb.engine.contract import DetachableEngine
from openclb.engine.keepalived import Keepalived, VrrpError
from openclb.reconcile.worker import TaskWorker
from openclb.store import nodes

log = logging.getLogger("openclb.cluster")

LOOK_AGAIN_SECONDS = 1.0
REMEMBERED_TASKS = 10_000


@dataclass(frozen=True)
class NodeConfig:
    name: str
    api_url: str
    # A node whose last heartbeat is older than this is not waited for.
    timeout: float = 5.0

    @property
    def interval(self) -> float:
        return min(1.0, self.timeout / 4)


class ClusterWorker(TaskWorker):
    def __init__(self, *args, node: NodeConfig, vrrp: Keepalived | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.node = node
        self._vrrp = vrrp
        self._holding = False
        self._db_engine = self._store.engine
        self._wakers: dict[str, asyncio.Event] = {}
        self._answered: OrderedDict[str, None] = OrderedDict()
        self._versions: dict[str, int] = {}
        self.applied_version = 0
        self._background: list[asyncio.Task] = []
        self._listening = asyncio.Event()
        self._resyncing: asyncio.Task | None = None
        self._first_start = True
        self._taking_up: set[asyncio.Task] = set()

    async def start(self) -> None:
        await self._db_until_done(nodes.register, self._db_engine, self.node.name, self.node.api_url)
        loop = asyncio.get_running_loop()
        self._background = [loop.create_task(self._listen()), loop.create_task(self._heartbeats()),
                            loop.create_task(self._look_for_tasks())]
        await self._listening.wait()
        await self._resync()
        if self._vrrp is not None:
            await self._start_holding()

    async def announce_api(self, api_url: str) -> None:
        """The API's address once it is bound (a port 0 is known only then)."""
        await self._db_until_done(nodes.set_api_url, self._db_engine, self.node.name, api_url)

    async def close(self) -> None:
        for task in [*self._background, self._resyncing]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [*self._background, self._resyncing] if t is not None),
                             return_exceptions=True)
        await super().close()
        if self._vrrp is not None:
            await self._vrrp.close()
        try:
            await asyncio.wait_for(self._db(nodes.set_ready, self._db_engine, self.node.name, False), 2.0)
        except Exception as exc:  # a stopping node that cannot say so is found out by its heartbeat
            log.warning("could not mark node %s as leaving: %s", self.node.name, type(exc).__name__)

    async def remove_load_balancers(self, lb_ids: list[str]) -> None:
        """ResetState deleted rows without a task: this node removes them, the others apply everything again."""
        await super().remove_load_balancers(lb_ids)
        await self._db_until_done(nodes.ask_resync, self._db_engine, self.node.name)

    async def _resync(self, leave: bool = True) -> None:
        """Not ready → every CLB applied again, gone ones removed, running tasks taken up → ready.

        ``leave=False``: a node that missed nothing (asked to look again) keeps counting meanwhile.
        """
        if leave:
            await self._db_until_done(nodes.set_ready, self._db_engine, self.node.name, False)
        version = await self._db_until_done(nodes.current_version, self._db_engine)
        wanted: set[str] = set()
        for lb in await self._db_until_done(self._store.all_load_balancers):
            if lb.state is ProvisioningState.PENDING_DELETE:
                continue
            wanted.add(lb.id)
            result = await self._engine.apply(await self._desired(lb))
            for listener_id, error in result.failed.items():
                log.warning("listener %s could not be served: %s", listener_id, error.operator_message)
        if self._first_start and isinstance(self._engine, DetachableEngine):
            await self._engine.restored()
        self._first_start = False
        for lb_id in set(await self._engine.stats()) - wanted:
            await self._engine.remove(lb_id)
        for task in await self._db_until_done(self._store.running_tasks):
            self.submit(task)
        self.applied_version = max(self.applied_version, version)
        await self._db_until_done(nodes.set_ready, self._db_engine, self.node.name, True)
        log.info("node ready", extra={"node": self.node.name, "applied_version": self.applied_version})

    def _resync_soon(self, why: str, leave: bool = True) -> None:
        """A full reconcile in the background, after the one under way (which may have read too early)."""
        log.warning("node %s reconciles fully: %s", self.node.name, why)
        previous = self._resyncing

        async def after_previous() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await self._resync(leave)
            except Exception:
                log.exception("node %s: full reconcile failed", self.node.name)

        self._resyncing = asyncio.get_running_loop().create_task(after_previous())

    async def _heartbeats(self) -> None:
        last_written = time.monotonic()
        while True:
            await asyncio.sleep(self.node.interval)
            try:
                await self._db(nodes.heartbeat, self._db_engine, self.node.name, self.applied_version)
            except self._store.unavailable_errors as exc:
                log.warning("heartbeat not written: %s", type(exc).__name__)
                continue
            now = time.monotonic()
            if now - last_written > self.node.timeout:
                self._resync_soon(f"no heartbeat for {now - last_written:.1f}s")
            last_written = now

    async def _look_for_tasks(self) -> None:
        """The fallback of the notifications: every running task not yet taken up, once a second.

        A listening connection can die without a word (a half-open TCP connection): the node
        would still count and never answer. Looking costs one indexed read a second.
        """
        await self._listening.wait()
        while True:
            await asyncio.sleep(LOOK_AGAIN_SECONDS)
            try:
                running = await self._db(self._store.running_tasks)
            except self._store.unavailable_errors:
                continue
            for task in running:
                if task.id not in self._running and task.id not in self._answered:
                    self.submit(task)

    async def _listen(self) -> None:
        """LISTEN on the store's channel for as long as the node runs; reconnect (and resync) on loss."""
        args, params = self._db_engine.dialect.create_connect_args(self._db_engine.url)
        params.pop("context", None)
        # A dead peer is noticed in seconds, not at the kernel's default two hours.
        params.update(keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3)
        pause, lost = 0.05, False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(*args, autocommit=True, **params) as conn:
                    schema = (await (await conn.execute("SELECT current_schema()")).fetchone())[0]
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier("openclb_" + schema)))
                    self._listening.set()
                    pause = 0.05
                    if lost:
                        self._resync_soon("the listening connection was lost")
                    async for notice in conn.notifies():
                        self._on_notice(notice.payload)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                lost = self._listening.is_set() or lost
                log.warning("listening connection lost, retrying in %.2fs: %s", pause, type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _on_notice(self, payload: str) -> None:
        try:
            notice = json.loads(payload)
        except ValueError:
            return
        if "resync" in notice:
            if notice["resync"] != self.node.name:
                self._resync_soon(f"asked by node {notice['resync']}", leave=False)
            return
        task_id = notice.get("answer") or notice.get("task")
        if task_id is None:
            return
        self._wake(task_id)
        if "status" not in notice:
            return
        version = int(notice.get("version", 0))
        if notice["status"] != int(TaskStatus.RUNNING) or task_id in self._answered:
            self.applied_version = max(self.applied_version, version)
        elif task_id not in self._running:
            self._versions[task_id] = version
            taking_up = asyncio.get_running_loop().create_task(self._take_up(task_id))
            self._taking_up.add(taking_up)
            taking_up.add_done_callback(self._taking_up.discard)
        else:
            self._versions[task_id] = version

    async def _take_up(self, task_id: str) -> None:
        task = await self._db_until_done(nodes.task_by_id, self._db_engine, task_id)
        if task is not None and task.status is TaskStatus.RUNNING and task_id not in self._answered:
            self.submit(task)

    def _wake(self, task_id: str) -> None:
        waker = self._wakers.get(task_id)
        if waker is not None:
            waker.set()

    def _remember_answer(self, task_id: str) -> None:
        self._answered[task_id] = None
        while len(self._answered) > REMEMBERED_TASKS:
            self._answered.popitem(last=False)
        self.applied_version = max(self.applied_version, self._versions.pop(task_id, 0))

    async def _carry_out(self, task: Task, fault: TaskFault | None = None) -> None:
        """Apply, answer, then wait until the task is settled here or elsewhere (settling it when due)."""
        waker = self._wakers.setdefault(task.id, asyncio.Event())
        try:
            try:
                message = await self._faulted(task, fault) if fault is not None else await self._reconcile(task)
            except Exception as exc:  # a bug must fail the task, not leave it running forever
                log.exception("task %s crashed", task.id)
                message = f"Internal error while applying the change: {type(exc).__name__}."
            message = message or await self._hold_vips()
            await self._db_until_done(nodes.record_answer, self._db_engine, task.id, self.node.name, message)
            self._remember_answer(task.id)
            status = await self._until_settled(task, waker)
            if status is TaskStatus.FAILED:
                await self._reapply(task)
            await self._hold_vips()
        finally:
            self._wakers.pop(task.id, None)

    async def _start_holding(self) -> None:
        """Once every CLB is applied: this node's VRRP priority (given, or by name order), then the VIPs."""
        if not self._vrrp.settings.priority:
            names = sorted(row.name for row in await self._db_until_done(
                nodes.list_nodes, self._db_engine, self.node.timeout))
            priority = max(1, 250 - 10 * names.index(self.node.name))
            self._vrrp.settings = replace(self._vrrp.settings, priority=priority)
        self._holding = True
        message = await self._hold_vips()
        if message:
            log.error("VIPs not held: %s", message)

    async def _hold_vips(self) -> str | None:
        """keepalived holds every CLB's VIP (with ``--ha vrrp``); the failure message, if any."""
        if self._vrrp is None or not self._holding:
            return None
        try:
            await self._vrrp.hold(await self._db_until_done(self._store.used_vips))
        except VrrpError as exc:
            log.error("VRRP: %s", exc)
            return "The VIP could not be configured for failover on this node."
        return None

    async def _until_settled(self, task: Task, waker: asyncio.Event) -> TaskStatus | None:
        while True:
            waker.clear()
            status = await self._db_until_done(nodes.task_status, self._db_engine, task.id)
            if status is not TaskStatus.RUNNING:
                return status
            answers = await self._db_until_done(nodes.answers, self._db_engine, task.id, self.node.timeout)
            verdict = answers.verdict
            if verdict is not None:
                self._settling.add(task.id)
                try:
                    status, here = await self._db_until_done(
                        nodes.settle_once, self._db_engine, task, verdict or None, self._now())
                finally:
                    self._settling.discard(task.id)
                if here:
                    log.info("task settled", extra={"task_id": task.id, "kind": str(task.kind), "status": int(status)})
                return status
            try:
                await asyncio.wait_for(waker.wait(), LOOK_AGAIN_SECONDS)
            except asyncio.TimeoutError:
                pass
