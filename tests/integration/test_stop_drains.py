"""Stopping an openclb server under traffic, set up through the official SDK.

On stop every listener stops accepting at once, established connections get
``drain_seconds`` to finish (an in-flight request to a slow real server completes), and what
is still open after that is closed. A listener deleted with DeleteListener closes its port
before its task succeeds while its established connections drain. TCP is checked on the
embedded engine and on HAProxy, HTTP on the embedded engine (the one that serves it).
Every backend is a real server on loopback and every wait is bounded.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from tencentcloud.clb.v20180317 import models

from backends import NamedBackend, TcpBackend
from clb_support import create_clb_with_vip, create_listener, create_rules, register, task_status, write
from conftest import RunningServer, sdk_client

ENGINES = ["embedded", "haproxy"]
NO_CHECK = {"HealthSwitch": 0}


class SlowBackend(TcpBackend):
    """Reads one request, answers ``done:<request>`` after ``delay`` seconds, then closes.

    ``arrived`` is set when a request has been read: it is then in flight.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrived = threading.Event()
        super().__init__()

    def talk(self, conn: socket.socket) -> None:
        request = conn.recv(65536)
        if not request:
            return
        self.arrived.set()
        time.sleep(self.delay)
        conn.sendall(b"done:" + request)


class SlowHttpBackend(TcpBackend):
    """Answers each HTTP request on a connection; ``/slow`` after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrived = threading.Event()
        super().__init__()

    def talk(self, conn: socket.socket) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            if head.startswith(b"GET /slow"):
                self.arrived.set()
                time.sleep(self.delay)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")


class Stopping:
    """``OpenClb.stop()`` on a thread of its own; ``wait()`` returns how long it took.

    The server's loop keeps running, so the fixture's teardown stops it as usual.
    """

    def __init__(self, server: RunningServer) -> None:
        self.started = time.monotonic()
        self.finished: float | None = None
        self.thread = threading.Thread(target=self._stop, args=(server,), daemon=True)
        self.thread.start()

    def _stop(self, server: RunningServer) -> None:
        server.run(server.server.stop())
        self.finished = time.monotonic()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def wait(self, timeout: float) -> float:
        self.thread.join(timeout)
        assert self.finished is not None, f"stop did not return within {timeout} s"
        return self.finished - self.started


@pytest.fixture
def slow_backends():
    started: list[TcpBackend] = []

    def make(kind, delay: float):
        backend = kind(delay)
        started.append(backend)
        return backend

    yield make
    for backend in started:
        backend.close()


def tcp_listener(client, port: int, backend_port: int) -> tuple[str, str, str]:
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = write(client, "CreateListener", {
        "LoadBalancerId": lb_id, "Ports": [port], "Protocol": "TCP", "HealthCheck": NO_CHECK})["ListenerIds"]
    write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                      "Targets": [{"EniIp": "127.0.0.1", "Port": backend_port}]})
    return lb_id, vip, listener_id


def http_listener(client, port: int, backend_port: int) -> str:
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [port])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "drain.test", "Url": "/"}])
    register(client, lb_id, listener_id, [backend_port], location_id)
    return vip


def refuses_soon(vip: str, port: int, within: float = 2.0) -> bool:
    """Whether a new connection to ``vip:port`` is refused within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((vip, port), timeout=0.5):
                pass
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def read_to_end(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def closed_within(sock: socket.socket, timeout: float) -> bool:
    """Whether the peer ends the connection (EOF or reset) within ``timeout`` seconds."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return True


@pytest.mark.parametrize("engine", ENGINES)
def test_stop_server_tcp_request_in_flight_finishes_within_grace(server_factory, slow_backends, engine):
    server = server_factory(engine=engine, drain_seconds=5)
    client = sdk_client(server.url)
    backend = slow_backends(SlowBackend, 1.0)
    _, vip, _ = tcp_listener(client, 8611, backend.port)
    with socket.create_connection((vip, 8611), timeout=5) as sock:
        sock.sendall(b"ping")
        assert backend.arrived.wait(3)

        stopping = Stopping(server)
        assert refuses_soon(vip, 8611)
        assert stopping.running
        assert read_to_end(sock) == b"done:ping"
    assert 0.8 < stopping.wait(10) < 4


@pytest.mark.parametrize("engine", ENGINES)
def test_stop_server_tcp_connection_open_past_grace_is_closed(server_factory, engine):
    server = server_factory(engine=engine, drain_seconds=1)
    client = sdk_client(server.url)
    backend = NamedBackend("echo")
    try:
        _, vip, _ = tcp_listener(client, 8612, backend.port)
        with socket.create_connection((vip, 8612), timeout=5) as sock:
            assert sock.recv(4) == b"echo"
            stopping = Stopping(server)
            time.sleep(0.4)
            sock.sendall(b"still here")
            assert sock.recv(64) == b"still here"
            assert closed_within(sock, 3)
        assert 0.9 < stopping.wait(10) < 4
    finally:
        backend.close()


def test_stop_server_http_request_in_flight_finishes_within_grace(server_factory, slow_backends):
    server = server_factory(engine="embedded", drain_seconds=5)
    client = sdk_client(server.url)
    backend = slow_backends(SlowHttpBackend, 1.0)
    vip = http_listener(client, 8613, backend.port)
    with socket.create_connection((vip, 8613), timeout=5) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: drain.test\r\n\r\n")
        assert backend.arrived.wait(3)

        stopping = Stopping(server)
        assert refuses_soon(vip, 8613)
        assert stopping.running
        head, _, body = read_to_end(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b"done"
    assert b"connection: close" in head.lower()
    assert 0.8 < stopping.wait(10) < 4


def test_stop_server_http_idle_keepalive_connection_closed_promptly(server_factory, slow_backends):
    server = server_factory(engine="embedded", drain_seconds=5)
    client = sdk_client(server.url)
    backend = slow_backends(SlowHttpBackend, 0)
    vip = http_listener(client, 8614, backend.port)
    with socket.create_connection((vip, 8614), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: drain.test\r\n\r\n")
        sock.settimeout(3)
        assert sock.recv(65536).endswith(b"done")

        stopping = Stopping(server)
        assert closed_within(sock, 1)
    assert stopping.wait(10) < 2


@pytest.mark.parametrize("engine", ENGINES)
def test_delete_listener_under_traffic_port_closed_and_request_in_flight_finishes(server_factory, slow_backends,
                                                                                  engine):
    server = server_factory(engine=engine, drain_seconds=5)
    client = sdk_client(server.url)
    backend = slow_backends(SlowBackend, 1.5)
    lb_id, vip, listener_id = tcp_listener(client, 8615, backend.port)
    with socket.create_connection((vip, 8615), timeout=5) as sock:
        sock.sendall(b"ping")
        assert backend.arrived.wait(3)

        started = time.monotonic()
        request = models.DeleteListenerRequest()
        request.LoadBalancerId = lb_id
        request.ListenerId = listener_id
        assert task_status(client, client.DeleteListener(request).RequestId) == 0
        assert time.monotonic() - started < 1.2
        assert refuses_soon(vip, 8615, within=0.5)
        assert read_to_end(sock) == b"done:ping"


@pytest.mark.parametrize("engine", ENGINES)
def test_delete_listener_connection_open_past_grace_is_closed(server_factory, engine):
    server = server_factory(engine=engine, drain_seconds=1)
    client = sdk_client(server.url)
    backend = NamedBackend("echo")
    try:
        lb_id, vip, listener_id = tcp_listener(client, 8616, backend.port)
        with socket.create_connection((vip, 8616), timeout=5) as sock:
            assert sock.recv(4) == b"echo"
            started = time.monotonic()
            write(client, "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id})
            assert refuses_soon(vip, 8616, within=0.5)
            sock.sendall(b"still here")
            assert sock.recv(64) == b"still here"
            assert closed_within(sock, 3)
            assert 0.9 < time.monotonic() - started < 3
    finally:
        backend.close()
