"""HTTP/2 clients for traffic tests: Debian's curl and h2load, and raw frames via python-hyper's h2.

``curl`` and ``h2load`` resolve the test domain to the VIP and trust the test CA (a file
written once per process). ``RawH2`` is a blocking HTTP/2 client on one socket that can also
misbehave on purpose (floods, oversized headers) to test what the listener refuses.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, ResponseReceived, StreamEnded, StreamReset
from hyperframe.frame import Frame, GoAwayFrame

from clb_support import make_pki, trusting_context

DOMAIN = "rsa.example.com"


@lru_cache(maxsize=1)
def ca_file() -> str:
    path = Path(tempfile.mkdtemp(prefix="openclb-h2-")) / "ca.pem"
    path.write_text(make_pki().ca.cert)
    return str(path)


def curl(vip: str, port: int, path: str = "/", *options: str, scheme: str = "https",
         domain: str = DOMAIN) -> tuple[str, str]:
    """(HTTP version curl used, body) of one request to ``domain`` at ``vip:port``."""
    marker = "\n--version:"
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--cacert", ca_file(), "--resolve", f"{domain}:{port}:{vip}",
         "-w", marker + "%{http_version}", *options, f"{scheme}://{domain}:{port}{path}"],
        capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    body, _, version = result.stdout.rpartition(marker)
    return version, body


def h2load(vip: str, port: int, requests: int, clients: int, streams: int) -> str:
    """h2load's summary of ``requests`` over ``clients`` connections, ``streams`` at a time each."""
    result = subprocess.run(
        ["h2load", "-n", str(requests), "-c", str(clients), "-m", str(streams), "--connect-to", f"{vip}:{port}",
         f"https://{DOMAIN}:{port}/"], capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


class RawH2:
    """One HTTP/2 connection over TLS (ALPN h2) driven frame by frame."""

    def __init__(self, vip: str, port: int) -> None:
        context = trusting_context()
        context.set_alpn_protocols(["h2"])
        self.sock = context.wrap_socket(socket.create_connection((vip, port), timeout=5), server_hostname=DOMAIN)
        assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = H2Connection(config=H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.send()
        self.bodies: dict[int, bytearray] = {}
        self.status: dict[int, int] = {}
        self.response_headers: dict[int, dict[bytes, bytes]] = {}
        self.ended: set[int] = set()
        self.reset: set[int] = set()
        self.goaway: ConnectionTerminated | None = None
        self.closed = False

    def headers(self, path: str = "/", extra: list[tuple[str, str]] = (), end: bool = True) -> list[tuple[str, str]]:
        return [(":method", "GET"), (":scheme", "https"), (":authority", DOMAIN), (":path", path), *extra]

    def request(self, path: str = "/", method: str = "GET", extra: list[tuple[str, str]] = ()) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        headers = [(":method", method), *self.headers(path, extra)[1:]]
        self.conn.send_headers(stream_id, headers, end_stream=True)
        self.send()
        return stream_id

    def fetch(self, path: str = "/", method: str = "GET", extra: list[tuple[str, str]] = ()) -> tuple[int, bytes]:
        """(status, body) of one request, read to its end."""
        stream_id = self.request(path, method, extra)
        assert self.pump(lambda: stream_id in self.ended or stream_id in self.reset)
        return self.status.get(stream_id, 0), bytes(self.bodies.get(stream_id, b""))

    def send(self, raw: bytes = b"") -> None:
        data = self.conn.data_to_send() + raw
        if data:
            self.sock.sendall(data)

    def pump(self, until, seconds: float = 5.0, acknowledge=lambda stream_id: True) -> bool:
        """Read and handle frames until ``until()`` holds or the connection ends; whether it held."""
        deadline = time.monotonic() + seconds
        while not until():
            if self.closed or time.monotonic() > deadline:
                return False
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, socket.timeout):
                continue
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                continue
            for event in self.conn.receive_data(data):
                self._on(event, acknowledge)
            self.send()
        return True

    def _on(self, event, acknowledge) -> None:
        if isinstance(event, ResponseReceived):
            self.response_headers[event.stream_id] = dict(event.headers)
            self.status[event.stream_id] = int(dict(event.headers)[b":status"])
        elif isinstance(event, DataReceived):
            self.bodies.setdefault(event.stream_id, bytearray()).extend(event.data)
            if acknowledge(event.stream_id):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            else:
                self.conn.increment_flow_control_window(event.flow_controlled_length)
        elif isinstance(event, StreamEnded):
            self.ended.add(event.stream_id)
        elif isinstance(event, StreamReset):
            self.reset.add(event.stream_id)
        elif isinstance(event, ConnectionTerminated):
            self.goaway = event

    def close(self) -> None:
        self.sock.close()


def frames_until_close(sock: ssl.SSLSocket, seconds: float = 5.0) -> list:
    """Every frame the server sends until it closes the connection (hyperframe objects)."""
    received = bytearray()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except (TimeoutError, socket.timeout):
            continue
        except (ssl.SSLError, OSError):
            break
        if not data:
            break
        received += data
    frames, offset = [], 0
    while offset + 9 <= len(received):
        frame, length = Frame.parse_frame_header(memoryview(received[offset:offset + 9]))
        if offset + 9 + length > len(received):
            break
        frame.parse_body(memoryview(received[offset + 9:offset + 9 + length]))
        frames.append(frame)
        offset += 9 + length
    return frames


def goaway_code(frames: list) -> int | None:
    """The error code of the server's GOAWAY among ``frames``, None without one."""
    codes = [frame.error_code for frame in frames if isinstance(frame, GoAwayFrame)]
    return codes[-1] if codes else None
