"""HTTP/2 to clients: openclb's HTTPS listener (Http2 on) vs HAProxy's h2 frontend, with h2load.

Set-up: nginx answers a small fixed body on two ports (the backends, HTTP/1.1 as the CLB's
targets are). HAProxy (one thread) binds TLS with ALPN ``h2,http/1.1`` in ``mode http`` over
both; openclb gets an HTTPS listener with the same certificate (uploaded through the SDK) and
one rule with Http2 on, KeepaliveEnable on so streams reuse target connections as HAProxy's
do. h2load (Debian's nghttp2-client) opens a few TLS connections and keeps
many streams in flight on each; each path is run in turn per round, medians reported. CPU per
request is read from the proxy's /proc/<pid>/stat, as in the data-plane area.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from benchmarks import clb, peers
from benchmarks.harness import Bench, CpuMeter, accepts, free_ports, median, wait_until
from benchmarks.report import Section, Table, fmt, ratio_check

DOMAIN = "bench.test"
H2_PORT = 8443
CLIENTS = 4
STREAMS = 16
_FINISHED = re.compile(r"finished in [\d.]+m?s, ([\d.]+) req/s")
_REQUESTS = re.compile(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored")


def _certificate() -> tuple[str, str]:
    """A self-signed certificate for DOMAIN (PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def _start_haproxy(bench: Bench, port: int, backends: list[tuple[str, int]], bundle: str):
    pem = bench.workdir / "h2-haproxy.pem"
    pem.write_text(bundle)
    config = bench.workdir / "h2-haproxy.cfg"
    config.write_text("\n".join([
        "global", "  nbthread 1", "  maxconn 4000", "",
        "defaults", "  mode http", "  timeout connect 5s", "  timeout client 300s", "  timeout server 300s", "",
        "frontend fe_h2", f"  bind 127.0.0.1:{port} ssl crt {pem} alpn h2,http/1.1", "  option forwardfor",
        "  default_backend be_h2", "",
        "backend be_h2", "  balance roundrobin",
        *[f"  server s{i} {host}:{p}" for i, (host, p) in enumerate(backends)], "",
    ]))
    bench.run(["haproxy", "-c", "-q", "-f", config], timeout=120)
    service = bench.spawn("h2-haproxy", ["haproxy", "-db", "-f", config])
    if not wait_until(lambda: accepts("127.0.0.1", port) or not service.alive(), 60, 0.01) or not service.alive():
        raise RuntimeError(f"haproxy h2 did not start: {service.log_tail()}")
    return service


def start_openclb(bench: Bench, name: str, network: str, port: int, backends: list[tuple[str, int]], cert: str,
                  key: str, listener_fields: dict, rule_fields: dict):
    """An openclb server with one HTTPS listener on ``port`` and one rule for DOMAIN over
    ``backends``; (server, VIP). ``listener_fields``/``rule_fields`` add to the API calls."""
    server = clb.OpenclbServer(bench, name, network).start()
    client = server.client()
    lb_id, vip = clb.create_clb(client, f"bench-{name}")
    created = clb.call(client, "CreateListener", {
        "LoadBalancerId": lb_id, "Protocol": "HTTPS", "Ports": [port], **listener_fields,
        "Certificate": {"CertName": "bench", "CertContent": cert, "CertKey": key}})
    clb.wait_task(client, created["RequestId"])
    listener_id = created["ListenerIds"][0]
    rule = clb.call(client, "CreateRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Rules": [
        {"Domain": DOMAIN, "Url": "/", **rule_fields, "HealthCheck": clb.HEALTH_OFF}]})
    clb.wait_task(client, rule["RequestId"])
    registered = clb.call(client, "RegisterTargets", {
        "LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": rule["LocationIds"][0],
        "Targets": [{"EniIp": ip, "Port": port} for ip, port in backends]})
    clb.wait_task(client, registered["RequestId"])
    return server, vip


def measure(bench: Bench, rounds: int, requests: int, paths: dict[str, tuple[Callable, str, int, int]]) -> dict:
    """Each path (name: (driver, host, port, pid of the server measured)) in turn, ``rounds``
    times: per name the requests/s and server CPU µs per request of each round, and failures."""
    series = {name: {"rps": [], "cpu_us": [], "failed": 0} for name in paths}
    for _ in range(rounds):
        for name, (drive, host, port, pid) in paths.items():
            with CpuMeter(pid) as meter:
                result = drive(bench, host, port, requests)
            series[name]["rps"].append(result["rps"])
            series[name]["failed"] += result["failed"]
            if result["succeeded"]:
                series[name]["cpu_us"].append(meter.cpu / result["succeeded"] * 1e6)
    return series


def _h2load(bench: Bench, host: str, port: int, requests: int) -> dict:
    result = bench.run(["h2load", "-n", str(requests), "-c", str(CLIENTS), "-m", str(STREAMS),
                        "--connect-to", f"{host}:{port}", f"https://{DOMAIN}:{port}/"], timeout=300)
    finished, counts = _FINISHED.search(result.stdout), _REQUESTS.search(result.stdout)
    if finished is None or counts is None:
        raise RuntimeError(f"h2load gave no summary: {result.stdout[-500:]}")
    return {"rps": float(finished.group(1)), "succeeded": int(counts.group(2)),
            "failed": int(counts.group(3)) + int(counts.group(4))}


def run_http2(bench: Bench, progress: Callable[[str], None]) -> list[Section]:
    rounds = bench.pick(1, 3)
    requests = bench.pick(3000, 20000)
    nginx_a, nginx_b, ha_port = free_ports(3)
    backends = [("127.0.0.1", nginx_a), ("127.0.0.1", nginx_b)]
    peers.start_nginx(bench, "h2-nginx", backends)
    cert, key = _certificate()
    haproxy = _start_haproxy(bench, ha_port, backends, cert + key)
    server, vip = start_openclb(bench, "h2-openclb", "127.83.0.0/24", H2_PORT, backends, cert, key,
                                {"KeepaliveEnable": 1}, {"Http2": True})
    progress("HTTP/2 (h2load)")
    series = measure(bench, rounds, requests, {"haproxy": (_h2load, "127.0.0.1", ha_port, haproxy.pid),
                                               "openclb": (_h2load, vip, H2_PORT, server.pid)})
    section = Section("HTTP/2 to clients (HTTPS, ALPN h2)")
    table = Table("HTTP/2: h2load through an HTTPS listener", ["Path", "Requests/s", "Proxy CPU µs/request",
                                                              "Failed (all runs)"])
    for name, row in series.items():
        table.rows.append([name, fmt(median(row["rps"]), 0), fmt(median(row["cpu_us"]), 1), str(row["failed"])])
    table.notes.append(f"h2load -n {requests} -c {CLIENTS} -m {STREAMS}, {rounds} run(s) per path, medians. "
                       "Backends: nginx (HTTP/1.1). Both reuse their target connections across streams "
                       "(openclb: KeepaliveEnable on; HAProxy: http-reuse safe, its default).")
    section.tables.append(table)
    section.checks.append(ratio_check("HTTP/2: requests/s vs HAProxy's h2 frontend",
                                      median(series["openclb"]["rps"]), median(series["haproxy"]["rps"]), ">=", 0.7))
    section.checks.append(ratio_check("HTTP/2: proxy CPU per request vs HAProxy (info)",
                                      median(series["openclb"]["cpu_us"]), median(series["haproxy"]["cpu_us"]),
                                      "<=", 1.25, "not a target of the issue; shown because req/s is noisy"))
    return [section]
