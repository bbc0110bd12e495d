"""Who may reach a listener: security-group policies, blocked clients, stop, injected traffic faults.

One ``Admission`` is compiled from a listener's ``AdmissionSpec`` whenever the spec changes and
is asked at the three moments a client starts something:

- a new TCP connection (``connection``), after the kernel accepted it (on a listener that
  terminates TLS, after the handshake: asyncio reports the connection only then): a client that no
  security-group policy accepts is *dropped* (closed without a byte: the nearest a user-space
  proxy comes to an unanswered SYN); a blocked client of a TCP or TCP_SSL listener is
  *refused* with a reset (SO_LINGER 0, the client reads ECONNRESET);
- a new UDP flow (``flow``): the datagram is dropped silently, and so is every following one of
  that client until it is admitted;
- an HTTP/HTTPS request (``request_refused``): a blocked client, by its address or by the
  address in the header the block list names (``ClientIPField``; X-Forwarded-For style, the
  first address of the list), is answered 403.

Policies are evaluated in order, first match wins, as a Tencent security group's are; only new
connections and flows are evaluated, so what was admitted carries on (stateful). Verdicts are
kept per client address while the spec stays the same, so the hot path is one dict lookup.

``TrafficFaults`` are the listener's injected faults (``TrafficFaultSpec``): counts and seeded
draws survive spec updates that keep the fault, and every event a fault takes is logged on
the ``openclb.faults`` logger, as the control plane's faults are.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import struct
import time
from collections.abc import Iterable

from openclb.engine.spec import AdmissionSpec, TrafficFaultSpec

log = logging.getLogger("openclb.faults")

_LINGER_RESET = struct.pack("ii", 1, 0)
_MAX_VERDICTS = 65_536


def _address(text: str):
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def reset_on_close(transport) -> None:
    """Make the coming ``abort()`` of ``transport`` send a TCP RST."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError:
            pass


class Admission:
    """A compiled ``AdmissionSpec`` for a listener of ``protocol_class`` (TCP or UDP)."""

    def __init__(self, spec: AdmissionSpec, protocol_class: str, l7: bool) -> None:
        self.spec = spec
        self.protocol_class = protocol_class
        self.l7 = l7
        self.rules = None if spec.rules is None else [
            (rule.accept, ipaddress.ip_network(rule.network, strict=False), rule.protocol, rule.ports)
            for rule in spec.rules
        ]
        self.blocked = {str(_address(b.ip) or b.ip): b.expires_at for b in spec.blocked}
        self.header = spec.client_ip_header.lower().encode("latin-1")
        self._verdicts: dict[tuple[str, int], bool] = {}

    @property
    def active(self) -> bool:
        return self.rules is not None or bool(self.blocked)

    def is_blocked(self, client_ip: str) -> bool:
        if not self.blocked:
            return False
        address = _address(client_ip)
        expires = self.blocked.get(str(address) if address is not None else client_ip)
        return expires is not None and (expires == 0 or time.time() < expires)

    def accepts(self, client_ip: str, port: int) -> bool:
        """Whether the security groups admit a new connection or flow from ``client_ip`` to ``port``."""
        if self.rules is None:
            return True
        key = (client_ip, port)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._evaluate(client_ip, port)
            if len(self._verdicts) >= _MAX_VERDICTS:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict

    def _evaluate(self, client_ip: str, port: int) -> bool:
        address = _address(client_ip)
        if address is None:
            return False
        for accept, network, protocol, ports in self.rules:
            if protocol not in ("ALL", self.protocol_class):
                continue
            if address.version != network.version or address not in network:
                continue
            if ports and not any(low <= port <= high for low, high in ports):
                continue
            return accept
        return False

    def connection(self, transport, client_ip: str, port: int) -> bool:
        """Whether a new TCP connection goes on; a refused one is set up to be reset or dropped."""
        if not self.l7 and self.is_blocked(client_ip):
            reset_on_close(transport)
            return False
        return self.accepts(client_ip, port)

    def flow(self, client_ip: str, port: int) -> bool:
        return self.accepts(client_ip, port) and not self.is_blocked(client_ip)

    def request_refused(self, headers: Iterable[tuple[bytes, bytes]], client_ip: str) -> bool:
        """Whether an HTTP request is answered 403: its client, or the client its header names, is blocked."""
        if not self.blocked:
            return False
        if self.is_blocked(client_ip):
            return True
        if not self.header:
            return False
        for name, value in headers:
            if name == self.header:
                first = value.split(b",", 1)[0].decode("latin-1", "replace")
                if self.is_blocked(first):
                    return True
        return False


class _FaultState:
    __slots__ = ("spec", "left", "draw", "hits")

    def __init__(self, spec: TrafficFaultSpec) -> None:
        self.spec = spec
        self.left = spec.count
        self.draw = random.Random(spec.seed) if spec.seed is not None else random.Random()
        self.hits = 0

    def fires(self) -> bool:
        if self.left == 0:
            return False
        if self.spec.probability < 1.0 and self.draw.random() >= self.spec.probability:
            return False
        self.hits += 1
        if self.left is not None:
            self.left -= 1
        return True


class TrafficFaults:
    """The injected faults of one listener, with their counts and draws."""

    def __init__(self, listener_id: str) -> None:
        self.listener_id = listener_id
        self._states: dict[str, _FaultState] = {}

    def configure(self, specs: tuple[TrafficFaultSpec, ...]) -> None:
        states = {}
        for spec in specs:
            state = self._states.get(spec.fault_id)
            if state is None or state.spec != spec:
                state = _FaultState(spec)
                log.warning("traffic fault armed in the data plane",
                            extra={"fault_id": spec.fault_id, "listener_id": self.listener_id})
            states[spec.fault_id] = state
        for fault_id in self._states.keys() - states.keys():
            log.warning("traffic fault cleared in the data plane",
                        extra={"fault_id": fault_id, "listener_id": self.listener_id})
        self._states = states

    def __bool__(self) -> bool:
        return bool(self._states)

    def _met(self, state: _FaultState, event: str) -> None:
        log.warning("fault injected", extra={"fault_id": state.spec.fault_id, "listener_id": self.listener_id,
                                             "event": event, "left": state.left})

    def delay(self) -> float:
        """Seconds the current new connection or request waits (latency faults that take it)."""
        total = 0.0
        for state in self._states.values():
            if state.spec.latency > 0 and state.fires():
                self._met(state, "latency")
                total += state.spec.latency
        return total

    def _takes(self, kind: str) -> bool:
        for state in self._states.values():
            if getattr(state.spec, kind) and state.fires():
                self._met(state, kind)
                return True
        return False

    def resets(self) -> bool:
        return self._takes("resets")

    def drops(self) -> bool:
        return self._takes("drops")

    def hits(self) -> dict[str, int]:
        return {fault_id: state.hits for fault_id, state in self._states.items()}
