"""VIP failover with VRRP: the VIPs held by one node at a time, through a keepalived child.

With ``openclb serve --ha vrrp --vip-interface IFACE`` every node binds every listener in
advance (``IP_FREEBIND``) and this module runs keepalived, as the HAProxy engine runs HAProxy:
the configuration is rendered from the full set of VIPs, checked (``keepalived -t``), swapped
into place atomically, and the running keepalived reloads it (SIGHUP). One VRRP instance holds
every VIP, so a failover moves them together and only moves addresses: the sockets are
already there. The node with the highest priority holds them while it is alive (it preempts,
so a node that returns takes its VIPs back); openclb starts keepalived only once its node has
applied every CLB, so a node never takes VIPs it cannot serve yet.

keepalived gets SIGTERM when openclb dies, however it dies (``PR_SET_PDEATHSIG``): it then
gives the VIPs up at once (a priority-0 advertisement) instead of holding them for a node that
no longer serves. With no VIP at all there is nothing to hold and keepalived is not running.
VRRPv3 with adverts every ``advert_seconds`` (0.3 s): a peer that stops advertising is taken
over after about three of them.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("openclb.vrrp")

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class VrrpSettings:
    node_name: str
    interface: str
    priority: int
    router_id: int = 51
    advert_seconds: float = 0.3
    binary: str = "keepalived"


class VrrpError(Exception):
    """keepalived refused the configuration or could not be started."""


def render(settings: VrrpSettings, vips: list[str]) -> str:
    """keepalived's configuration: one VRRP instance holding every VIP (at least one)."""
    first, *rest = sorted(vips)
    lines = [
        "global_defs {",
        f"    router_id openclb_{settings.node_name}",
        "    vrrp_version 3",
        "    enable_script_security",
        "    vrrp_garp_master_refresh 0",
        "}",
        "vrrp_instance openclb {",
        "    state BACKUP",
        f"    interface {settings.interface}",
        f"    virtual_router_id {settings.router_id}",
        f"    priority {settings.priority}",
        f"    advert_int {settings.advert_seconds:g}",
        "    virtual_ipaddress {",
        f"        {_address(first)} dev {settings.interface}",
        "    }",
    ]
    if rest:
        # Not carried in the adverts (which have room for a few addresses): moved all the same.
        lines.append("    virtual_ipaddress_excluded {")
        lines += [f"        {_address(vip)} dev {settings.interface}" for vip in rest]
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _address(vip: str) -> str:
    return f"{vip}/128" if ":" in vip else f"{vip}/32"


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Keepalived:
    """The keepalived child of one node: ``hold(vips)`` renders, checks, swaps and reloads."""

    def __init__(self, settings: VrrpSettings, directory: Path) -> None:
        self.settings = settings
        self.directory = directory
        self._process: asyncio.subprocess.Process | None = None
        self._held: frozenset[str] | None = None
        self._lock = asyncio.Lock()

    @property
    def config_path(self) -> Path:
        return self.directory / "keepalived.conf"

    async def hold(self, vips: set[str]) -> None:
        """Make keepalived hold exactly ``vips`` (none: keepalived stops). Raises VrrpError."""
        async with self._lock:
            wanted = frozenset(vips)
            if wanted == self._held and (not wanted or self._running()):
                return
            if not wanted:
                await self._stop()
                self._held = wanted
                return
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            candidate = self.directory / "keepalived.conf.new"
            candidate.write_text(render(self.settings, sorted(wanted)), encoding="utf-8")
            await self._check(candidate)
            os.replace(candidate, self.config_path)
            if self._running():
                self._process.send_signal(signal.SIGHUP)
            else:
                await self._start()
            self._held = wanted
            log.info("VIPs held through VRRP", extra={"vips": len(wanted), "priority": self.settings.priority})

    def _running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def _check(self, path: Path) -> None:
        checking = await asyncio.create_subprocess_exec(
            self.settings.binary, "-t", "-f", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await checking.communicate()
        if checking.returncode != 0:
            raise VrrpError(f"keepalived refused its configuration: {output.decode(errors='replace').strip()}")

    async def _start(self) -> None:
        d = self.directory
        log_file = open(d / "keepalived.log", "ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.settings.binary, "--dont-fork", "--vrrp", "--log-console", "--no-syslog",
                "-f", str(self.config_path), "-p", str(d / "keepalived.pid"), "-r", str(d / "vrrp.pid"),
                stdout=log_file, stderr=log_file, preexec_fn=_die_with_parent)
        except OSError as exc:
            raise VrrpError(f"keepalived could not be started: {exc}") from exc
        finally:
            log_file.close()

    async def _stop(self) -> None:
        if not self._running():
            return
        self._process.terminate()
        try:
            await asyncio.wait_for(self._process.wait(), 5)
        except asyncio.TimeoutError:
            self._process.kill()
            await self._process.wait()

    async def close(self) -> None:
        async with self._lock:
            await self._stop()
            self._held = None
