"""The HAProxy engine: TCP, TCP_SSL, HTTP and HTTPS listeners served by one HAProxy, the rest
by the embedded engine.

``apply(state)`` splits one CLB's state: listeners ``served_by_haproxy`` (TCP, TCP_SSL, and
HTTP/HTTPS whose every feature is rendered, see ``render_http.layer7_renderable``) go to
HAProxy, every other one (UDP, QUIC, and L7 listeners using what HAProxy is not given) to an
inner ``EmbeddedEngine``; the two results are merged, so the worker sees one engine. For the
HAProxy part, Octavia's cycle:

1. Keep the latest HAProxy part of every CLB in memory; replace this CLB's.
2. Refuse, per listener, what HAProxy cannot be trusted to report: a port range wider than
   allowed, or a port another process holds. A failed bind would abort the whole load, so
   every port not already ours is bound (and released) here first; a listener that fails
   is left out of the configuration with the same EngineError the embedded engine gives.
   Then every new port is pre-bound (``prebind``): openclb listens on it at once, so it
   accepts while HAProxy loads, and hands it to HAProxy once HAProxy's socket listens.
3. Render the configuration of *every* CLB, swap it in atomically (temp file +
   ``os.replace``), save the servers' health to the state file, and start or reload the
   master. There is no separate ``haproxy -c``: the master validates the configuration as
   it loads it, a rejected one leaves the old workers serving (the file on disk is put
   back), and its ALERT lines are the complaint. A load that fails on a bind (a port taken
   between our probe and HAProxy's bind) blames its listener, which is dropped and the load
   retried.
4. Return only when every new port is listening in HAProxy (beside our pre-bound socket,
   as sock_diag reports, or as a bind probe answers) and every removed port is closed (no
   probe connection ever reaches a real server).

DeregisterTargetRst: after the reload that removes a real server, the old workers' connections
to it are closed at once (the embedded engine resets them); otherwise they run until they end.

Draining, as the embedded engine does it: a reload leaves the established connections of
every listener with the old worker, which closes its ports at once and lets them run. Those
of a listener that left (or was rebound to another VIP, protocol or port) are cut
``drain_seconds`` later through the master CLI; those of the listeners that stay run until
they end, as an in-place update leaves them in the embedded engine. ``close`` soft-stops
HAProxy: every port closes at once, connections get ``drain_seconds``, then a hard stop.

HAProxy outlives openclb (``process`` says how and what makes a master ours). ``start``
adopts the master a crashed or upgraded openclb of the same run dir left serving, with the
states it was loaded with (saved after every load, see ``adoption``); the worker then
applies every CLB again, the first apply reloads the adopted master with the full state
(established connections stay with the old worker, as in any reload), later unchanged ones
change nothing, and ``restored`` drops what no apply claimed. ``close`` (a stop, SIGTERM)
stops HAProxy with the drain; ``detach`` (an upgrade restart) leaves it serving.

An unchanged rendering is not reloaded, so applying the same state twice changes nothing; one
that changes only real servers (weights, targets added or removed) is made through the runtime
API without a reload (``runtime_update``); any other change is structural and reloads.
Everything that touches HAProxy runs under one lock (the configuration is global); CLB
states that arrive while a load runs are deployed together by the next one (group commit),
so concurrent changes to many CLBs cost one reload, not one each. Applies of
one CLB are serialised, so its latest state is the one served.
A listener may move between the engines in one apply: the one that lets its port go applies first.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from pathlib import Path

from openclb.engine.contract import ApplyResult, EngineError, LoadBalancerStats, TargetHealth
from openclb.engine.spec import ListenerSpec, LoadBalancerState
from openclb.engine.embedded.engine import EmbeddedEngine
from openclb.engine.haproxy.access_log import HaproxyLogReceiver
from openclb.engine.haproxy import adoption, ports, reports, runtime, runtime_update, transitions
from openclb.engine.haproxy.prebind import PreBinder
from openclb.engine.haproxy.ports import Port, ports_of
from openclb.engine.haproxy.process import CONFIG_NAME, HaproxyFailure, HaproxyProcess
from openclb.engine.haproxy.render import (
    FALLBACK_PREFIX, RenderedConfig, RuntimePaths, render, served_by_haproxy, server_name, target_groups,
)

log = logging.getLogger("openclb.engine.haproxy")

READY_TIMEOUT = 2.0
STATES_FILE = "served-states.json"


class HaproxyEngine:
    """Engine contract over HAProxy; see the module docstring.

    - ``run_dir``: private directory for the configuration, certificates, state file, pid
      file and log (the app passes ``<data dir>/haproxy``).
    - ``embedded``: the engine for listeners HAProxy does not serve (default: a plain one).
    - ``binary``: the HAProxy executable (name on PATH or path).
    - ``max_ports_per_listener``: a wider port range fails with an EngineError.
    - ``ready_timeout``: how long a new port may take to listen after a load.
    - ``hard_stop_after``: seconds old workers may keep draining after a reload (None: until
      their connections end by themselves).
    - ``drain_seconds``: how long the established connections of a listener that left, and
      at ``close`` of every listener, may take to finish (0: closed at once); the embedded
      part has its own.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        embedded: EmbeddedEngine | None = None,
        binary: str = "haproxy",
        max_ports_per_listener: int = 1000,
        ready_timeout: float = READY_TIMEOUT,
        hard_stop_after: int | None = None,
        drain_seconds: float = 0.0,
        threads: int | None = None,
    ) -> None:
        self.run_dir = Path(run_dir).absolute()
        self._threads = threads
        if embedded is None:
            embedded = EmbeddedEngine(max_ports_per_listener=max_ports_per_listener)
        self._inner = embedded
        self._process = HaproxyProcess(binary, self.run_dir, self.run_dir / CONFIG_NAME)
        self._states_file = self.run_dir / STATES_FILE
        self.paths = RuntimePaths(self.run_dir, self._process.stats_socket)
        self._max_ports = max_ports_per_listener
        self._ready_timeout = ready_timeout
        self._hard_stop_after = hard_stop_after
        self._drain_seconds = drain_seconds
        self._cuts: set[asyncio.Task] = set()
        self._states: dict[str, LoadBalancerState] = {}
        self._served: RenderedConfig | None = None
        self._lb_locks: dict[str, asyncio.Lock] = {}
        self._deploy_lock = asyncio.Lock()
        self._queue: list[tuple[LoadBalancerState, asyncio.Future]] = []
        self._closed = False
        self._held: set[Port] = set()
        self._prebind = PreBinder()
        self._unclaimed: set[str] = set()
        self._logs = HaproxyLogReceiver(self._access_log_of)
        self._log_index: tuple[dict | None, dict] = (None, {})

    @property
    def config_path(self) -> Path:
        return self._process.config_path

    @property
    def master_pid(self) -> int | None:
        """The pid of the HAProxy master serving now, if one runs."""
        return self._process.pid

    async def start(self) -> None:
        """Adopt the HAProxy a previous openclb of this run dir left serving, if there is one.

        Its saved states become ours, so the first load (a reload: established connections
        stay with the old worker) renders every CLB it served while the worker applies them
        again one by one; ``restored`` then drops the ones no apply claimed.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._process.executable()
        await self._logs.start()
        self.paths = replace(self.paths, log_address=self._logs.address,
                             log_ring_address=self._logs.ring_address)
        if await self._process.adopt():
            self._states = adoption.load_states(self._states_file) or {}
            self._unclaimed = set(self._states)
            self._held = adoption.possibly_held(self.config_path, self._states)
            log.info("adopted the running HAProxy (master %s) serving %d CLBs", self._process.pid, len(self._states))
        await self._inner.start()

    def _access_log_of(self, listener_id: str):
        """The access log (and protocol) of a listener HAProxy serves, for its log lines; None: not logged.

        Indexed once per deployed set of states (each load replaces ``_states`` with a new dict)."""
        if self._log_index[0] is not self._states:
            book = self._inner.access_logs
            self._log_index = (self._states, {
                spec.listener_id: (book.log_for(spec.access_log), str(spec.protocol))
                for state in self._states.values() for spec in state.listeners if spec.access_log is not None})
        found = self._log_index[1].get(listener_id)
        return found if found is not None and found[0] is not None else None

    async def restored(self) -> None:
        """Every CLB has been applied since start: an adopted CLB no apply claimed is not desired."""
        stale, self._unclaimed = self._unclaimed, set()
        if stale:
            log.info("dropping %d adopted CLBs that are not desired: %s", len(stale), sorted(stale))
            await self._converge(*(LoadBalancerState(lb_id, "") for lb_id in sorted(stale)))

    async def apply(self, state: LoadBalancerState) -> ApplyResult:
        mine = tuple(l for l in state.listeners if served_by_haproxy(l))
        theirs = tuple(l for l in state.listeners if not served_by_haproxy(l))
        async with self._lock_of(state.load_balancer_id):
            self._unclaimed.discard(state.load_balancer_id)
            if transitions.leaving_haproxy(self._states.get(state.load_balancer_id), theirs):
                failed = await self._converge(replace(state, listeners=mine))
                inner = await self._inner.apply(replace(state, listeners=theirs))
                failed.update(inner.failed)
            else:
                inner = await self._inner.apply(replace(state, listeners=theirs))
                failed = dict(inner.failed)
                failed.update(await self._converge(replace(state, listeners=mine)))
        return ApplyResult(failed=failed)

    async def remove(self, load_balancer_id: str) -> None:
        async with self._lock_of(load_balancer_id):
            self._unclaimed.discard(load_balancer_id)
            await self._inner.remove(load_balancer_id)
            await self._converge(LoadBalancerState(load_balancer_id, ""))

    def _lock_of(self, load_balancer_id: str) -> asyncio.Lock:
        """Applies of one CLB run one after another, so the latest state is the one served."""
        return self._lb_locks.setdefault(load_balancer_id, asyncio.Lock())

    def render_config(self, states: list[LoadBalancerState] | None = None) -> str:
        """The configuration text for ``states`` (default: what is being served now)."""
        chosen = list(self._states.values()) if states is None else states
        return render(chosen, self.paths, hard_stop_after=self._hard_stop_after, threads=self._threads).text

    async def _converge(self, *wanted: LoadBalancerState) -> dict[str, EngineError]:
        """Serve each of ``wanted`` as its CLB's HAProxy part; the failed listeners, with why.

        Group commit: the CLB states that arrive while a load runs wait, and the first of
        them to get the lock deploys them all with one check and one reload.
        """
        loop = asyncio.get_running_loop()
        mine = [(state, loop.create_future()) for state in wanted]
        self._queue += mine
        async with self._deploy_lock:
            if not all(future.done() for _, future in mine):
                batch, self._queue = self._queue, []
                try:
                    await self._deploy_batch(batch)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                except BaseException:
                    # Cancelled: the others' owners are queued on the lock; let them deploy.
                    own = {id(future) for _, future in mine}
                    self._queue[:0] = [item for item in batch if id(item[1]) not in own and not item[1].done()]
                    raise
        failed: dict[str, EngineError] = {}
        for _, future in mine:
            failed.update(await future)
        return failed

    async def _deploy_batch(self, batch: list[tuple[LoadBalancerState, asyncio.Future]]) -> None:
        try:
            await self._deploy_batch_prebound(batch)
        finally:
            self._prebind.release(self._prebind.bound() - ports_of(self._states.values()))

    async def _deploy_batch_prebound(self, batch: list[tuple[LoadBalancerState, asyncio.Future]]) -> None:
        """Pre-bind the new ports (see ``prebind``), deploy, hand the ports to HAProxy, settle ``batch``."""
        wanted_by_lb = {wanted.load_balancer_id: wanted for wanted, _ in batch}
        served_ports = ports_of(self._states.values()) | self._held
        failed: dict[str, EngineError] = {}
        accepted: dict[str, list[ListenerSpec]] = {}
        for lb_id, wanted in wanted_by_lb.items():
            accepted[lb_id] = []
            for spec in wanted.listeners:
                error = self._precheck(wanted.vip, spec, served_ports)
                if error is None:
                    accepted[lb_id].append(spec)
                    address = runtime.normalise_address(wanted.vip)
                    self._prebind.bind(wanted.vip, spec, [p for p in spec.ports if (address, p) not in served_ports])
                else:
                    failed[spec.listener_id] = error
        states = dict(self._states)
        while True:
            for lb_id, wanted in wanted_by_lb.items():
                if accepted[lb_id]:
                    states[lb_id] = replace(wanted, listeners=tuple(accepted[lb_id]))
                else:
                    states.pop(lb_id, None)
            try:
                blamed = await self._deploy(states)
            except HaproxyFailure as exc:
                log.error("HAProxy could not apply %s: %s", sorted(wanted_by_lb), exc)
                error = EngineError(transitions.failure_message(str(exc)), str(exc))
                for lb_id, specs in accepted.items():
                    previous = self._states.get(lb_id)
                    failed.update({s.listener_id: error for s in specs
                                   if previous is None or s not in previous.listeners})
                transitions.settle(batch, failed)
                return
            if not blamed:
                break
            failed.update(blamed)
            for lb_id in accepted:
                accepted[lb_id] = [s for s in accepted[lb_id] if s.listener_id not in blamed]
        old_ports = ports_of(self._states.values()) | self._held
        retired = transitions.retired_listeners(self._states, states)
        deregistered = transitions.deregistered_servers(self._states, states)
        self._states, self._held = states, set()
        await asyncio.get_running_loop().run_in_executor(None, adoption.save_states, self._states_file, states)
        if retired:
            await self._cut_later(retired)
        if deregistered:
            await self._reset_deregistered(deregistered)
        new_ports = ports_of(states.values())
        self._prebind.release(self._prebind.bound() - new_ports)
        not_joined = await self._prebind.handover(new_ports - old_ports, self._ready_timeout)
        not_ready = not_joined | await ports.await_ports(
            new_ports - old_ports - not_joined, old_ports - new_ports, self._ready_timeout)
        for lb_id, specs in accepted.items():
            vip = wanted_by_lb[lb_id].vip
            for spec in specs:
                missing = [p for p in spec.ports if (runtime.normalise_address(vip), p) in not_ready]
                if missing:
                    failed[spec.listener_id] = EngineError(
                        f"Port {missing[0]} on {vip} did not start listening",
                        f"listener {spec.listener_id}: HAProxy loaded but {vip}:{missing[0]} is not "
                        f"listening after {self._ready_timeout} s")
        transitions.settle(batch, failed)

    async def _cut_later(self, retired: set[str]) -> None:
        """Cut the connections the old workers hold of ``retired`` once the drain grace is over.

        Only the workers that are old right after this reload can hold connections of the
        retired bindings; a later worker may serve the same listener id on its new binding,
        and its connections are not to be cut.
        """
        workers = await self._process.old_workers()
        if workers:
            cut = asyncio.get_running_loop().create_task(self._cut(workers, retired))
            self._cuts.add(cut)
            cut.add_done_callback(self._cuts.discard)

    async def _reset_deregistered(self, servers: set[tuple[str, str]]) -> None:
        """DeregisterTargetRst: connections the old workers carry to a deregistered real server
        are closed at once (HAProxy closes them; it cannot send a reset)."""
        for worker in await self._process.old_workers():
            try:
                await self._process.shutdown_server_sessions(worker, servers)
            except OSError:
                pass  # that worker has finished draining and exited

    async def _cut(self, workers: tuple[int, ...], retired: set[str]) -> None:
        await asyncio.sleep(self._drain_seconds)
        for worker in workers:
            try:
                await self._process.shutdown_sessions(worker, retired)
            except OSError:
                pass  # that worker has finished draining and exited

    def _precheck(self, vip: str, spec: ListenerSpec, served_ports: set[Port]) -> EngineError | None:
        return ports.precheck(vip, spec, served_ports, self._max_ports)

    async def _deploy(self, states: dict[str, LoadBalancerState]) -> dict[str, EngineError]:
        """Render, swap and load ``states``; returns listeners a failed bind blames.

        Raises HaproxyFailure when HAProxy rejects the configuration or cannot be run; the
        configuration served before stays served then (the master validates what it loads,
        so no ``haproxy -c`` runs first: that exec cost as much as a third of a reload).
        """
        if self._closed:
            raise HaproxyFailure("the HAProxy engine is closed")
        rendered = render(states.values(), self.paths, hard_stop_after=self._hard_stop_after,
                          threads=self._threads)
        running = self._process.running
        if rendered == self._served and (running or not states):
            return {}
        if await self._update_at_runtime(rendered, states):
            return {}
        if not states and not running:
            self._served = rendered
            return {}
        candidate = await asyncio.get_running_loop().run_in_executor(None, self._write_candidate, rendered)
        if self._process.running:
            await self._save_server_state(states)
        os.replace(candidate, self.config_path)
        outcome = await self._process.load()
        if outcome.ok:
            self._served = rendered
            self._prune_files(rendered)
            return {}
        if self._served is not None:
            self.config_path.write_text(self._served.text)  # what still serves stays what the file says
        blamed = {}
        for section, reason in runtime.blamed_listeners(outcome.log).items():
            if any(section == l.listener_id for s in states.values() for l in s.listeners):
                blamed[section] = ports.bind_error(states.values(), section, reason)
        if not blamed:
            raise HaproxyFailure(f"HAProxy failed to load the configuration: {runtime.alerts(outcome.log)}")
        return blamed

    async def _update_at_runtime(self, rendered: RenderedConfig, states: dict[str, LoadBalancerState]) -> bool:
        """Serve ``rendered`` with no reload when only real servers change (``runtime_update``)."""
        served = self._served
        if served is None or not self._process.running or rendered.files != served.files:
            return False
        commands = runtime_update.plan(served.text, rendered.text, {
            spec.listener_id for state in states.values() for spec in state.listeners if spec.deregister_target_rst})
        if not commands:
            return False
        for command in commands:
            try:
                answer = (await self._process.query(command.command)).strip()
            except OSError as exc:
                answer = f"no answer ({exc})"
            if command.expect is not None and answer != command.expect:
                log.warning("HAProxy refused %r (%s): reloading instead", command.command, answer)
                return False
        await asyncio.get_running_loop().run_in_executor(None, _write_atomically, self.config_path, rendered.text)
        self._served = rendered
        return True

    def _write_candidate(self, rendered: RenderedConfig) -> Path:
        """Write the referenced files (each atomically) and the configuration as a temp file."""
        self.paths.certs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path, content in rendered.files.items():
            if not path.exists() or path.read_text() != content:
                _write_atomically(path, content)
        state_file = self.paths.state_file
        if not state_file.exists():
            state_file.write_text("1\n")
        candidate = self.config_path.with_name(self.config_path.name + ".new")
        candidate.write_text(rendered.text)
        return candidate

    async def _save_server_state(self, states: dict[str, LoadBalancerState]) -> None:
        """Dump health to the state file for the next load to restore (see ``runtime.server_state_for``)."""
        try:
            text = await self._process.query("show servers state")
        except OSError as exc:
            log.warning("could not save HAProxy server state before reload: %s", exc)
            return
        weights = {}
        for state in states.values():
            for spec in state.listeners:
                for section, targets, _ in target_groups(spec):
                    for target in targets:
                        for name in (server_name(target), FALLBACK_PREFIX + server_name(target)):
                            weights[(section, name)] = target.weight
        _write_atomically(self.paths.state_file, runtime.server_state_for(text, weights))

    def _prune_files(self, rendered: RenderedConfig) -> None:
        wanted = set(rendered.files)
        if self.paths.certs_dir.exists():
            for path in self.paths.certs_dir.iterdir():
                if path not in wanted:
                    path.unlink(missing_ok=True)

    async def health(self, load_balancer_id: str) -> list[TargetHealth]:
        report = list(await self._inner.health(load_balancer_id))
        state = self._states.get(load_balancer_id)
        if state is None:
            return report
        return report + reports.health_report(state, await self._stat_rows())

    async def stats(self) -> LoadBalancerStats:
        """``{load_balancer_id: {listener_id: counters}}`` in the embedded engine's shape."""
        rows = await self._stat_rows() if self._states else {}
        return reports.merged_stats(await self._inner.stats(), self._states.values(), rows)

    async def _stat_rows(self) -> dict[tuple[str, str], dict[str, str]]:
        if not self._process.running:
            return {}
        try:
            return runtime.parse_show_stat(await self._process.query("show stat"))
        except OSError as exc:
            log.warning("HAProxy runtime API did not answer: %s", exc)
            return {}

    async def close(self) -> None:
        """Both parts drain at once: HAProxy soft-stops while the embedded listeners drain."""
        async with self._deploy_lock:
            self._closed = True
            for cut in list(self._cuts):
                cut.cancel()
            await self._prebind.close()
            await asyncio.gather(self._process.stop(self._drain_seconds), self._inner.close())
            self._logs.close()
            self._states_file.unlink(missing_ok=True)
            self._states.clear()
            self._served = None

    async def detach(self) -> None:
        """Let go of HAProxy without stopping it (an upgrade restart); the embedded part closes.

        HAProxy keeps every TCP/TCP_SSL port and connection, and its saved states, for the
        next openclb of this run dir to adopt. Connections of listeners that left and are
        still draining are no longer cut at the end of their grace: they end by themselves.
        """
        async with self._deploy_lock:
            self._closed = True
            for cut in list(self._cuts):
                cut.cancel()
            await self._prebind.close()
            self._process.release()
            await self._inner.close()
            self._logs.close()
            self._states.clear()
            self._served = None


def _write_atomically(path: Path, content: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.replace(temporary, path)
