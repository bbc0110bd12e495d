"""A new port of the HAProxy part accepts at once: openclb listens first, HAProxy joins, openclb lets go.

A load takes tens of milliseconds (the master re-executes and parses the whole
configuration), and until HAProxy has a new listener's port, a client connecting to it
would be refused. So the engine binds every new port itself before the load (``bind``): a
listening socket with SO_REUSEPORT, as HAProxy binds its own, so HAProxy's socket joins the
same reuseport group when it binds; and a classic BPF program on that group that sends every
new connection to the group's second socket (index 1: HAProxy's) once there is one. Until
then the index is out of range and the kernel falls back to its hash over the one socket
there is: ours. A client connecting meanwhile completes its TCP handshake at once (the
kernel queues the connection on our socket), so the port *accepts*; its bytes are served
once HAProxy has the port.

``handover``, after a successful load, waits until HAProxy's socket listens beside ours
(two listening sockets on the address and port in ``/proc/net/tcp*``), then for ``grace``
seconds takes what queued on ours and relays each connection into the port, that is into
HAProxy (its balancing, health checks, limits and logs apply), and then closes ours.

Invariants:
- Once HAProxy's socket is in the group no new connection enters our queue (the BPF steer),
  so closing ours after the grace resets nothing; the grace lets handshakes that were in
  flight when HAProxy joined complete on ours.
- A relayed connection is admitted here first by the listener's ``AdmissionSpec`` (the
  embedded engine's rules: security groups, blocked clients), because HAProxy sees it
  coming from the relay, whose source is the VIP itself. A port whose security groups (or
  block list) do not admit the VIP is therefore not pre-bound (HAProxy would drop every relayed
  connection). For those few connections (the ones that arrive before HAProxy has the
  port) HAProxy's session persistence by source and its access log see the VIP, not the
  client's address.
- A port whose load failed, whose listener goes, or whose HAProxy socket never appears is
  closed at once (what queued on it gets a reset, as a refused connection would have).
- On a kernel without ``SO_ATTACH_REUSEPORT_CBPF`` nothing is pre-bound: the port accepts
  once HAProxy has it, as before.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import socket
import struct
import time
from dataclasses import dataclass

from openclb.engine.embedded.admission import Admission
from openclb.engine.embedded.binding import BindFailure, bind_stream_sockets
from openclb.engine.haproxy import runtime
from openclb.engine.haproxy.ports import Port
from openclb.engine.spec import ListenerSpec

log = logging.getLogger("openclb.engine.haproxy")

GRACE_SECONDS = 1.0
BACKLOG = 1024
_SO_ATTACH_REUSEPORT_CBPF = 51  # asm-generic/socket.h
_BPF_RET_K = 0x06  # BPF_RET | BPF_K
_TO_SECOND_SOCKET = 1
_POLL = 0.002
_CHUNK = 65536


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


_STEER = (_SockFilter * 1)(_SockFilter(_BPF_RET_K, 0, 0, _TO_SECOND_SOCKET))
_STEER_PROGRAM = struct.pack("HL", len(_STEER), ctypes.addressof(_STEER))  # struct sock_fprog


@dataclass
class _Early:
    """Our listening socket on one port of a listener HAProxy does not serve yet."""

    sock: socket.socket
    address: str
    port: int
    admission: Admission
    drain: asyncio.Task | None = None


class PreBinder:
    """The ports openclb listens on until HAProxy has them; see the module docstring."""

    def __init__(self, grace: float = GRACE_SECONDS) -> None:
        self._grace = grace
        self._early: dict[Port, _Early] = {}
        self._tasks: set[asyncio.Task] = set()
        self._supported = True

    def bind(self, vip: str, spec: ListenerSpec, ports: list[int]) -> None:
        """Listen on ``ports`` of ``spec`` now (best effort: a port not bound accepts once HAProxy has it)."""
        if not self._supported or not ports:
            return
        address = runtime.normalise_address(vip)
        admission = Admission(spec.admission, "TCP", False)
        for port in ports:
            if (address, port) in self._early or not _admits_relay(admission, address, port):
                continue
            try:
                ((_, sock),) = bind_stream_sockets(vip, range(port, port + 1), BACKLOG, spec.listener_id,
                                                   reuse_port=True)
            except BindFailure as failure:
                log.info("not pre-binding %s from port %d: %s", spec.listener_id, port, failure.error.operator_message)
                return
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_REUSEPORT_CBPF, _STEER_PROGRAM)
            except OSError as exc:
                sock.close()
                self._supported = False
                log.warning("this kernel cannot steer a reuseport group (%s): new ports accept once HAProxy "
                            "has them", exc)
                return
            self._early[(address, port)] = _Early(sock, address, port, admission)

    def bound(self) -> set[Port]:
        return set(self._early)

    async def handover(self, ports: set[Port], timeout: float) -> set[Port]:
        """Give ``ports`` (pre-bound ones) to HAProxy; the ones whose HAProxy socket never listened.

        Those are closed at once; each of the others is closed after the grace, meanwhile
        its queued connections are relayed into HAProxy.
        """
        mine = {pair for pair in ports if pair in self._early}
        deadline = time.monotonic() + timeout
        while True:
            waiting = mine - _joined(mine)
            if not waiting or time.monotonic() >= deadline:
                break
            await asyncio.sleep(_POLL)
        self.release(waiting)
        loop = asyncio.get_running_loop()
        for pair in mine - waiting:
            early = self._early[pair]
            early.drain = self._spawn(loop, self._drain(early))
        return waiting

    def release(self, ports: set[Port]) -> None:
        """Close our sockets on ``ports`` now (their relays carry on)."""
        for pair in ports:
            early = self._early.pop(pair, None)
            if early is not None:
                if early.drain is not None:
                    # A pending accept's reader is dropped with the socket: left to the cancelled
                    # accept's own clean-up (a later loop turn), it would drop the reader of the
                    # next socket given this descriptor number, such as the embedded engine's
                    # listener taking the port over.
                    early.drain.get_loop().remove_reader(early.sock.fileno())
                    if early.drain is not asyncio.current_task():
                        early.drain.cancel()
                early.sock.close()

    async def close(self) -> None:
        """Close every pre-bound socket and cut every relay."""
        self.release(set(self._early))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _spawn(self, loop: asyncio.AbstractEventLoop, work) -> asyncio.Task:
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _drain(self, early: _Early) -> None:
        """Relay what queues on ``early`` for the grace, then close it (if it is still ours)."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._grace):
                while True:
                    client, peer = await loop.sock_accept(early.sock)
                    self._spawn(loop, _relay(client, peer[0], early))
        except (TimeoutError, OSError):
            pass
        finally:
            if self._early.get((early.address, early.port)) is early:
                self.release({(early.address, early.port)})


def _admits_relay(admission: Admission, vip: str, port: int) -> bool:
    """Whether HAProxy would let the relay in: its connections come from the VIP itself."""
    return admission.accepts(vip, port) and not admission.is_blocked(vip)


async def _relay(client: socket.socket, client_ip: str, early: _Early) -> None:
    """Carry one early connection into HAProxy's socket on the same port, both ways, until both end."""
    admission = early.admission
    if admission.is_blocked(client_ip) or not admission.accepts(client_ip, early.port):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        return
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            early.address, early.port, local_addr=(early.address, 0))
    except OSError:
        client.close()
        return
    client_reader, client_writer = await asyncio.open_connection(sock=client)
    try:
        await asyncio.gather(_pump(client_reader, upstream_writer), _pump(upstream_reader, client_writer))
    finally:
        for writer in (client_writer, upstream_writer):
            writer.transport.abort()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close; an error aborts the other side too."""
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.transport.abort()


def _joined(ports: set[Port]) -> set[Port]:
    """The ``ports`` on which a second socket (HAProxy's, beside ours) listens, as sock_diag reports.

    The kernel is asked for listening TCP sockets only (``/proc/net/tcp`` would list every
    connection of the host first); if it cannot be asked, the load's success is taken as
    HAProxy's listening (its master binds every listener before it forks a worker).
    """
    if not ports:
        return set()
    wanted = {(socket.inet_pton(_family(address), address), port): (address, port) for address, port in ports}
    seen: dict[tuple[bytes, int], int] = {}
    try:
        for family in {_family(address) for address, _ in ports}:
            for key in _listening_sockets(family):
                if key in wanted:
                    seen[key] = seen.get(key, 0) + 1
    except OSError as exc:
        log.warning("sock_diag unavailable (%s): taking the load's success as HAProxy listening", exc)
        return set(ports)
    return {wanted[key] for key, count in seen.items() if count >= 2}


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN_STATE = 10
_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr


def _listening_sockets(family: socket.AddressFamily) -> list[tuple[bytes, int]]:
    """``(packed address, port)`` of every listening TCP socket of ``family`` (netlink sock_diag)."""
    request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN_STATE) + bytes(48)
    size = 4 if family == socket.AF_INET else 16
    found: list[tuple[bytes, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as netlink:
        netlink.sendall(_HEADER.pack(_HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0)
                        + request)
        while True:
            data = netlink.recv(1 << 16)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind = _HEADER.unpack_from(data, offset)[:2]
                if kind == _NLMSG_DONE:
                    return found
                if kind == _NLMSG_ERROR:
                    raise OSError("sock_diag answered an error")
                body = offset + _HEADER.size  # struct inet_diag_msg: 4 bytes, then the socket id
                (port,) = struct.unpack_from(">H", data, body + 4)
                found.append((bytes(data[body + 8:body + 8 + size]), port))
                offset += (length + 3) & ~3
            if not data:
                return found
