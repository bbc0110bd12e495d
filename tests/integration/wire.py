"""Raw-socket helpers for the API port: what framing tests send and how they read answers.

Requests are written byte for byte on a plain socket, so nothing between the test and the
server fixes up framing; answers are read until the server closes or a deadline passes, and
split into status line, headers and body for the envelope checks.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def envelope_code(self) -> str | None:
        """The envelope's error code (None on success); asserts the envelope's shape."""
        assert self.status == 200, self
        assert self.headers.get("content-type") == "application/json", self.headers
        inner = json.loads(self.body)["Response"]
        assert isinstance(inner["RequestId"], str) and inner["RequestId"]
        return inner["Error"]["Code"] if "Error" in inner else None


def connect(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answer(sock: socket.socket, deadline: float = 5.0) -> RawAnswer | None:
    """One HTTP answer (by Content-Length; interim ``100 Continue`` skipped), or None if the
    server closed without one."""
    sock.settimeout(deadline)
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            chunk = _recv(sock)
            if not chunk:
                return None
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        if status != 100:
            break
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(data) < length:
        chunk = _recv(sock)
        if not chunk:
            break
        data += chunk
    return RawAnswer(status, headers, data[:length])


def _recv(sock) -> bytes:
    try:
        return sock.recv(65536)
    except (ConnectionResetError, socket.timeout, TimeoutError):
        return b""


def exchange(port: int, data: bytes, deadline: float = 5.0) -> RawAnswer | None:
    """Send ``data`` on a fresh connection and read one answer."""
    with connect(port) as sock:
        sock.sendall(data)
        return read_answer(sock, deadline)


def closed_by_server(sock: socket.socket, wait: float) -> bool:
    """True when the server closes ``sock`` (EOF or reset) within ``wait`` seconds."""
    sock.settimeout(0.05)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except (socket.timeout, TimeoutError):
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False
