"""gRPC health checks (CheckType GRPC on rules): one gRPC call, judged by its grpc-status.

The CLB documents the check by its pass codes only: ``ExtendedCode``, the gRPC status codes
that count as healthy ("12" by default, UNIMPLEMENTED: a server that answers at all; one
code, a list ``20,25`` or a range ``0-99``). The probe is an HTTP/2 request (cleartext with prior
knowledge on GRPC rules, TLS with ALPN h2 on GRPCS rules, as their traffic) to HttpCheckPath with an empty message, sent
in one write like every stream probe; the reply is read with python-hyper's h2 until the
grpc-status arrives, in the response head (trailers-only) or in the trailers. Anything else
(not HTTP/2, a reset, no status) fails the check.
"""

from __future__ import annotations

from dataclasses import replace

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, ResponseReceived, StreamEnded, StreamReset, TrailersReceived
from h2.exceptions import ProtocolError

from openclb.engine.spec import HealthCheckSpec, RuleSpec

_STREAM = 1
_EMPTY_MESSAGE = b"\x00\x00\x00\x00\x00"  # uncompressed, length 0


def rule_check(rule: RuleSpec) -> HealthCheckSpec:
    """A rule's check as probed: GRPC checks of GRPCS rules go over TLS (``GRPCS``), as the
    rule's traffic does."""
    check = rule.health_check
    if check.check_type.upper() == "GRPC" and rule.forward_type.upper() == "GRPCS":
        return replace(check, check_type="GRPCS")
    return check


def _primed(check: HealthCheckSpec, ip: str) -> tuple[H2Connection, bytes]:
    """A client connection that has sent the probe request, and the bytes it sent."""
    conn = H2Connection(config=H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    authority = check.http_domain or (f"[{ip}]" if ":" in ip else ip)
    conn.send_headers(_STREAM, [
        (b":method", b"POST"), (b":scheme", b"https" if check.check_type.upper() == "GRPCS" else b"http"), (b":authority", authority.encode("ascii", "replace")),
        (b":path", (check.http_path or "/").encode("ascii", "replace")),
        (b"content-type", b"application/grpc"), (b"te", b"trailers"),
    ])
    conn.send_data(_STREAM, _EMPTY_MESSAGE, end_stream=True)
    return conn, conn.data_to_send()


def grpc_request(check: HealthCheckSpec, ip: str) -> bytes:
    """What a GRPC probe sends: the HTTP/2 preface, SETTINGS and one call (always the same bytes)."""
    return _primed(check, ip)[1]


def grpc_code_passes(code: int, extended_code: str) -> bool:
    """Whether ``code`` is one of ExtendedCode's: ``12``, ``20,25`` or ``0-99``."""
    for part in extended_code.split(","):
        low, _, high = part.strip().partition("-")
        try:
            if int(low) <= code <= int(high or low):
                return True
        except ValueError:
            continue
    return False


class GrpcStatusCheck:
    """A GRPC probe's reply check (``health_probes.ReplyCheck``)."""

    def __init__(self, check: HealthCheckSpec, ip: str) -> None:
        self._conn = _primed(check, ip)[0]
        self._codes = check.extended_code
        self._start = b""

    def feed(self, data: bytes) -> bool | None:
        if len(self._start) < 9:
            # An HTTP/2 server's first frame is SETTINGS (type 4): anything else is not HTTP/2.
            self._start += data[:9 - len(self._start)]
            if len(self._start) >= 4 and self._start[3] != 0x04:
                return False
        try:
            events = self._conn.receive_data(data)
        except ProtocolError:
            return False
        for event in events:
            if isinstance(event, (ResponseReceived, TrailersReceived)):
                status = dict(event.headers).get(b"grpc-status")
                if status is not None:
                    return status.isdigit() and grpc_code_passes(int(status), self._codes)
            elif isinstance(event, (StreamEnded, StreamReset, ConnectionTerminated)):
                return False
        return None

    def finish(self) -> bool:
        return False
