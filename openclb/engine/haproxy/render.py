"""Desired state of every CLB → one HAProxy configuration (pure: no files, no sockets, no clock).

Octavia's model: the configuration is always rendered from the *full* desired state, never
patched, so rendering the same states twice gives the same text byte for byte and the engine
can skip a reload when nothing changed. One ``listen`` section per TCP/TCP_SSL listener, and
one ``frontend`` per HTTP/HTTPS listener with a ``backend`` per rule (``render_http``, named by
the location id), each named by its listener id (the runtime API reports per section, so health and counters map back to
listeners without a lookup table). Servers are named ``<ip>:<port>`` of the real server:
a name always means the same address, which is what lets ``server-state-file`` carry health
verdicts across reloads safely.

How CLB semantics map onto HAProxy 2.6 (the choices, and why):

- WRR → ``balance roundrobin`` with the CLB weights (0..100 fit HAProxy's 0..256);
  LEAST_CONN → ``balance leastconn``; IP_HASH → ``balance source`` with consistent hashing,
  so adding a real server moves only the clients that must move (as the embedded engine's
  rendezvous hashing does). Weight 0 → ``weight 0``: no new connections.
- "Every real server unhealthy" is not HAProxy's default (it would refuse traffic); the CLB
  (and the embedded engine) then spreads traffic over all weighted servers, because a checker
  that condemns a whole pool is more often wrong than the pool is dead. Each checked server
  gets an unchecked ``backup`` twin (``fallback-<ip>:<port>``, same address and weight) and
  the section ``option allbackups``: while any checked server is up the twins are never used;
  when none is, all twins share the traffic by weight. Health is reported from the checked
  servers only.
- SessionExpireTime → a per-listener ``stick-table type ip`` expiring after that many
  seconds of inactivity, ``stick on src``; a pinned server that goes down is not used.
- HealthCheck: ``check inter/fall/rise`` from IntervalTime/UnHealthNum/HealthNum,
  ``timeout check`` from TimeOut; TCP (and PING, which HAProxy cannot send) → connect check;
  HTTP/HTTPS → ``option httpchk`` with ``http-check send`` and ``http-check expect rstatus``
  built from the HttpCode mask (1=1xx … 16=5xx); CUSTOM → ``tcp-check send-binary`` and
  ``expect rbinary ^<hex>``: both TEXT and HEX are sent as bytes, and the reply must *start*
  with RecvContext, as the embedded checker judges it. HealthSwitch 0 → no check, no twins.
- A refused or timed-out connect goes to another real server at once, as the embedded
  engine retries: ``retries`` with ``option redispatch 1`` (every retry picks another
  server, and goes at once unless at most one active server is left: HAProxy then pauses
  ``min(timeout connect, 1 s)``), and a short ``timeout connect`` so a target that drops
  SYNs costs little. A checked
  server also ``observe``s its traffic: ``ERROR_LIMIT`` consecutive failed connects mark it
  down at once (``on-error mark-down``), without waiting for UnHealthNum failed checks; the
  checks bring it back after HealthNum successes, as after any failure. A check's connect
  phase is bounded by ``min(timeout connect, inter)`` (HAProxy's rule), its reply by TimeOut.
- MaxConn → section ``maxconn`` (excess connections wait in the kernel backlog instead of
  being refused, HAProxy's way); MaxCps → ``rate-limit sessions`` (excess connections are
  delayed, not dropped); IdleConnectTimeout → ``timeout client``/``timeout server``.
- Port ranges bind ``vip:first-last``; the Nth port goes to the real server's port + N, as
  the CLB does, with HAProxy's relative server ports (``ip:+offset``) and an explicit check
  port.
- TCP_SSL terminates TLS with ``bind ... ssl crt`` (one PEM per certificate: RSA and ECDSA
  are both offered, HAProxy picks by the client's hello) and, for mutual TLS, ``ca-file``
  with ``verify required`` (or ``optional``). ProxyProtocol â ``send-proxy-v2`` to real
  servers (the CLB sends v2 only; health checks go without it, as the embedded engine's).
- Security groups and blocked clients â ``tcp-request connection`` rules (``admission.py``).

User-supplied strings (HTTP check path, domain, method) are written in HAProxy's strong
(single) quotes, where nothing is expanded, so no input can add a directive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from openclb.protocols import ListenerProtocol
from openclb.engine.haproxy.admission import admission_lines
from openclb.engine.haproxy.access_log import LOG_FORMAT, LOG_LINE_BYTES, ring_lines
from openclb.engine.haproxy.render_http import http_sections, layer7_renderable
from openclb.engine.haproxy.section_lines import (
    BALANCE, FALLBACK_PREFIX, STICK_TABLE_SIZE, RuntimePaths, address, check_lines, pem_bundle, quote,
    server_lines, server_name, status_pattern,
)
from openclb.engine.spec import ListenerSpec, LoadBalancerState, TargetSpec

__all__ = ["FALLBACK_PREFIX", "RenderedConfig", "RuntimePaths", "render", "served_by_haproxy", "server_name",
           "status_pattern", "target_groups"]

HEADER = "# Rendered by openclb from the desired state of every CLB. Do not edit: every change overwrites it.\n"
CONNECT_TIMEOUT_SECONDS = 2
RETRIES = 3


@dataclass(frozen=True)
class RenderedConfig:
    """The configuration text and the files it refers to (path → content), all to be written."""

    text: str
    files: dict[Path, str] = field(default_factory=dict)


def served_by_haproxy(spec: ListenerSpec) -> bool:
    """Whether HAProxy serves this listener; the embedded engine serves the others.

    TCP; TCP_SSL that has a certificate with its key; HTTP and HTTPS listeners whose every
    feature ``render_http`` renders (``layer7_renderable``). UDP and QUIC are datagram
    protocols HAProxy 2.6 cannot balance.
    """
    if spec.protocol is ListenerProtocol.TCP:
        return True
    if spec.protocol is ListenerProtocol.TCP_SSL:
        return spec.tls is not None and any(c.key_pem for c in spec.tls.certificates)
    return layer7_renderable(spec)


def target_groups(spec: ListenerSpec) -> list[tuple[str, tuple[TargetSpec, ...], bool]]:
    """(section, real servers, checked) of a listener HAProxy serves: its ``listen`` section, or
    one backend per forwarding rule (named by the location id, as the embedded engine keys a
    rule's health) for HTTP/HTTPS; a rewrite rule has none."""
    if spec.protocol in (ListenerProtocol.HTTP, ListenerProtocol.HTTPS):
        return [(rule.location_id, rule.targets, rule.health_check.enabled)
                for rule in spec.rules if rule.redirect is None]
    return [(spec.listener_id, spec.targets, spec.health_check.enabled)]


def render(
    states: Iterable[LoadBalancerState], paths: RuntimePaths, *, hard_stop_after: int | None = None,
    threads: int | None = None,
) -> RenderedConfig:
    """The whole configuration for ``states`` (only listeners ``served_by_haproxy`` are rendered)."""
    lines = [
        HEADER.rstrip("\n"),
        "global",
        f"    stats socket {paths.stats_socket} mode 600 level admin expose-fd listeners",
        f"    server-state-file {paths.state_file}",
    ]
    if hard_stop_after:
        lines.append(f"    hard-stop-after {hard_stop_after}s")
    if threads:
        lines.append(f"    nbthread {threads}")  # --workers N: HAProxy's threads, as many
    states = list(states)
    if paths.log_address and any(spec.access_log is not None and served_by_haproxy(spec)
                                 for state in states for spec in state.listeners):
        lines.append(f"    log {paths.log_address} len {LOG_LINE_BYTES} format raw local0 info")
    if paths.log_address and paths.log_ring_address and any(
            spec.access_log is not None and served_by_haproxy(spec)
            and spec.protocol in (ListenerProtocol.HTTP, ListenerProtocol.HTTPS)
            for state in states for spec in state.listeners):
        lines += ["", *ring_lines(paths.log_ring_address)]
    lines += [
        "",
        "defaults",
        "    mode tcp",
        f"    timeout connect {CONNECT_TIMEOUT_SECONDS}s",
        f"    retries {RETRIES}",
        "    option redispatch 1",
        "    timeout client 900s",
        "    timeout server 900s",
        "    load-server-state-from-file global",
    ]
    files: dict[Path, str] = {}
    for state in sorted(states, key=lambda s: s.load_balancer_id):
        for spec in sorted(state.listeners, key=lambda s: (s.port, s.listener_id)):
            if not served_by_haproxy(spec):
                continue
            lines.append("")
            if spec.protocol in (ListenerProtocol.HTTP, ListenerProtocol.HTTPS):
                lines += http_sections(state, spec, paths, files)
            else:
                lines += _listen_section(state, spec, paths, files)
    return RenderedConfig("\n".join(lines) + "\n", files)


def _listen_section(state: LoadBalancerState, spec: ListenerSpec, paths: RuntimePaths,
                    files: dict[Path, str]) -> list[str]:
    ports = f"{spec.port}-{spec.end_port}" if spec.end_port > spec.port else f"{spec.port}"
    lines = [
        f"listen {spec.listener_id}",
        f"    # {state.load_balancer_id} {spec.protocol} {state.vip}:{ports}",
        f"    bind {address(state.vip, ports)}{_tls_options(spec, paths, files)}",
        "    mode tcp",
    ]
    lines += [f"    {line}" for line in admission_lines(spec, paths.certs_dir, files)]
    lines += [f"    {line}" for line in BALANCE[spec.scheduler]]
    if spec.max_conn > 0:
        lines.append(f"    maxconn {spec.max_conn}")
    if spec.max_cps > 0:
        lines.append(f"    rate-limit sessions {spec.max_cps}")
    lines += [f"    timeout client {spec.idle_timeout}s", f"    timeout server {spec.idle_timeout}s"]
    if spec.access_log is not None and paths.log_address:
        lines += ["    log global", f"    log-format {quote(LOG_FORMAT)}"]
    if spec.session_expire_time > 0:
        lines += [
            f"    stick-table type {'ipv6' if ':' in state.vip else 'ip'} size {STICK_TABLE_SIZE} "
            f"expire {spec.session_expire_time}s",
            "    stick on src",
        ]
    check = spec.health_check
    if check.enabled:
        lines.append("    option allbackups")
        lines += [f"    {line}" for line in check_lines(check)]
    for target in spec.targets:
        lines += [f"    {line}" for line in server_lines(spec, target)]
    return lines


def _tls_options(spec: ListenerSpec, paths: RuntimePaths, files: dict[Path, str]) -> str:
    if spec.protocol is not ListenerProtocol.TCP_SSL or spec.tls is None:
        return ""
    options = " ssl"
    usable = [c for c in spec.tls.certificates if c.key_pem]
    for index, certificate in enumerate(usable):
        path = paths.certs_dir / f"{spec.listener_id}-{index}.pem"
        files[path] = pem_bundle(certificate.cert_pem, certificate.key_pem)
        options += f" crt {path}"
    if spec.tls.ca_pem:
        path = paths.certs_dir / f"{spec.listener_id}-ca.pem"
        files[path] = pem_bundle(spec.tls.ca_pem)
        options += f" ca-file {path} verify {'optional' if spec.tls.verify_client == 'OPTIONAL' else 'required'}"
    return options


