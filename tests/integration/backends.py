"""Real TCP backends for traffic tests: each connection is served on its own thread."""

from __future__ import annotations

import socket
import threading


class TcpBackend:
    """Accepts on 127.0.0.1:<free port> and hands each connection to ``talk``.

    A connection reset by a health probe or an impatient client ends that talk quietly.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._guarded, args=(conn,), daemon=True).start()

    def _guarded(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.talk(conn)
            except OSError:
                return

    def talk(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Shut down first: a socket closed while accept() waits would keep listening."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class NamedBackend(TcpBackend):
    """Answers every connection with its name, then echoes until the client closes."""

    def __init__(self, name: str) -> None:
        self.name = name.encode()
        super().__init__()

    def talk(self, conn: socket.socket) -> None:
        conn.sendall(self.name)
        while data := conn.recv(65536):
            conn.sendall(data)


class CannedBackend(TcpBackend):
    """Reads one request and answers it with one canned reply, then closes."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        super().__init__()

    def talk(self, conn: socket.socket) -> None:
        conn.settimeout(1)
        conn.recv(4096)
        conn.sendall(self.reply)
