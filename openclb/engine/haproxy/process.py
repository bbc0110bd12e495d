"""One HAProxy master-worker process: start or adopt, reload, query, stop or let go.

The master (``haproxy -W -S <master CLI>``) is started once and reloaded for every new
configuration; a reload forks a new worker that takes over the listening sockets while the
old workers finish their established connections (drain), which is why a deregistered real
server keeps its open connections. Invariants:

- Only this object starts or signals the process, from the event-loop thread.
- The master outlives openclb: it runs in a session of its own, its output goes to its log
  only, and nothing ties it to openclb's life, so a crash (kill -9) or an upgrade restart of
  openclb leaves every TCP/TCP_SSL port serving and every established connection open. The
  next openclb of the same run dir ``adopt``s it, and only when it is ours: the pid file
  names a live process whose command line loads our configuration path in master-worker
  mode, whose working directory is the run dir, and whose master CLI (in the run dir)
  answers ``show proc`` naming that same pid as the master. A process that is ours but
  whose CLI does not answer is killed (it holds our ports); a pid file naming anything
  else (a dead pid, a pid now used by another program) is ignored and a fresh master
  started. The master is watched and signalled through a pidfd opened before those checks,
  so a pid reused after the master exited is never signalled.
- A load's outcome is observed, not assumed: after ``reload`` the master CLI answers again
  only once the master has re-executed; the load succeeded if and only if a new current
  worker exists. The master's log (stdout+stderr, appended to ``haproxy.log`` in the run
  dir) says why a load failed.
- HAProxy runs with the run dir as its working directory and binds its runtime API sockets
  there by relative name. (Abstract sockets would dodge the Unix path length limit too,
  but HAProxy cannot pause them, so a failed reload would soft-stop the serving worker.)
  Every query is asynchronous (the event loop is never blocked on HAProxy) and has a short
  timeout.
- ``stop(grace)`` drains as the embedded engine does: a soft stop (SIGUSR1) makes every
  worker close its listening sockets at once and finish its established connections; what
  still runs after ``grace`` seconds is hard-stopped (SIGTERM). ``release()`` lets go of the
  master without signalling it, for the next openclb to adopt.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from openclb.engine.haproxy.runtime import ProcState, parse_show_proc, sessions_of, sessions_to

log = logging.getLogger("openclb.engine.haproxy")

QUERY_TIMEOUT = 1.0
LOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CLI_ANSWER_TIMEOUT = 2.0
ADOPT_TIMEOUT = LOAD_TIMEOUT  # a master caught mid-reload gets as long as any reload
CONFIG_NAME = "haproxy.cfg"
_POLL = 0.01
_LOAD_POLL = 0.002  # a load takes tens of ms: its end is seen within 2 ms, at ~0.2 ms of CPU a look
_MAX_LOG_BYTES = 4 * 1024 * 1024
# Commands chained on one CLI line; HAProxy reads a line into one buffer (16 kB by default).
_COMMANDS_PER_LINE = 100
SBIN_DIRS = "/usr/local/sbin:/usr/sbin:/sbin"
STATS_SOCKET = "stats.sock"
MASTER_SOCKET = "master.sock"
UNIX_PREFIX = "unix@"  # HAProxy reads a bare relative name as host:port


class HaproxyFailure(Exception):
    """HAProxy could not be run or did not answer; the message is for the operator."""


@dataclass(frozen=True)
class LoadOutcome:
    """Whether the configuration now serves; ``log`` is what the master printed meanwhile."""

    ok: bool
    log: str


def find_haproxy(binary: str = "haproxy") -> str | None:
    """The HAProxy executable: ``binary`` on PATH, else in the sbin directories packages use
    (which a non-root PATH often lacks)."""
    return shutil.which(binary) or shutil.which(binary, path=SBIN_DIRS)


async def query_socket(path: str, command: str, timeout: float = QUERY_TIMEOUT) -> str:
    """Send one command to an HAProxy CLI Unix socket and read the whole answer.

    Raises OSError when the socket cannot be reached or does not answer within ``timeout``.
    """
    async def exchange() -> bytes:
        reader, writer = await asyncio.open_unix_connection(path)
        try:
            writer.write(command.encode() + b"\n")
            writer.write_eof()
            return await reader.read()
        finally:
            writer.close()

    try:
        answer = await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        raise OSError(f"no answer to {command!r} on {path} within {timeout} s") from None
    return answer.decode("utf-8", "replace")


class _Master:
    """A running master, started here or adopted: watched and signalled through a pidfd.

    ``child`` is the Popen of a master started by this process, which must also reap it.
    Raises ProcessLookupError when ``pid`` is gone already.
    """

    def __init__(self, pid: int, child: subprocess.Popen | None = None) -> None:
        self.pid = pid
        self.child = child
        self.fd = os.pidfd_open(pid)
        self._exit = select.poll()  # not select(): an openclb with many connections has fds past 1024
        self._exit.register(self.fd, select.POLLIN)

    def alive(self) -> bool:
        if self.child is not None and self.child.poll() is not None:
            return False
        return not self._exit.poll(0)

    def signal(self, sig: signal.Signals) -> None:
        try:
            signal.pidfd_send_signal(self.fd, sig)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        os.close(self.fd)


class HaproxyProcess:
    """The HAProxy master of one run dir, started with ``config_path``."""

    def __init__(self, binary: str, run_dir: Path, config_path: Path) -> None:
        self.binary = binary
        self.run_dir = Path(run_dir).absolute()
        self.config_path = Path(config_path).absolute()
        self.pid_file = self.run_dir / "haproxy.pid"
        self.log_file = self.run_dir / "haproxy.log"
        self.stats_socket = UNIX_PREFIX + STATS_SOCKET
        self._master: _Master | None = None
        self._dir_fd: int | None = None

    def _socket_path(self, name: str) -> str:
        """A short path to ``name`` in the run dir, through an open descriptor of the directory.

        Unix socket paths are limited to 108 bytes and a data dir may be deeper; HAProxy
        binds the sockets relative to its working directory (the run dir), and we reach them
        through ``/proc/self/fd/<dir fd>/``, which is short whatever the run dir is.
        """
        if self._dir_fd is None:
            self._dir_fd = os.open(self.run_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"/proc/self/fd/{self._dir_fd}/{name}"

    @property
    def running(self) -> bool:
        return self._master is not None and self._master.alive()

    @property
    def pid(self) -> int | None:
        """The master's pid while there is one."""
        return self._master.pid if self.running else None

    def executable(self) -> str:
        """The resolved HAProxy binary; HaproxyFailure if it is not installed."""
        found = find_haproxy(self.binary)
        if found is None:
            raise HaproxyFailure(f"HAProxy binary {self.binary!r} not found (install the 'haproxy' package)")
        return found

    async def query(self, command: str) -> str:
        """One runtime API command to the current worker (raises OSError if none answers)."""
        return await query_socket(self._socket_path(STATS_SOCKET), command)

    async def proc_state(self) -> ProcState | None:
        try:
            return parse_show_proc(await query_socket(self._socket_path(MASTER_SOCKET), "show proc", timeout=0.5))
        except OSError:
            return None

    async def old_workers(self) -> tuple[int, ...]:
        """Workers a reload has replaced that are still finishing their connections."""
        state = await self.proc_state()
        return state.old_workers if state is not None else ()

    async def shutdown_sessions(self, worker: int, sections: Collection[str]) -> None:
        """Close every connection ``worker`` still carries for the ``listen`` sections named.

        Raises OSError when the worker cannot be reached (it exited once it had drained).
        """
        await self._shutdown_shown(worker, lambda shown: sessions_of(shown, sections))

    async def shutdown_server_sessions(self, worker: int, servers: Collection[tuple[str, str]]) -> None:
        """Close every connection ``worker`` still carries to the (backend, server) named.

        Raises OSError when the worker cannot be reached (it exited once it had drained).
        """
        await self._shutdown_shown(worker, lambda shown: sessions_to(shown, servers))

    async def _shutdown_shown(self, worker: int, select: Callable[[str], list[str]]) -> None:
        """Close the sessions ``select`` picks from ``worker``'s ``show sess``, a batch of
        commands per line to the master."""
        master = self._socket_path(MASTER_SOCKET)
        sessions = select(await query_socket(master, f"@!{worker} show sess"))
        for start in range(0, len(sessions), _COMMANDS_PER_LINE):
            batch = sessions[start:start + _COMMANDS_PER_LINE]
            await query_socket(master, "; ".join(f"@!{worker} shutdown session {s}" for s in batch))

    async def load(self) -> LoadOutcome:
        """Serve the configuration now at ``config_path``: start the master, or reload it."""
        self._trim_log()
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        ok = await (self._reload() if self.running else self._start())
        return LoadOutcome(ok, self._read_log(offset))

    async def _start(self) -> bool:
        command = [self.executable(), "-W", "-S", UNIX_PREFIX + MASTER_SOCKET, "-f", str(self.config_path),
                   "-p", str(self.pid_file)]
        with open(self.log_file, "ab") as output:
            child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                cwd=self.run_dir, start_new_session=True, close_fds=True,
            )
        self._master = _Master(child.pid, child)
        deadline = time.monotonic() + LOAD_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                self.release()
                return False
            state = await self.proc_state()
            if state is not None and state.current_worker is not None:
                return True
            await asyncio.sleep(_LOAD_POLL)
        raise HaproxyFailure(f"HAProxy did not start within {LOAD_TIMEOUT:.0f} s")

    async def _reload(self) -> bool:
        before = await self._answered_proc_state()
        try:
            await query_socket(self._socket_path(MASTER_SOCKET), "reload", timeout=0.5)
        except OSError:
            pass  # the master re-executes and drops the connection: that is the reload starting
        deadline = time.monotonic() + LOAD_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                raise HaproxyFailure("HAProxy master exited during a reload")
            state = await self.proc_state()
            if state is not None and state.reloads > before.reloads:
                return state.current_worker is not None and state.current_worker != before.current_worker
            await asyncio.sleep(_LOAD_POLL)
        raise HaproxyFailure(f"HAProxy did not finish a reload within {LOAD_TIMEOUT:.0f} s")

    async def _answered_proc_state(self) -> ProcState:
        """``show proc`` asked until the master answers: on a busy host a master that has just
        forked a worker may miss one query's timeout. HaproxyFailure if it never does."""
        deadline = time.monotonic() + CLI_ANSWER_TIMEOUT
        while self.running and time.monotonic() < deadline:
            state = await self.proc_state()
            if state is not None:
                return state
            await asyncio.sleep(_LOAD_POLL)
        raise HaproxyFailure("HAProxy master CLI does not answer")

    async def stop(self, grace: float = 0.0) -> None:
        """Stop the master and every worker; wait until gone.

        With ``grace`` > 0 a soft stop first: every port closes at once and established
        connections have ``grace`` seconds to end. Then a hard stop closes what is left.
        """
        master = self._let_go()
        if master is None:
            return
        try:
            if grace > 0 and master.alive():
                master.signal(signal.SIGUSR1)
                await _wait_exit(master, grace)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if master.alive():
                    master.signal(sig)
                    await _wait_exit(master, STOP_TIMEOUT)
        finally:
            master.close()

    def release(self) -> None:
        """Let go of the master without signalling it: it serves on, for the next openclb to adopt."""
        master = self._let_go()
        if master is not None:
            master.close()

    def _let_go(self) -> _Master | None:
        """Forget the master (returned, its pidfd still open) and close the run dir descriptor."""
        master, self._master = self._master, None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        return master

    async def adopt(self) -> bool:
        """Take over the master a previous openclb of this run dir left serving; False if none.

        See the module docstring for what makes a master ours. One that is ours but does not
        answer within ``ADOPT_TIMEOUT`` (a master caught mid-reload answers once it has
        re-executed) is killed; its workers exit with it.
        """
        try:
            pid = int(self.pid_file.read_text().split()[0])
            master = _Master(pid)
        except (OSError, ValueError, IndexError):
            return False
        if not self._runs_our_config(pid):
            master.close()
            return False
        self._master = master
        deadline = time.monotonic() + ADOPT_TIMEOUT
        while master.alive() and time.monotonic() < deadline:
            state = await self.proc_state()
            if state is not None and state.master == pid:
                return True
            await asyncio.sleep(_POLL * 10)
        if master.alive():
            log.warning("HAProxy master %d of %s does not answer on its CLI: killing it", pid, self.run_dir)
            master.signal(signal.SIGKILL)
            await _wait_exit(master, STOP_TIMEOUT)
        self.release()
        return False

    def _runs_our_config(self, pid: int) -> bool:
        """Whether ``pid`` is an HAProxy master loading our configuration from the run dir."""
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return False
        config = str(self.config_path).encode()
        loads_ours = any(flag == b"-f" and value == config for flag, value in zip(arguments, arguments[1:]))
        return b"-W" in arguments and loads_ours and os.path.realpath(cwd) == os.path.realpath(self.run_dir)

    def _trim_log(self) -> None:
        """The log is appended to forever; restart it when large (O_APPEND keeps HAProxy's writes sane)."""
        try:
            if self.log_file.stat().st_size > _MAX_LOG_BYTES:
                os.truncate(self.log_file, 0)
        except FileNotFoundError:
            pass

    def _read_log(self, offset: int) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


async def _wait_exit(master: _Master, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``master`` to exit (and reap it if it is our child)."""
    deadline = time.monotonic() + timeout
    while master.alive() and time.monotonic() < deadline:
        await asyncio.sleep(_POLL)


async def stop_left_over(run_dir: Path, binary: str = "haproxy") -> bool:
    """Stop the HAProxy a crashed openclb of ``run_dir`` left serving; whether there was one.

    For a start without the HAProxy engine: its ports are the listeners' ports.
    """
    process = HaproxyProcess(binary, run_dir, Path(run_dir) / CONFIG_NAME)
    if not await process.adopt():
        return False
    await process.stop()
    return True
