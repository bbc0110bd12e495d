"""Health probes: what one probe sends and how its reply is judged (no sockets here).

``ProbeSpec``, ``probe_spec_for``, the reply checks and the ICMP codec are pure and
unit-tested alone; ``health_sockets`` carries them over the network.

Choices where the real CLB's behaviour is not written down:
- CUSTOM replies match when they *start with* RecvContext (checked byte by byte as data
  arrives, so a wrong reply fails at once instead of at the timeout). An empty RecvContext
  asks for nothing: over TCP the probe passes once connected and SendContext is written;
  over UDP it passes unless the target answers "port unreachable" within the timeout.
- HTTPS checks speak HTTP over TLS without verifying the certificate, as a load balancer's
  checks do; GRPC checks make one cleartext gRPC call (``health_grpc``); unknown types on
  stream listeners are plain TCP connects.
- Stream probes close with RST (SO_LINGER 0), as HAProxy's checks do, so thousands of
  probes a second leave no TIME_WAIT sockets behind.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol as TypingProtocol

from openclb.protocols import ListenerProtocol
from openclb.engine.spec import HealthCheckSpec, TargetSpec
from openclb.engine.embedded.health_grpc import GrpcStatusCheck, grpc_request

_MAX_STATUS_LINE = 4096
_ICMP_ECHO_REPLY = 0
_ICMP_ECHO_REQUEST = 8
# ICMPv6 (RFC 4443): echo request 128, reply 129; the kernel fills the checksum of ICMPv6 sockets.
ICMP6_ECHO_REPLY = 129
ICMP6_ECHO_REQUEST = 128
_PING_PAYLOAD = b"openclb-health!!"


class ProbeKind(StrEnum):
    TCP = "TCP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    CUSTOM_TCP = "CUSTOM_TCP"
    CUSTOM_UDP = "CUSTOM_UDP"
    PING = "PING"
    GRPC = "GRPC"
    GRPCS = "GRPCS"


@dataclass(frozen=True)
class ProbeSpec:
    """Everything one probe does; equal specs are one probe shared by every listener asking.

    ``port`` is 0 for PING (one echo per address serves every port on it). ``family`` is
    derived from ``ip`` once, here, rather than parsed again on every attempt (AF_UNSPEC
    for an address that does not parse: its attempts fail).
    """

    kind: ProbeKind
    ip: str
    port: int
    interval: float
    timeout: float
    payload: bytes = b""
    expect: bytes = b""
    http_code_mask: int = 31
    server_name: str = ""
    grpc_check: HealthCheckSpec | None = None
    family: socket.AddressFamily = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", _family_of(self.ip))


def _family_of(ip: str) -> socket.AddressFamily:
    try:
        version = ipaddress.ip_address(ip).version
    except ValueError:
        return socket.AF_UNSPEC
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def decode_context(context_type: str, text: str) -> bytes:
    """SendContext/RecvContext as bytes: TEXT is ASCII, HEX is pairs of hex digits.

    HEX that is not hex (the API rejects it; this is only defence) is taken as TEXT.
    """
    if context_type.upper() == "HEX":
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return text.encode("ascii", "replace")


def http_request(check: HealthCheckSpec, ip: str) -> bytes:
    """The request an HTTP check sends; Host is HttpCheckDomain, or the target's address."""
    host = check.http_domain or (f"[{ip}]" if ":" in ip else ip)
    path = check.http_path or "/"
    method = (check.http_method or "HEAD").upper()
    version = check.http_version or "HTTP/1.1"
    return f"{method} {path} {version}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode(
        "ascii", "replace"
    )


def probe_kind_for(protocol: ListenerProtocol, check_type: str) -> ProbeKind:
    """Which probe a listener's CheckType means; UDP listeners know only PING and CUSTOM.

    QUIC listeners take TCP and HTTP checks (the HealthCheck document), probed over TCP on
    the target's port like a TCP listener's.
    """
    check_type = check_type.upper()
    if protocol is ListenerProtocol.UDP:
        return ProbeKind.CUSTOM_UDP if check_type == "CUSTOM" else ProbeKind.PING
    return {
        "HTTP": ProbeKind.HTTP,
        "HTTPS": ProbeKind.HTTPS,
        "CUSTOM": ProbeKind.CUSTOM_TCP,
        "PING": ProbeKind.PING,
        "GRPC": ProbeKind.GRPC,
        "GRPCS": ProbeKind.GRPCS,
    }.get(check_type, ProbeKind.TCP)


def probe_spec_for(protocol: ListenerProtocol, target: TargetSpec, check: HealthCheckSpec) -> ProbeSpec:
    """The probe that checks ``target`` for a listener of ``protocol`` with ``check``."""
    kind = probe_kind_for(protocol, check.check_type)
    port = target.port if check.check_port in (None, -1) else check.check_port
    common = {"interval": float(check.interval), "timeout": float(check.timeout)}
    if kind is ProbeKind.PING:
        return ProbeSpec(kind, target.ip, 0, **common)
    if kind in (ProbeKind.HTTP, ProbeKind.HTTPS):
        request = http_request(check, target.ip)
        return ProbeSpec(kind, target.ip, port, payload=request, http_code_mask=check.http_code_mask,
                         server_name=check.http_domain, **common)
    if kind in (ProbeKind.CUSTOM_TCP, ProbeKind.CUSTOM_UDP):
        payload = decode_context(check.context_type, check.send_context)
        expect = decode_context(check.context_type, check.recv_context)
        return ProbeSpec(kind, target.ip, port, payload=payload, expect=expect, **common)
    if kind in (ProbeKind.GRPC, ProbeKind.GRPCS):
        return ProbeSpec(kind, target.ip, port, payload=grpc_request(check, target.ip), grpc_check=check, **common)
    return ProbeSpec(kind, target.ip, port, **common)


class ReplyCheck(TypingProtocol):
    def feed(self, data: bytes) -> bool | None:
        """Judge the reply so far: True/False once decided, None to read more."""

    def finish(self) -> bool:
        """Judge the reply when the peer closed before ``feed`` decided."""


class PrefixCheck:
    """A reply passes when it starts with ``expect``; decided as soon as bytes disagree."""

    def __init__(self, expect: bytes) -> None:
        self._expect = expect
        self._received = b""

    def feed(self, data: bytes) -> bool | None:
        self._received += data[: len(self._expect) - len(self._received)]
        if not self._expect.startswith(self._received):
            return False
        if len(self._received) >= len(self._expect):
            return True
        return None

    def finish(self) -> bool:
        return self._received == self._expect


class HttpStatusCheck:
    """An HTTP reply passes when its status class is in HttpCode (1=1xx … 16=5xx)."""

    def __init__(self, code_mask: int) -> None:
        self._code_mask = code_mask
        self._received = b""

    def feed(self, data: bytes) -> bool | None:
        self._received += data
        if b"\n" in self._received:
            return self._judge()
        if len(self._received) > _MAX_STATUS_LINE:
            return False
        return None

    def finish(self) -> bool:
        return self._judge()

    def _judge(self) -> bool:
        status = parse_http_status(self._received)
        return status is not None and http_status_passes(status, self._code_mask)


def parse_http_status(received: bytes) -> int | None:
    """The status code of an HTTP/1.x status line, or None if it is not one."""
    line = received.split(b"\n", 1)[0].rstrip(b"\r")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        return None
    if len(parts[1]) != 3 or not parts[1].isdigit():
        return None
    return int(parts[1])


def http_status_passes(status: int, code_mask: int) -> bool:
    """Whether ``status``'s class bit (1xx → 1, 2xx → 2, 3xx → 4, 4xx → 8, 5xx → 16) is set."""
    status_class = status // 100
    if not 1 <= status_class <= 5:
        return False
    return bool(code_mask & (1 << (status_class - 1)))


def reply_check_for(spec: ProbeSpec) -> ReplyCheck | None:
    """How a stream probe judges the reply; None means connecting (and sending) is enough."""
    if spec.kind in (ProbeKind.HTTP, ProbeKind.HTTPS):
        return HttpStatusCheck(spec.http_code_mask)
    if spec.kind is ProbeKind.CUSTOM_TCP and spec.expect:
        return PrefixCheck(spec.expect)
    if spec.kind in (ProbeKind.GRPC, ProbeKind.GRPCS):
        return GrpcStatusCheck(spec.grpc_check, spec.ip)
    return None


def icmp_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo_request(ident: int, sequence: int, payload: bytes = _PING_PAYLOAD,
                      request_type: int = _ICMP_ECHO_REQUEST) -> bytes:
    """An ICMP echo request with a correct checksum (ICMPv6: ``request_type`` 128; its checksum,
    which covers a pseudo-header, is the kernel's)."""
    header = struct.pack("!BBHHH", request_type, 0, 0, ident, sequence)
    checksum = icmp_checksum(header + payload) if request_type == _ICMP_ECHO_REQUEST else 0
    return struct.pack("!BBHHH", request_type, 0, checksum, ident, sequence) + payload


def parse_icmp_echo_reply(packet: bytes, has_ip_header: bool,
                          reply_type: int = _ICMP_ECHO_REPLY) -> tuple[int, int] | None:
    """(ident, sequence) of an ICMP echo reply; None for any other packet."""
    if has_ip_header:
        if not packet:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < 8:
        return None
    icmp_type, code, _checksum, ident, sequence = struct.unpack("!BBHHH", packet[:8])
    if icmp_type != reply_type or code != 0:
        return None
    return ident, sequence
