"""The peers openclb is measured against (HAProxy 2.6) and the backends behind all of them.

Tools come from Debian's packages: when one is missing, ``ensure_tools`` runs
``apt-get update`` once and ``apt-get install -y`` for what is missing (root only).

Configurations are generated into the run's scratch directory, checked (``haproxy -c``) and
run in the foreground as single processes so /proc/<pid>/stat is the whole of each:
- nginx (``master_process off``, one worker) answers every request with a small fixed body;
  it is the backend for wrk and the accepter for TCP health checks.
- HAProxy runs ``-db`` with ``nbthread 1``: openclb's data plane is one event loop on one
  core, so one HAProxy thread is the like-for-like peer (the table says so).
- iperf3 servers are the backends for bulk TCP and for UDP.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import Bench, Service, accepts, tcp_listening, wait_until

TOOLS = {"wrk": "wrk", "iperf3": "iperf3", "haproxy": "haproxy", "nginx": "nginx-light", "h2load": "nghttp2-client"}
NGINX_BODY = "hello from the openclb benchmark backend\n"


def ensure_tools(bench: Bench) -> None:
    """Install the missing tools from Debian's packages, or explain how to."""
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"missing tools; install them with: apt-get install -y {' '.join(missing)}")
    print(f"installing {' '.join(missing)} from Debian packages ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", *missing]):
        bench.note(argv)
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, timeout=900)


def tool_versions(bench: Bench) -> dict[str, str]:
    """First line of each tool's version output, for the results header."""
    probes = {
        "haproxy": ["haproxy", "-v"], "nginx": ["nginx", "-v"], "wrk": ["wrk", "-v"], "iperf3": ["iperf3", "--version"],
        "h2load": ["h2load", "--version"],
    }
    versions = {}
    for name, argv in probes.items():
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            versions[name] = "not found"
            continue
        text = (result.stdout + result.stderr).strip().splitlines()
        versions[name] = text[0].strip() if text else "?"
    return versions


# -- nginx -------------------------------------------------------------------------------


def render_nginx_config(workdir: Path, listens: Sequence[tuple[str, int]], status_port: int | None = None) -> str:
    """One server block answering ``NGINX_BODY`` on every (host, port) in ``listens``; with
    ``status_port``, a stub_status page on 127.0.0.1 counting accepted connections."""
    temp = workdir / "nginx-temp"
    temp.mkdir(exist_ok=True)
    listen_lines = "\n".join(f"    listen {host}:{port} backlog=4096;" for host, port in listens)
    temp_paths = "\n".join(
        f"  {kind}_temp_path {temp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    body = NGINX_BODY.replace("\n", "\\n")
    status = ""
    if status_port is not None:
        status = f"  server {{\n    listen 127.0.0.1:{status_port};\n    location / {{ stub_status; }}\n  }}\n"
    return f"""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 19000;
pid {workdir}/nginx-{listens[0][1]}.pid;
error_log {workdir}/nginx-{listens[0][1]}.error.log error;
events {{
  worker_connections 18000;
  multi_accept on;
}}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type text/plain;
{temp_paths}
  server {{
{listen_lines}
    location / {{ return 200 "{body}"; }}
  }}
{status}}}
"""


def start_nginx(bench: Bench, name: str, listens: Sequence[tuple[str, int]], ready_timeout: float = 30,
                status_port: int | None = None) -> Service:
    config = bench.workdir / f"{name}.conf"
    config.write_text(render_nginx_config(bench.workdir, listens, status_port))
    service = bench.spawn(name, ["nginx", "-c", str(config), "-e", str(bench.workdir / f"{name}.stderr.log")])
    host, port = listens[-1]
    if not wait_until(lambda: accepts(host, port) or not service.alive(), ready_timeout) or not service.alive():
        raise RuntimeError(f"nginx {name} did not start: {service.log_tail()}")
    return service


def nginx_accepted(status_port: int) -> int:
    """Connections nginx has accepted since it started (its stub_status counter)."""
    conn = http.client.HTTPConnection("127.0.0.1", status_port, timeout=10)
    conn.request("GET", "/")
    lines = conn.getresponse().read().decode().splitlines()
    conn.close()
    return int(lines[2].split()[0])


# -- HAProxy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Frontend:
    """One ``mode tcp`` frontend and its backend: bind address, servers, optional checks."""

    name: str
    bind: tuple[str, int]
    servers: Sequence[tuple[str, int]]
    check_inter_s: float | None = None
    check_timeout_s: float = 2.0
    rise: int = 3
    fall: int = 3
    mode: str = "tcp"


@dataclass
class HaproxyConfig:
    frontends: list[Frontend] = field(default_factory=list)
    nbthread: int = 1
    maxconn: int = 4000
    stats_socket: Path | None = None

    def render(self) -> str:
        lines = ["global", f"  nbthread {self.nbthread}", f"  maxconn {self.maxconn}"]
        if self.stats_socket is not None:
            lines.append(f"  stats socket {self.stats_socket} mode 600 level admin")
        lines += [
            "",
            "defaults",
            "  mode tcp",
            "  timeout connect 5s",
            "  timeout client 300s",
            "  timeout server 300s",
            "",
        ]
        for fe in self.frontends:
            # mode http: keep-alive both sides (2.6's default) and X-Forwarded-For, as openclb's HTTP listener does
            http = ["  mode http", "  option forwardfor", "  timeout http-request 10s"] if fe.mode == "http" else []
            lines += [f"frontend fe_{fe.name}", f"  bind {fe.bind[0]}:{fe.bind[1]}", *http,
                      f"  default_backend be_{fe.name}", ""]
            lines += [f"backend be_{fe.name}", "  balance roundrobin", *http[:1]]
            if fe.check_inter_s is not None:
                lines.append(f"  timeout check {fe.check_timeout_s:g}s")
            for index, (host, port) in enumerate(fe.servers):
                check = ""
                if fe.check_inter_s is not None:
                    check = f" check inter {fe.check_inter_s:g}s rise {fe.rise} fall {fe.fall}"
                lines.append(f"  server s{index} {host}:{port}{check}")
            lines.append("")
        return "\n".join(lines)


def start_haproxy(bench: Bench, name: str, config: HaproxyConfig, ready_timeout: float = 60) -> Service:
    """Check the config with ``haproxy -c``, then run it in the foreground until every frontend binds."""
    path = bench.workdir / f"{name}.cfg"
    path.write_text(config.render())
    bench.run(["haproxy", "-c", "-q", "-f", path], timeout=120)
    service = bench.spawn(name, ["haproxy", "-db", "-f", path])
    host, port = config.frontends[-1].bind
    if not wait_until(lambda: accepts(host, port) or not service.alive(), ready_timeout, 0.005) or not service.alive():
        raise RuntimeError(f"haproxy {name} did not start: {service.log_tail()}")
    return service


def haproxy_checks_passing(stats_socket: Path) -> tuple[int, int]:
    """(servers whose last check passed, servers with checks) from the stats socket's ``show stat``."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(str(stats_socket))
        conn.sendall(b"show stat\n")
        chunks = []
        while chunk := conn.recv(1 << 16):
            chunks.append(chunk)
    rows = b"".join(chunks).decode(errors="replace").splitlines()
    header = rows[0].lstrip("# ").split(",")
    svname, check = header.index("svname"), header.index("check_status")
    passing = total = 0
    for row in rows[1:]:
        fields = row.split(",")
        if len(fields) <= check or fields[svname] in ("FRONTEND", "BACKEND") or not fields[check]:
            continue
        total += 1
        passing += fields[check].lstrip("* ") == "L4OK"
    return passing, total


# -- iperf3 ------------------------------------------------------------------------------


def start_iperf3_server(bench: Bench, name: str, host: str, port: int) -> Service:
    service = bench.spawn(name, ["iperf3", "-s", "-B", host, "-p", str(port)])
    if not wait_until(lambda: tcp_listening(port) or not service.alive(), 10) or not service.alive():
        raise RuntimeError(f"iperf3 server {name} did not start: {service.log_tail()}")
    return service
