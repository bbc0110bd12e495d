"""The ports of the HAProxy part, as the kernel sees them: may a listener have them, do they listen.

HAProxy cannot be trusted to report a port another process holds (a failed bind aborts
the whole load), so every port not already ours is bound and released here before a load
(``precheck``). After a load, readiness is read from the
kernel with a bind probe that never listens (``await_ports``), so no probe connection ever
reaches a real server. Addresses are normalised (``runtime.normalise_address``) wherever a
port is named by ``(address, port)``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Iterable

from openclb.engine.contract import EngineError
from openclb.engine.embedded.binding import BindFailure, bind_stream_sockets
from openclb.engine.haproxy import runtime
from openclb.engine.spec import ListenerSpec, LoadBalancerState

log = logging.getLogger("openclb.engine.haproxy")

_POLL = 0.01

Port = tuple[str, int]


def ports_of(states: Iterable[LoadBalancerState]) -> set[Port]:
    """Every (address, port) the listeners of ``states`` occupy."""
    return {(runtime.normalise_address(state.vip), port)
            for state in states for spec in state.listeners for port in spec.ports}


def precheck(vip: str, spec: ListenerSpec, ours: set[Port], max_ports: int) -> EngineError | None:
    """Why ``spec`` cannot be served on ``vip``, or None: a bad range, or a port held by another
    process (``ours``: the ports our HAProxy may hold, which are not probed)."""
    ports = spec.ports
    if len(ports) == 0:
        return EngineError(f"Port range {spec.port}-{spec.end_port} is empty",
                           f"listener {spec.listener_id}: end_port {spec.end_port} < port {spec.port}")
    if len(ports) > max_ports:
        return EngineError(
            f"Port range {spec.port}-{spec.end_port} has {len(ports)} ports; "
            f"at most {max_ports} are allowed per listener",
            f"listener {spec.listener_id}: range exceeds max_ports_per_listener={max_ports}")
    address = runtime.normalise_address(vip)
    for port in ports:
        if (address, port) in ours:
            continue
        try:
            probes = bind_stream_sockets(vip, range(port, port + 1), 1, spec.listener_id)
        except BindFailure as failure:
            return failure.error
        for _, sock in probes:
            sock.close()
    return None


def bind_error(states: Iterable[LoadBalancerState], section: str, reason: str) -> EngineError:
    """The EngineError of listener ``section`` whose bind HAProxy reported failed with ``reason``."""
    for state in states:
        for spec in state.listeners:
            if spec.listener_id == section:
                if runtime.address_in_use(reason):
                    return EngineError(f"Port {spec.port} on {state.vip} is already in use by another process",
                                       f"listener {section}: HAProxy: {reason}")
                return EngineError(f"Cannot serve port {spec.port} on {state.vip}", f"listener {section}: {reason}")
    return EngineError("Cannot serve the listener", reason)


async def await_ports(opened: set[Port], closed: set[Port], timeout: float) -> set[Port]:
    """Wait until ``opened`` listen and ``closed`` do not; returns the opened ones that never did."""
    if not opened and not closed:
        return set()
    deadline = time.monotonic() + timeout
    while True:
        missing = {pair for pair in opened if not listening(*pair)}
        lingering = {pair for pair in closed if listening(*pair)}
        if (not missing and not lingering) or time.monotonic() >= deadline:
            if lingering:
                log.warning("ports still listening after removal: %s", sorted(lingering))
            return missing
        await asyncio.sleep(_POLL)


def listening(address: str, port: int) -> bool:
    """Whether something listens on ``address:port``, asked of the kernel without connecting.

    A SO_REUSEADDR bind (never listen) conflicts only with a listening socket: not with
    TIME_WAIT leftovers, nor with HAProxy's accepted connections on that port. A probe
    connection instead would be relayed to a real server.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False
