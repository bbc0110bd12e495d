"""One HAProxy master-worker process: check, start, reload, query, stop.

The master (``haproxy -W -S <master CLI>``) is started once and reloaded for every new
configuration; a reload forks a new worker that takes over the listening sockets while the
old workers finish their established connections (drain), which is why a deregistered real
server keeps its open connections. Invariants:

- Only this object starts or signals the process, from the event-loop thread. The master is
  started with a parent-death signal (``setpriv --pdeathsig TERM`` when available), so if
  openclb is killed -9 no HAProxy is left holding the CLB ports; a master left over anyway
  (its pid file names it, its command line names our config) is stopped by ``clear_stale``.
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
  still runs after ``grace`` seconds is hard-stopped (SIGTERM).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from openclb.engine.haproxy.runtime import ProcState, parse_show_proc, sessions_of

QUERY_TIMEOUT = 1.0
LOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
_POLL = 0.01
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


class HaproxyProcess:
    """The HAProxy master of one run dir, started with ``config_path``."""

    def __init__(self, binary: str, run_dir: Path, config_path: Path) -> None:
        self.binary = binary
        self.run_dir = run_dir
        self.config_path = config_path
        self.pid_file = run_dir / "haproxy.pid"
        self.log_file = run_dir / "haproxy.log"
        self.stats_socket = UNIX_PREFIX + STATS_SOCKET
        self._process: subprocess.Popen | None = None
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
        return self._process is not None and self._process.poll() is None

    def executable(self) -> str:
        """The resolved HAProxy binary; HaproxyFailure if it is not installed."""
        found = find_haproxy(self.binary)
        if found is None:
            raise HaproxyFailure(f"HAProxy binary {self.binary!r} not found (install the 'haproxy' package)")
        return found

    def check(self, config_path: Path) -> str | None:
        """``haproxy -c``: None if the configuration is valid, else HAProxy's complaint."""
        result = subprocess.run(
            [self.executable(), "-c", "-f", str(config_path)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
        )
        if result.returncode == 0:
            return None
        complaint = "\n".join(line for line in (result.stdout + result.stderr).splitlines() if "[ALERT]" in line)
        return complaint or f"haproxy -c exited with {result.returncode}"

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
        master = self._socket_path(MASTER_SOCKET)
        sessions = sessions_of(await query_socket(master, f"@!{worker} show sess"), sections)
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
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.run_dir, start_new_session=True, close_fds=True,
            )
        deadline = time.monotonic() + LOAD_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                self._process = None
                return False
            state = await self.proc_state()
            if state is not None and state.current_worker is not None:
                return True
            await asyncio.sleep(_POLL)
        raise HaproxyFailure(f"HAProxy did not start within {LOAD_TIMEOUT:.0f} s")

    async def _reload(self) -> bool:
        before = await self.proc_state()
        if before is None:
            raise HaproxyFailure("HAProxy master CLI does not answer")
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
            await asyncio.sleep(_POLL)
        raise HaproxyFailure(f"HAProxy did not finish a reload within {LOAD_TIMEOUT:.0f} s")

    async def stop(self, grace: float = 0.0) -> None:
        """Stop the master and every worker; wait until gone.

        With ``grace`` > 0 a soft stop first: every port closes at once and established
        connections have ``grace`` seconds to end. Then a hard stop closes what is left.
        """
        process, self._process = self._process, None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        if process is None or process.poll() is not None:
            return
        if grace > 0:
            process.send_signal(signal.SIGUSR1)
            await _wait_exit(process, grace)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            await _wait_exit(process, STOP_TIMEOUT)
        if process.poll() is None:
            process.kill()
            await _wait_exit(process, STOP_TIMEOUT)

    def clear_stale(self) -> None:
        """Stop a master a previous openclb of this run dir left running (it holds our ports)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return
        if str(self.config_path).encode() not in cmdline:
            return
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                if _is_zombie(pid):
                    return
                time.sleep(_POLL)
            if not Path(f"/proc/{pid}").exists():
                return

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


async def _wait_exit(process: subprocess.Popen, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``process`` to exit (and reap it)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(_POLL)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
