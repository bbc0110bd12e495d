"""Several openclb nodes, each in a network namespace the test creates and removes itself.

The layout (``Network``), every address private to the test and gone with it:

- a bridge in the root namespace with ``10.251.N.1/24``: where the test process talks to the
  nodes' APIs, where the targets (``GreetingBackend``) listen, and where a ``TcpRelay`` passes
  the nodes' PostgreSQL connections on to the test database (the nodes cannot see the root
  namespace's loopback);
- one namespace per node (``10.251.N.11``, ``.12``, ...) on that bridge through a veth pair;
  its ``openclb serve --node-name`` runs inside it (``ip netns exec``);
- a client namespace (``10.251.N.2``) from which traffic reaches the VIPs (``probe``).

Without VRRP (``--ha none``) every node serves the VIP pool ``10.252.N.0/24`` on its own
loopback (``ip route add local``: every address of it is local there), and the client's
route to the pool names the node it goes through (``route_vips_through``).

A missing requirement (root, ``ip netns``, PostgreSQL, keepalived where asked for) fails the
test with what to install: a multi-node test never skips silently.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import PG_URL, SECRET_ID, SECRET_KEY
from gateway_support import ServeProcess, clean_env

NODE_API_PORT = 9180
# Every node of one store opens its sealed private keys with the same master key.
SHARED_MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
PROBE = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
        s.settimeout(float(sys.argv[3]))
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        sys.stdout.write(data.decode(errors="replace"))
except OSError as exc:
    sys.stdout.write("ERR " + type(exc).__name__)
"""


def require_multi_node(keepalived: bool = False) -> None:
    """Fail (never skip) with what is missing for a multi-node test."""
    problems = []
    if os.geteuid() != 0:
        problems.append("root (network namespaces are created by the test)")
    if shutil.which("ip") is None:
        problems.append("iproute2's `ip` (apt-get install iproute2)")
    if keepalived and shutil.which("keepalived") is None:
        problems.append("keepalived (scripts/provision-deps test installs it)")
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        problems.append(f"PostgreSQL at {PG_URL.split('@')[-1]} ({type(exc).__name__})")
    if problems:
        pytest.fail("multi-node tests need: " + "; ".join(problems))


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def in_ns(namespace: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh("ip", "netns", "exec", namespace, *args, check=check)


def _free_octet() -> int:
    taken = sh("ip", "-4", "-o", "addr").stdout
    choices = [n for n in range(1, 255) if f"10.251.{n}." not in taken]
    return random.choice(choices)


@dataclass
class Network:
    """A bridge, the nodes' namespaces and the client's; ``remove`` undoes all of it."""

    node_names: tuple[str, ...]
    # With VRRP the VIPs are addresses of the bridge's subnet that keepalived moves between
    # the nodes' eth0; without, every node serves the VIP pool on its loopback.
    vrrp: bool = False
    octet: int = field(default_factory=_free_octet)

    @property
    def tag(self) -> str:
        return f"{self.octet:02x}"

    @property
    def bridge(self) -> str:
        return f"ocb{self.tag}"

    @property
    def host_ip(self) -> str:
        return f"10.251.{self.octet}.1"

    @property
    def client_ip(self) -> str:
        return f"10.251.{self.octet}.2"

    @property
    def vip_pool(self) -> str:
        return f"10.251.{self.octet}.128/25" if self.vrrp else f"10.252.{self.octet}.0/24"

    @property
    def router_id(self) -> int:
        """A VRRP virtual router id of this network's own."""
        return self.octet

    def namespace(self, name: str) -> str:
        return f"oc{self.tag}{name}"

    def node_ip(self, name: str) -> str:
        return f"10.251.{self.octet}.{11 + self.node_names.index(name)}"

    def create(self) -> Network:
        try:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            sh("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
            sh("ip", "link", "set", self.bridge, "up")
            for name in self.node_names:
                self._join(name, self.node_ip(name))
                if not self.vrrp:
                    in_ns(self.namespace(name), "ip", "route", "add", "local", self.vip_pool, "dev", "lo")
            self._join("c", self.client_ip)
            if not self.vrrp:
                self.route_vips_through(self.node_names[0])
        except subprocess.CalledProcessError as exc:
            self.remove()
            pytest.fail(f"cannot build the test network: {exc.cmd}: {exc.stderr}")
        return self

    def _join(self, name: str, address: str) -> None:
        namespace, host_end = self.namespace(name), f"oc{self.tag}{name}h"
        sh("ip", "netns", "add", namespace)
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", f"oc{self.tag}{name}n")
        sh("ip", "link", "set", f"oc{self.tag}{name}n", "netns", namespace)
        sh("ip", "link", "set", host_end, "master", self.bridge, "up")
        in_ns(namespace, "ip", "link", "set", f"oc{self.tag}{name}n", "name", "eth0")
        in_ns(namespace, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        in_ns(namespace, "ip", "link", "set", "eth0", "up")
        in_ns(namespace, "ip", "link", "set", "lo", "up")

    def route_vips_through(self, node: str) -> None:
        """The client's traffic to the VIP pool goes through ``node``'s data plane."""
        in_ns(self.namespace("c"), "ip", "route", "replace", self.vip_pool, "via", self.node_ip(node))

    def holder(self, vip: str) -> str | None:
        """The node whose eth0 holds ``vip`` now (VRRP), if any."""
        for name in self.node_names:
            if f" {vip}/" in in_ns(self.namespace(name), "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout:
                return name
        return None

    def remove(self) -> None:
        for name in (*self.node_names, "c"):
            sh("ip", "netns", "del", self.namespace(name), check=False)
            sh("ip", "link", "del", f"oc{self.tag}{name}h", check=False)
        sh("ip", "link", "del", self.bridge, check=False)


def probe(network: Network, host: str, port: int, timeout: float = 2.0) -> str:
    """What a new TCP connection from the client namespace to ``host:port`` reads (or ``ERR ...``)."""
    result = in_ns(network.namespace("c"), sys.executable, "-c", PROBE, host, str(port), str(timeout), check=False)
    return result.stdout.strip()


STREAM = r"""
import json, socket, sys, time
host, port, seconds, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
end = time.time() + seconds
while time.time() < end:
    started = time.time()
    try:
        with socket.create_connection((host, port), timeout=0.25) as s:
            s.settimeout(0.5)
            ok = s.recv(64).endswith(b"\n")
    except OSError:
        ok = False
    print(json.dumps([started, ok]), flush=True)
    time.sleep(max(0.0, pause - (time.time() - started)))
"""


class ConnectionStream:
    """New connections from the client namespace to ``host:port`` every ``pause`` seconds, for a while."""

    def __init__(self, network: Network, host: str, port: int, seconds: float, pause: float = 0.02) -> None:
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", network.namespace("c"), sys.executable, "-c", STREAM, host, str(port),
             str(seconds), str(pause)], stdout=subprocess.PIPE, text=True)

    def results(self) -> list[tuple[float, bool]]:
        output, _ = self.process.communicate(timeout=120)
        return [tuple(json.loads(line)) for line in output.splitlines() if line.strip()]


def longest_gap(results: list[tuple[float, bool]]) -> float:
    """The longest time between two successful connections (what clients went without service)."""
    times = [started for started, ok in results if ok]
    return max((b - a for a, b in zip(times, times[1:])), default=float("inf"))


class TcpRelay:
    """Accepts on ``host`` and relays every connection to ``target``: PostgreSQL for the nodes."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


class GreetingBackend:
    """A target on the bridge: says its name and a newline to every connection, then closes."""

    def __init__(self, host: str, name: str) -> None:
        self.name = name
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(512)
        self.host, self.port = self.sock.getsockname()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.sendall(self.name.encode() + b"\n")
                except OSError:
                    pass

    def target(self) -> dict:
        return {"EniIp": self.host, "Port": self.port}

    def close(self) -> None:
        self.sock.close()


@dataclass
class Cluster:
    """Nodes on one fresh PostgreSQL schema, reached through the relay."""

    network: Network
    tmp_path: Path
    node_timeout: float = 2.0
    extra_args: tuple[str, ...] = ()
    schema: str = field(default_factory=lambda: "n_" + uuid.uuid4().hex[:12])
    nodes: dict[str, ServeProcess] = field(default_factory=dict)
    relay: TcpRelay | None = None

    def start(self) -> Cluster:
        url = sa.make_url(PG_URL)
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {self.schema}"))
        engine.dispose()
        self.relay = TcpRelay(self.network.host_ip, (url.host or "127.0.0.1", url.port or 5432))
        for name in self.network.node_names:
            self.nodes[name] = self._node(name).start()
        return self

    @property
    def store_url(self) -> str:
        """The store as the nodes reach it (through the relay)."""
        url = sa.make_url(PG_URL)
        return (f"postgresql://{url.username or 'postgres'}@{self.network.host_ip}:{self.relay.port}/"
                f"{url.database}?options=-csearch_path%3D{self.schema}")

    @property
    def local_store_url(self) -> str:
        """The same store as the test process reaches it."""
        return f"{PG_URL}?options=-csearch_path%3D{self.schema}"

    def _node(self, name: str) -> ServeProcess:
        data_dir = self.tmp_path / name
        data_dir.mkdir(exist_ok=True)
        args = ["--listen", f"{self.network.node_ip(name)}:{NODE_API_PORT}", "--data-dir", str(data_dir),
                "--store", self.store_url, "--node-name", name, "--node-timeout", str(self.node_timeout),
                "--vip-pool", self.network.vip_pool, "--metrics-listen", "off", "--drain-seconds", "0",
                "--rate-limit", "*=1000", "--workers", "1", *self.extra_args]
        env = clean_env(self.tmp_path, OPENCLB_SECRET_ID=SECRET_ID, OPENCLB_SECRET_KEY=SECRET_KEY,
                        OPENCLB_MASTER_KEY=SHARED_MASTER_KEY)
        return ServeProcess(args, env, self.tmp_path / f"{name}.log",
                            prefix=("ip", "netns", "exec", self.network.namespace(name)))

    def url(self, name: str) -> str:
        return f"http://{self.network.node_ip(name)}:{NODE_API_PORT}"

    def stop(self) -> None:
        for process in self.nodes.values():
            try:
                process.stop()
            except Exception:
                pass
        if self.relay is not None:
            self.relay.close()
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"))
        engine.dispose()


def run_cluster(network: Network, data_dir: Path, extra_args: tuple[str, ...] = ()) -> Iterator[Cluster]:
    """A module fixture's body: the nodes started on ``network`` (created), then stopped and the
    network removed, whatever the tests did."""
    running = Cluster(network, data_dir, extra_args=extra_args)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        network.remove()
