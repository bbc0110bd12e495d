"""Real sockets for traffic tests: TCP targets on their own threads, free ports, probes.

A target never shares an event loop with the openclb under test: its listening socket is
served by a thread of its own and each accepted connection by another, so what a test sees
is what the engine relayed, on whichever loop the engine runs. Every target listens on
127.0.0.1 on a port the kernel chose. ``close`` stops listening and shuts every open
connection, so the target is gone at once (a socket merely closed while ``accept`` waits
on it would keep listening until one more connection came).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import threading

from openclb.engine.spec import TargetSpec


class TcpBackend:
    """Accepts on 127.0.0.1:<free port> and hands each connection to ``talk`` on its own thread.

    ``accepted`` counts connections accepted; a connection reset by a health probe or an
    impatient client ends its talk quietly.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.closed = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def target(self, weight: int = 10) -> TargetSpec:
        """This backend as an engine target."""
        return TargetSpec("127.0.0.1", self.port, weight)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._open.add(conn)
            threading.Thread(target=self._guarded, args=(conn,), daemon=True).start()

    def _guarded(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.talk(conn)
            except OSError:
                pass
            finally:
                with self._lock:
                    self._open.discard(conn)

    def talk(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            self.closed = True
            sockets = [self.sock, *self._open]
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()


class NamedBackend(TcpBackend):
    """Says its name (then ``end``), echoes until the client half-closes, then says ``bye\\n``.

    ``half_closes`` counts the connections whose client half-closed.
    """

    def __init__(self, name: str, end: bytes = b"") -> None:
        self.name = name
        self.greeting = name.encode() + end
        self.half_closes = 0
        super().__init__()

    def talk(self, conn: socket.socket) -> None:
        conn.sendall(self.greeting)
        while data := conn.recv(65536):
            conn.sendall(data)
        if self.closed:
            return
        with self._lock:
            self.half_closes += 1
        conn.sendall(b"bye\n")


class SilentBackend(TcpBackend):
    """Accepts and reads, never answers: a target that owes a response it will not give."""

    def talk(self, conn: socket.socket) -> None:
        while conn.recv(65536):
            pass


class CannedBackend(TcpBackend):
    """Reads one request and answers it with one canned reply, then closes."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        super().__init__()

    def talk(self, conn: socket.socket) -> None:
        conn.settimeout(1)
        conn.recv(4096)
        conn.sendall(self.reply)


class FloodBackend(TcpBackend):
    """Sends ``TOTAL`` bytes to a connection as fast as the socket takes them, then closes.

    ``sent`` is what the kernel has taken so far on the latest connection: a blocking send
    waits while the peer does not read, so it shows how much back-pressure let through.
    """

    TOTAL = 50 * 1024 * 1024
    CHUNK = b"x" * 65536

    def __init__(self) -> None:
        self.sent = 0
        super().__init__()

    def talk(self, conn: socket.socket) -> None:
        self.sent = 0
        while self.sent < self.TOTAL:
            conn.sendall(self.CHUNK)
            self.sent += len(self.CHUNK)


# Ports and probes -------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM, span: int = 1) -> int:
    """A port (or the first of ``span`` consecutive ports) free on ``host`` for TCP and UDP."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((host, 0))
            start = probe.getsockname()[1]
        if start + span >= 65535:
            continue
        if all(port_free(host, port) for port in range(start, start + span)):
            return start
    raise RuntimeError("no free port range")


def port_free(host: str, port: int, kinds: tuple[int, ...] = (socket.SOCK_STREAM, socket.SOCK_DGRAM)) -> bool:
    """Whether ``port`` on ``host`` can be bound for every socket kind in ``kinds``."""
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def accepts_tcp(host: str, port: int) -> bool:
    """Whether a TCP connection to ``host:port`` is accepted within a second."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def first_bytes(host: str, port: int) -> bytes:
    """The first bytes the target behind ``host:port`` says (a NamedBackend's name)."""
    with socket.create_connection((host, port), timeout=2) as conn:
        return conn.recv(16)


def open_fds() -> int:
    """How many file descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """This process's resident memory."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class ProxyProtocolBackend(TcpBackend):
    """A target that requires a PROXY protocol header (v1 or v2) first, as nginx's
    ``listen ... proxy_protocol`` does, then answers one line: the addresses it was given.

    The reply is ``<version> <src ip> <src port> <dst ip> <dst port>\\n`` followed by an echo
    of what the client sends; a connection without a valid header gets ``bad header\\n`` and
    is closed. ``peers`` keeps every (src ip, src port) the target actually saw on its socket.
    """

    V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"

    def __init__(self) -> None:
        self.peers: list[tuple[str, int]] = []
        super().__init__()

    def talk(self, conn: socket.socket) -> None:
        self.peers.append(conn.getpeername())
        conn.settimeout(5)
        reader = conn.makefile("rb")
        try:
            version, source, destination = self.read_header(reader)
        except (ValueError, OSError):
            conn.sendall(b"bad header\n")
            return
        conn.sendall(b"%s %s %d %s %d\n" % (version, source[0].encode(), source[1], destination[0].encode(),
                                             destination[1]))
        while data := reader.read1(65536):
            conn.sendall(data)

    @classmethod
    def read_header(cls, reader) -> tuple[bytes, tuple[str, int], tuple[str, int]]:
        """(b"v1" or b"v2", source, destination) read off the front of the stream."""
        start = reader.read(12)
        if start == cls.V2_SIGNATURE:
            command, family, length = struct.unpack("!BBH", reader.read(4))
            body = reader.read(length)
            if command != 0x21 or family not in (0x11, 0x21):
                raise ValueError("not a PROXY command over TCP")
            size = 4 if family == 0x11 else 16
            src, dst = (str(ipaddress.ip_address(body[i * size:(i + 1) * size])) for i in (0, 1))
            sport, dport = struct.unpack("!HH", body[2 * size:2 * size + 4])
            return b"v2", (src, sport), (dst, dport)
        if start.startswith(b"PROXY "):
            line = (start + reader.readline(96)).rstrip(b"\r\n").split(b" ")
            if len(line) != 6 or line[1] not in (b"TCP4", b"TCP6"):
                raise ValueError("not a PROXY v1 line")
            return b"v1", (line[2].decode(), int(line[4])), (line[3].decode(), int(line[5]))
        raise ValueError("no PROXY header")
