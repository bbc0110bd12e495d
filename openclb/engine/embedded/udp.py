"""UDP and QUIC listeners: one upstream socket per client flow.

Every client address (ip, port) talking to one listener port is a *flow*. A flow has its
own connected datagram socket towards its target, so whatever the target sends back on it
belongs to exactly that client and leaves through the listener's socket to the client's
address: two clients behind one target never see each other's replies.

Invariants:
- Flows are bounded (``max_udp_flows``, and ``max_conn`` when set); past the bound new
  flows are dropped, existing ones keep working. ``max_cps`` limits new flows per second.
- A flow ends after ``idle_timeout`` seconds without a datagram either way, found by the
  listener's one periodic sweep; there is no timer per flow.
- A flow's upstream socket is created and connected at once, so the datagrams that arrive
  while its transport is being set up are sent straight on that socket, not held or dropped.
- With session type QUIC_CID, a new flow whose packet carries a known QUIC connection id
  goes to the target that id is pinned to, so a client that changes address keeps its
  server. Ids are learnt from clients' packets and from the server's long-header replies
  (the id the server chose, which the client uses from then on), and forgotten
  ``idle_timeout`` after their last flow went quiet.
"""

from __future__ import annotations

import asyncio
import socket
import time
from functools import partial

from openclb.engine.spec import ListenerSpec
from openclb.engine.embedded import quic
from openclb.engine.embedded.balancer import TargetState
from openclb.engine.embedded.listener import ListenerCore, ListenerSettings

QUIC_CID_SESSION = "QUIC_CID"
DEFAULT_PIN_SECONDS = 300.0

_monotonic = time.monotonic


class DatagramListener(ListenerCore):
    """A UDP/QUIC listener: one endpoint per port, flows keyed by client address."""

    kind = "UDP"
    descriptors_per_connection = 1

    def __init__(self, load_balancer_id: str, vip: str, spec: ListenerSpec, settings: ListenerSettings) -> None:
        super().__init__(load_balancer_id, vip, spec, settings)
        self.endpoints: list[_ListenEndpoint] = []
        self.cid_pins: dict[bytes, list] | None = None
        self._configure_cid_pins(spec)

    def update(self, spec: ListenerSpec) -> None:
        super().update(spec)
        self._configure_cid_pins(spec)

    def _configure_cid_pins(self, spec: ListenerSpec) -> None:
        if spec.session_type == QUIC_CID_SESSION:
            if self.cid_pins is None:
                self.cid_pins = {}
        else:
            self.cid_pins = None

    async def open(self, sockets) -> None:
        loop = asyncio.get_running_loop()
        try:
            for port, sock in sockets:
                _, endpoint = await loop.create_datagram_endpoint(partial(_ListenEndpoint, self, port), sock=sock)
                self.endpoints.append(endpoint)
        except BaseException:
            await self._close_endpoints()
            for _, sock in sockets[len(self.endpoints):]:
                sock.close()
            raise
        self.start_sweeping()

    async def stop_accepting(self) -> None:
        """Close every flow and release every port (the sockets are closed on return).

        A datagram flow has no end a drain could wait for, so it is not given one.
        """
        await super().stop_accepting()
        self.abort_connections()
        await self._close_endpoints()

    async def _close_endpoints(self) -> None:
        endpoints, self.endpoints = self.endpoints, []
        for endpoint in endpoints:
            endpoint.transport.close()
        for endpoint in endpoints:
            await endpoint.lost

    # -- flows --------------------------------------------------------------------------

    def open_flow(self, endpoint: _ListenEndpoint, addr, data: bytes) -> _Flow | None:
        """A new flow for a datagram from an unknown client address, or None to drop it."""
        now = _monotonic()
        if len(self.connections) >= self.settings.max_udp_flows:
            self.dropped += 1
            return None
        client_ip = addr[0]
        if self.admission is not None and not self.admission.flow(client_ip, endpoint.port):
            self.dropped += 1
            return None
        if not self.admit(now):
            return None
        target = None
        cid = None
        pins = self.cid_pins
        if pins is not None:
            cid = quic.destination_cid(data, self.settings.quic_short_cid_length)
            if cid is not None:
                target = self._pinned_target(cid)
        if target is None:
            target = self.pick(client_ip, now)
        if target is None:
            self.dropped += 1
            return None
        try:
            sock = _connected_socket(target.ip, self.target_port(target, endpoint.port),
                                     self.upstream_source(client_ip).get("local_addr"))
        except OSError:
            self.dropped += 1
            return None
        flow = _Flow(self, endpoint, addr, target, sock, now)
        endpoint.flows[addr] = flow
        self.opened(flow, target)
        if cid is not None:
            self.pin_cid(cid, flow)
        loop = asyncio.get_running_loop()
        flow.opening = loop.create_task(loop.create_datagram_endpoint(lambda: flow, sock=sock))
        flow.opening.add_done_callback(flow.opened)
        return flow

    def _pinned_target(self, cid: bytes) -> TargetState | None:
        pin = self.cid_pins.get(cid)
        if pin is None:
            return None
        target = pin[0]
        return target if target in self.balancer.eligible() else None

    def pin_cid(self, cid: bytes, flow: _Flow) -> None:
        pins = self.cid_pins
        if pins is None:
            return
        if cid not in pins and len(pins) >= 4 * self.settings.max_udp_flows:
            return
        pins[cid] = [flow.target, _monotonic()]
        if cid not in flow.cids:
            flow.cids.append(cid)

    def sweep(self, now: float) -> None:
        super().sweep(now)
        pins = self.cid_pins
        if pins is None:
            return
        for flow in self.connections:
            for cid in flow.cids:
                pin = pins.get(cid)
                if pin is not None and pin[0] is flow.target:
                    pin[1] = now
        keep = self.spec.idle_timeout if self.spec.idle_timeout > 0 else DEFAULT_PIN_SECONDS
        for cid in [cid for cid, (_, seen) in pins.items() if now - seen >= keep]:
            del pins[cid]


class _ListenEndpoint(asyncio.DatagramProtocol):
    """One bound port of a datagram listener."""

    __slots__ = ("listener", "port", "transport", "flows", "lost")

    def __init__(self, listener: DatagramListener, port: int) -> None:
        self.listener = listener
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self.flows: dict[tuple, _Flow] = {}
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        faults = self.listener.faults
        if faults is not None and faults.drops():
            return
        flow = self.flows.get(addr)
        if flow is None:
            flow = self.listener.open_flow(self, addr, data)
            if flow is None:
                return
        flow.bytes_in += len(data)
        flow.busy = True
        upstream = flow.upstream
        if upstream is not None:
            upstream.sendto(data)
        else:
            flow.send_early(data)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors about clients: UDP gives no delivery promise, nothing to undo."""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class _Flow(asyncio.DatagramProtocol):
    """One client address talking to one target, through its own upstream socket."""

    __slots__ = (
        "listener", "endpoint", "client_addr", "client_ip", "target", "sock", "upstream",
        "opening", "cids", "busy", "idle_since", "bytes_in", "bytes_out", "closed",
    )

    def __init__(
        self, listener: DatagramListener, endpoint: _ListenEndpoint, addr, target: TargetState,
        sock: socket.socket, now: float,
    ) -> None:
        self.listener = listener
        self.endpoint = endpoint
        self.client_addr = addr
        self.client_ip = addr[0]
        self.target = target
        self.sock = sock
        self.upstream: asyncio.DatagramTransport | None = None
        self.opening: asyncio.Task | None = None
        self.cids: list[bytes] = []
        self.busy = False
        self.idle_since = now
        self.bytes_in = 0
        self.bytes_out = 0
        self.closed = False

    def opened(self, task: asyncio.Task) -> None:
        """Done-callback of the transport's creation. It is never cancelled by us, so the
        socket always ends up owned by a transport, or closed here."""
        self.opening = None
        if task.cancelled() or task.exception() is not None:
            self.sock.close()
            self.close()

    def send_early(self, data: bytes) -> None:
        """Forward before the transport is ready, straight on the connected socket."""
        try:
            self.sock.send(data)
        except ConnectionRefusedError:
            self.close()
        except OSError:
            pass  # a full socket buffer drops the datagram, as the network would

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:
        if self.closed:
            transport.close()
            return
        self.upstream = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.bytes_out += len(data)
        self.busy = True
        self.endpoint.transport.sendto(data, self.client_addr)
        if data and data[0] & quic.LONG_HEADER_BIT and self.listener.cid_pins is not None:
            cid = quic.source_cid(data)
            if cid is not None:
                self.listener.pin_cid(cid, self)

    def error_received(self, exc: Exception) -> None:
        """The target's port is closed (ICMP port unreachable): end the flow, so the client's
        next datagram is balanced afresh instead of feeding a dead target until idle expiry."""
        if isinstance(exc, ConnectionRefusedError):
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None
        if self.endpoint.flows.get(self.client_addr) is self:
            del self.endpoint.flows[self.client_addr]
        self.listener.closed(self)

    abort = close


def _connected_socket(ip: str, port: int, source: tuple[str, int] | None = None) -> socket.socket:
    """A non-blocking UDP socket connected to the target (connect() on UDP never waits),
    sending from ``source`` (a SNAT IP) when given."""
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        if source is not None:
            sock.bind(source)
        sock.connect((ip, port))
    except OSError:
        sock.close()
        raise
    return sock
