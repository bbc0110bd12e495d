"""Clients and targets for admission tests: what a client at a chosen loopback source address sees.

``tcp_outcome`` connects from ``source`` (e.g. 127.0.0.2 or 127.0.0.3), reads the target's
greeting, and reports what happened: the bytes, ``"reset"`` (ECONNRESET), ``"closed"`` (closed
without a byte), ``"refused"`` (nothing listens) or ``"silent"`` (no answer in time).
``UdpEchoBackend`` is a UDP target on its own thread that answers each datagram with
``<name>:<datagram>``; ``udp_ask`` sends one datagram from ``source`` and waits for the answer.
"""

from __future__ import annotations

import socket
import threading
import time


def tcp_outcome(vip: str, port: int, source: str = "127.0.0.1", timeout: float = 2.0) -> bytes | str:
    sock = socket.socket()
    sock.settimeout(timeout)
    try:
        sock.bind((source, 0))
        try:
            sock.connect((vip, port))
        except ConnectionRefusedError:
            return "refused"
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            return "silent"
        try:
            data = sock.recv(64)
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            return "silent"
        return data or "closed"
    finally:
        sock.close()


def tcp_first_byte_seconds(vip: str, port: int, source: str = "127.0.0.1") -> tuple[bytes | str, float]:
    """The outcome of one connection and the seconds from connect() to it."""
    started = time.monotonic()
    outcome = tcp_outcome(vip, port, source)
    return outcome, time.monotonic() - started


class UdpEchoBackend:
    def __init__(self, name: str) -> None:
        self.name = name.encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self._closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                data, addr = self.sock.recvfrom(65536)
            except OSError:
                return
            self.received += 1
            try:
                self.sock.sendto(self.name + b":" + data, addr)
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self.sock.close()


def udp_ask(vip: str, port: int, payload: bytes, source: str = "127.0.0.1", timeout: float = 0.5,
            sock: socket.socket | None = None) -> bytes | None:
    """One datagram from ``source`` (or on ``sock``); the answer, or None when none came in time."""
    own = sock is None
    if own:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((source, 0))
    sock.settimeout(timeout)
    try:
        sock.sendto(payload, (vip, port))
        try:
            return sock.recv(65536)
        except TimeoutError:
            return None
    finally:
        if own:
            sock.close()
