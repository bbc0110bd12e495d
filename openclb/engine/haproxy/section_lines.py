"""Lines every section ``render`` writes shares: servers, health checks, balancing, quoting (pure).

TCP ``listen`` sections and the HTTP backends of ``render_http`` describe real servers the
same way, so a target's server line, its fallback twin and its health check read the same in
both; see ``render``'s docstring for how each CLB setting maps onto HAProxy.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from openclb.engine.embedded.health_probes import decode_context
from openclb.engine.spec import HealthCheckSpec, ListenerSpec, Scheduler, TargetSpec

ERROR_LIMIT = 3
STICK_TABLE_SIZE = "100k"
FALLBACK_PREFIX = "fallback-"
BALANCE = {
    Scheduler.WRR: ("balance roundrobin",),
    Scheduler.LEAST_CONN: ("balance leastconn",),
    Scheduler.IP_HASH: ("balance source", "hash-type consistent"),
}


@dataclass(frozen=True)
class RuntimePaths:
    """Where the rendered configuration points HAProxy: its run dir and runtime API socket.

    ``stats_socket`` is relative to the run dir, HAProxy's working directory, so a deep data
    dir never hits the 108-byte limit of Unix socket paths.
    """

    run_dir: Path
    stats_socket: str
    # Where HAProxy sends the log lines of access-logged listeners (``access_log``); "": nowhere.
    log_address: str = ""
    # The TCP port HAProxy forwards its ring of HTTP request lines to (``access_log.RING``); "": none.
    log_ring_address: str = ""

    @property
    def state_file(self) -> Path:
        return self.run_dir / "server-state"

    @property
    def certs_dir(self) -> Path:
        return self.run_dir / "certs"


def server_name(target: TargetSpec) -> str:
    """The HAProxy server name of a real server: its address, so a name never changes meaning."""
    return f"{target.ip}:{target.port}"


def address(ip: str, port: str) -> str:
    return f"ipv6@{ip}:{port}" if ipaddress.ip_address(ip).version == 6 else f"{ip}:{port}"


def pem_bundle(*pems: str) -> str:
    return "".join(pem.strip() + "\n" for pem in pems)


def check_lines(check: HealthCheckSpec) -> list[str]:
    lines = [f"timeout check {check.timeout}s"]
    kind = check.check_type.upper()
    if kind in ("HTTP", "HTTPS"):
        send = (f"http-check send meth {quote((check.http_method or 'HEAD').upper())} "
                f"uri {quote(check.http_path or '/')} ver {quote(check.http_version or 'HTTP/1.1')}")
        # No CheckDomain: the real server's IP, as the embedded checker sends (server names are ip:port).
        host = check.http_domain.replace("%", "%%") if check.http_domain else "%[srv_name,regsub(:[0-9]+$,)]"
        send += f" hdr Host {quote(host)}"
        lines += ["option httpchk", send, f"http-check expect rstatus {quote(status_pattern(check.http_code_mask))}"]
    elif kind == "CUSTOM":
        payload = decode_context(check.context_type, check.send_context)
        expect = decode_context(check.context_type, check.recv_context)
        lines.append("option tcp-check")
        if payload:
            lines.append(f"tcp-check send-binary {payload.hex().upper()}")
        if expect:
            lines.append(f"tcp-check expect rbinary ^{expect.hex().upper()}")
    return lines


def status_pattern(code_mask: int) -> str:
    """HttpCode bits (1=1xx, 2=2xx, 4=3xx, 8=4xx, 16=5xx) → a regex on the status code."""
    classes = "".join(str(bit + 1) for bit in range(5) if code_mask & (1 << bit)) or "12345"
    return f"^[{classes}]"


def server_lines(spec: ListenerSpec, target: TargetSpec) -> list[str]:
    """The server line of ``target`` and, when it is checked, its unchecked ``backup`` twin."""
    if spec.end_port > spec.port:
        offset = target.port - spec.port
        where = f"{address(target.ip, '')}{'+' if offset >= 0 else '-'}{abs(offset)}"
    else:
        where = address(target.ip, str(target.port))
    common = f"weight {target.weight}" + (" send-proxy-v2" if spec.proxy_protocol else "")
    if spec.source_ips:  # SNAT IPs: spread over the real servers in their order, as HAProxy binds per server
        common += f" source {spec.source_ips[spec.targets.index(target) % len(spec.source_ips)]}"
    check = spec.health_check
    if not check.enabled:
        return [f"server {server_name(target)} {where} {common}"]
    options = (f"check inter {check.interval}s fall {check.unhealthy_threshold} rise {check.healthy_threshold} "
               f"observe layer4 error-limit {ERROR_LIMIT} on-error mark-down")
    check_port = check.check_port if check.check_port not in (None, -1) else None
    if check_port is None and spec.end_port > spec.port:
        check_port = target.port
    if check_port is not None:
        options += f" port {check_port}"
    if check.check_type.upper() == "HTTPS":
        options += " check-ssl verify none"
    return [
        f"server {server_name(target)} {where} {common} {options}",
        f"server {FALLBACK_PREFIX}{server_name(target)} {where} {common} backup",
    ]


def quote(value: str) -> str:
    """HAProxy strong quoting: nothing inside single quotes is expanded or escaped.

    The configuration is line-based and no quote spans lines, so control characters are
    percent-encoded (what they would be in a URL anyway) rather than written.
    """
    printable = "".join(ch if ch.isprintable() else f"%{ord(ch):02X}" for ch in value)
    return "'" + printable.replace("'", "'\\''") + "'"
