"""The desired state the control plane hands to an engine: frozen, complete, per CLB.

An engine reconciles towards one ``LoadBalancerState`` at a time: every listener in it must
be serving as described, every listener of that CLB not in it must be gone. The state is a
full picture, never a delta, so applying the same state twice changes nothing and a restart
simply applies every CLB's state again. Nothing here knows about the API or the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from openclb.protocols import ListenerProtocol


class Scheduler(StrEnum):
    WRR = "WRR"
    LEAST_CONN = "LEAST_CONN"
    IP_HASH = "IP_HASH"


@dataclass(frozen=True)
class TargetSpec:
    """One real server: where to connect and how much traffic it gets (weight 0 = none new)."""

    ip: str
    port: int
    weight: int = 10


@dataclass(frozen=True)
class HealthCheckSpec:
    """Active health check settings as the listener's HealthCheck describes them."""

    enabled: bool = True
    check_type: str = "TCP"
    timeout: int = 2
    interval: int = 5
    healthy_threshold: int = 3
    unhealthy_threshold: int = 3
    check_port: int | None = None
    http_code_mask: int = 31
    http_path: str = "/"
    http_domain: str = ""
    http_method: str = "HEAD"
    http_version: str = "HTTP/1.1"
    context_type: str = "TEXT"
    send_context: str = ""
    recv_context: str = ""
    extended_code: str = "12"  # GRPC checks: the grpc-status codes that pass (ExtendedCode)


@dataclass(frozen=True)
class CertificateSpec:
    """A server certificate (PEM, chain allowed) and its private key (PEM)."""

    cert_id: str
    cert_pem: str
    key_pem: str


@dataclass(frozen=True)
class TlsSpec:
    """How a TLS listener (or an SNI domain) terminates TLS.

    ``certificates`` holds one certificate per key algorithm (RSA and/or ECDSA); the client's
    handshake picks. ``ca_pem`` is set for mutual TLS; ``verify_client`` is then "ON"
    (a client certificate signed by the CA is required) or "OPTIONAL" (asked, not required).
    """

    certificates: tuple[CertificateSpec, ...]
    ca_pem: str | None = None
    verify_client: str = ""


@dataclass(frozen=True)
class RedirectSpec:
    """An HTTP→HTTPS style rewrite: answer with ``code`` and a Location on another listener."""

    code: int
    scheme: str
    port: int
    host: str = ""
    path: str = ""
    take_url: bool = True


@dataclass(frozen=True)
class AccessLogSpec:
    """The CLS log set and topic a CLB's access log goes to (SetLoadBalancerClsLog).

    The engine writes one JSON line per connection (L4) or request (L7) into
    ``<access log dir>/<logset_id>/<topic_id>.log``; the directory is the engine's own setting.
    """

    logset_id: str
    topic_id: str


@dataclass(frozen=True)
class RuleSpec:
    """One forwarding rule of an HTTP/HTTPS listener: which requests, and where they go.

    Domains: exact names, wildcards (``*.example.com``, ``example.*``) or regular expressions
    (``~pattern``). Url: exact (``=/path``), prefix (``/path``) or regular expression
    (``~pattern``, ``~*pattern`` case-insensitive). Matching precedence is the real CLB's
    (nginx's): exact domain, then wildcards, then regexes; exact URL, then regexes in rule
    order, then the longest prefix (so a ``/`` rule does not hide every regex rule).
    """

    location_id: str
    domains: tuple[str, ...]
    url: str
    targets: tuple[TargetSpec, ...] = ()
    scheduler: Scheduler = Scheduler.WRR
    health_check: HealthCheckSpec = field(default_factory=lambda: HealthCheckSpec(check_type="HTTP"))
    session_expire_time: int = 0
    cookie_name: str = ""
    forward_type: str = "HTTP"
    default_server: bool = False
    http2: bool = False
    # HTTPS only (a domain attribute): HTTP/3 over QUIC on the listener's port in UDP, advertised
    # by Alt-Svc on the domain's HTTP/1.1 and HTTP/2 responses.
    quic: bool = False
    tls: TlsSpec | None = None
    redirect: RedirectSpec | None = None
    # From a SERVER or LOCATION customized configuration; they replace the listener's (nginx's
    # inheritance: a location's add_header and client_max_body_size win over the server's).
    max_body_size: int = 0
    added_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AdmissionRule:
    """One ingress policy of a security group: ACCEPT or DROP what comes from ``network``.

    ``protocol`` is ALL, TCP or UDP; ``ports`` the listener ports it covers as inclusive
    (low, high) ranges, none meaning every port.
    """

    accept: bool
    network: str
    protocol: str = "ALL"
    ports: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class BlockedClient:
    """A client address refused until ``expires_at`` (Unix seconds; 0: until removed)."""

    ip: str
    expires_at: float = 0.0


@dataclass(frozen=True)
class AdmissionSpec:
    """Who may open a connection, a UDP flow or (HTTP/HTTPS) send a request.

    ``rules`` is None when the CLB has no security group (everything is admitted); otherwise
    the first rule matching a new connection decides, and what none accepts is dropped.
    ``blocked`` are refused addresses; on HTTP/HTTPS listeners their requests are answered 403,
    also when the address arrives in the request header ``client_ip_header``.
    """

    rules: tuple[AdmissionRule, ...] | None = None
    blocked: tuple[BlockedClient, ...] = ()
    client_ip_header: str = ""


@dataclass(frozen=True)
class TrafficFaultSpec:
    """A traffic fault injected into one listener (test suites, ``--faults``).

    ``latency``: seconds every new connection (TCP) or request (HTTP/HTTPS) waits before it
    goes on to a target. ``resets``: new connections are reset (TCP RST) at accept.
    ``drops``: datagrams of a UDP listener are dropped. ``count`` bounds how many events the
    fault takes (None: until cleared), ``probability`` the fraction of events it takes, drawn
    from a generator seeded with ``seed``.
    """

    fault_id: str
    latency: float = 0.0
    resets: bool = False
    drops: bool = False
    count: int | None = None
    probability: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class ListenerSpec:
    """One listener as it must serve: its port (or port range), protocol and real servers.

    HTTP/HTTPS only: ``client_head_timeout`` is how long a client may take to send a request
    head (then 408), ``target_response_timeout`` how long a target may stay silent while it
    owes a response (then 504); 0 is no limit. The control plane always sets both. ``h2c``
    (HTTP only, H2cSwitch): clients may speak cleartext HTTP/2 with prior knowledge; HTTPS
    listeners offer HTTP/2 by ALPN per domain, as each rule's ``http2`` says, and HTTP/3 on the
    same port in UDP while some rule's ``quic`` is on.

    Of the CLB, repeated on each of its listeners so a change reaches them like any other:
    ``access_log`` (None: not logged) and ``source_ips``, the SNAT IPs connections to targets
    leave from (spread over them by client; empty: the host's own choice of address).
    HTTP/HTTPS, from a customized configuration: ``max_body_size`` (bytes; a larger
    Content-Length gets 413; 0: no limit) and ``added_headers`` (added to targets' responses);
    for listeners that terminate TLS, ``tls_protocols`` (the versions a handshake may use, e.g.
    ``("TLSv1.2", "TLSv1.3")``; empty: OpenSSL's) and ``tls_ciphers`` (an OpenSSL cipher list for
    TLS 1.2 and below; empty: the default).
    """

    listener_id: str
    protocol: ListenerProtocol
    port: int
    end_port: int = 0
    scheduler: Scheduler = Scheduler.WRR
    targets: tuple[TargetSpec, ...] = ()
    health_check: HealthCheckSpec = field(default_factory=HealthCheckSpec)
    session_expire_time: int = 0
    session_type: str = "NORMAL"
    max_conn: int = -1
    max_cps: int = -1
    idle_timeout: int = 900
    deregister_target_rst: bool = False
    tls: TlsSpec | None = None
    sni: bool = False
    rules: tuple[RuleSpec, ...] = ()
    keepalive: bool = False
    proxy_protocol: bool = False
    h2c: bool = False
    client_head_timeout: float = 0.0
    target_response_timeout: float = 0.0
    admission: AdmissionSpec = field(default_factory=AdmissionSpec)
    traffic_faults: tuple[TrafficFaultSpec, ...] = ()
    access_log: AccessLogSpec | None = None
    source_ips: tuple[str, ...] = ()
    max_body_size: int = 0
    added_headers: tuple[tuple[str, str], ...] = ()
    tls_protocols: tuple[str, ...] = ()
    tls_ciphers: str = ""

    @property
    def ports(self) -> range:
        """Every port this listener occupies: one, or Port..EndPort inclusive."""
        return range(self.port, (self.end_port or self.port) + 1)


@dataclass(frozen=True)
class LoadBalancerState:
    """Everything one CLB must be serving on its VIP."""

    load_balancer_id: str
    vip: str
    listeners: tuple[ListenerSpec, ...] = ()
