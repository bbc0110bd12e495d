"""Settings: the one frozen object every component is built from.

This is the only module that reads the environment. Everything else receives a
``Settings`` (or the parts of it it needs) from ``app.py``, so tests build servers with
exactly the settings they want and nothing leaks between them. Secret fields (keys, tokens,
the master key) are left out of ``repr``, so a logged ``Settings`` shows none of them.

Environment: ``OPENCLB_SECRET_ID``/``OPENCLB_SECRET_KEY``/``OPENCLB_TOKEN`` (the default
account), ``OPENCLB_METRICS_TOKEN``, ``OPENCLB_STORE``, ``OPENCLB_VIP_POOL`` and
``OPENCLB_MASTER_KEY``: the key that encrypts TLS private keys at rest, the standard base64
of 32 random bytes (``openssl rand -base64 32``); without it the key is kept in
``<data-dir>/master.key`` (mode 0600, made on the first start).
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:9180"
DEFAULT_METRICS_LISTEN = "127.0.0.1:9181"
DEFAULT_VIP_POOL = "127.1.0.0/16"
# IPv6 CLBs (AddressIPVersion IPV6/IPv6FullChain): ::1 is the one IPv6 loopback address Linux
# has without set-up, so by default one IPv6 CLB at a time; give a routed /64 for more.
DEFAULT_VIP6_POOL = "::1/128"
DEFAULT_RATE_LIMIT = 20
DEFAULT_DRAIN_SECONDS = 5.0
DEFAULT_FD_RESERVE = 256
DEFAULT_FD_RESERVE_FRACTION = 0.1
DEFAULT_NODE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Quotas:
    """Default quotas, as DescribeQuota reports them (docs 214/6187)."""

    open_clb_per_region: int = 100
    internal_clb_per_region: int = 100
    listeners_per_clb: int = 50
    rules_per_listener: int = 50
    targets_per_listener: int = 200
    snat_ips: int = 10
    isp_clb: int = 15
    full_port_range_listeners: int = 1
    # openclb's own bounds for target groups (not DescribeQuota items).
    target_groups_per_region: int = 200
    instances_per_target_group: int = 200


@dataclass(frozen=True)
class Settings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9180
    data_dir: Path = Path("./openclb-data")
    engine: str = "embedded"
    store_url: str = ""
    auth_mode: str = "signature"
    env_secret_id: str | None = None
    env_secret_key: str | None = field(default=None, repr=False)
    env_token: str | None = field(default=None, repr=False)
    # OPENCLB_MASTER_KEY as given (base64 of 32 bytes); None: the key file in the data dir.
    master_key: str | None = field(default=None, repr=False)
    vip_pool: str = DEFAULT_VIP_POOL
    vip6_pool: str = DEFAULT_VIP6_POOL
    rate_limit_default: int = DEFAULT_RATE_LIMIT
    rate_limits: dict[str, int] = field(default_factory=dict)
    quotas: Quotas = field(default_factory=Quotas)
    canonical_hosts: tuple[str, ...] = ("clb.tencentcloudapi.com", "clb.intl.tencentcloudapi.com")
    instance_addresses: dict[str, str] = field(default_factory=dict)
    # <data-dir>/functions.json: SCF function → the local HTTP endpoint (ip, port) serving it.
    function_endpoints: dict[str, tuple[str, int]] = field(default_factory=dict)
    max_port_range: int = 1000
    haproxy_binary: str = "haproxy"
    # `openclb serve --faults`, test mode: a FaultBook (InjectFault through the admin API) and the
    # engine wrapped in engine/faults.FaultInjectingEngine; ResetState may reset every account.
    fault_injection: bool = False
    # The API port's connections: head and body deadlines, idle keep-alive, how many at once.
    api_head_timeout: float = 10.0
    api_idle_timeout: float = 60.0
    api_body_timeout: float = 30.0
    api_max_connections: int = 1000
    # Calls of one account past authentication at once; the others wait their turn.
    api_calls_per_account: int = 4
    # Prometheus metrics, off the API port; metrics_port None: not served.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9181
    metrics_token: str | None = field(default=None, repr=False)
    # On stop, and for a removed listener: how long established connections may take to finish.
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    # File descriptors the data plane never takes, kept for the API, the store and the health
    # checks: fd_reserve plus fd_reserve_fraction of RLIMIT_NOFILE (see descriptor_budget).
    fd_reserve: int = DEFAULT_FD_RESERVE
    fd_reserve_fraction: float = DEFAULT_FD_RESERVE_FRACTION
    # `--node-name`: one node of several sharing a PostgreSQL store (reconcile/cluster.py); a node
    # whose heartbeat is older than node_timeout seconds is no longer waited for.
    node_name: str | None = None
    node_timeout: float = DEFAULT_NODE_TIMEOUT
    # `--ha vrrp`: the VIPs live on vip_interface, held by one node at a time through keepalived
    # (engine/keepalived.py); every node binds them in advance. "none": VIPs on loopback, as ever.
    ha: str = "none"
    vip_interface: str | None = None
    vrrp_priority: int | None = None
    vrrp_router_id: int = 51
    keepalived_binary: str = "keepalived"
    # `--workers N`: the embedded data plane as N processes sharing each port (engine/embedded/
    # workers.py); the HAProxy engine's nbthread. 1: one event loop in this process, as ever.
    workers: int = 1

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.listen_host}:{self.listen_port}"

    @property
    def effective_store_url(self) -> str:
        """SQLite in the data dir unless a store URL was given."""
        return self.store_url or f"sqlite:///{(self.data_dir / 'openclb.db').resolve()}"

    @property
    def accounts_file(self) -> Path:
        return self.data_dir / "accounts.json"

    @property
    def master_key_file(self) -> Path:
        """Where the master key lives when ``OPENCLB_MASTER_KEY`` is not set."""
        return self.data_dir / "master.key"

    def descriptor_budget(self, open_files_limit: int) -> int:
        """Descriptors the data plane's connections may hold under an RLIMIT_NOFILE of
        ``open_files_limit``: the limit less the reserve, never below zero."""
        reserve = self.fd_reserve + math.ceil(open_files_limit * self.fd_reserve_fraction)
        return max(0, open_files_limit - reserve)

    def check_nodes(self) -> None:
        """``--node-name`` needs a store the nodes share: PostgreSQL (SQLite stays single-node)."""
        if self.node_name is None:
            if self.ha != "none":
                raise ValueError("--ha vrrp needs --node-name (and a PostgreSQL store the nodes share)")
            return
        if not self.effective_store_url.startswith(("postgresql", "postgres:")):
            raise ValueError("--node-name needs a PostgreSQL store the nodes share (--store postgresql://...)")
        if not (0 < len(self.node_name) <= 64) or not self.node_name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"--node-name must be 1-64 letters, digits, '-' or '_', got {self.node_name!r}")
        positive(self.node_timeout, "--node-timeout")
        if self.ha not in ("none", "vrrp"):
            raise ValueError(f"--ha must be none or vrrp, got {self.ha!r}")
        if self.ha == "vrrp" and (not self.vip_interface or self.engine != "embedded"):
            raise ValueError("--ha vrrp needs --vip-interface IFACE and the embedded engine")
        if self.vrrp_priority is not None and not 1 <= self.vrrp_priority <= 254:
            raise ValueError(f"--vrrp-priority must be 1-254, got {self.vrrp_priority}")
        if not 1 <= self.vrrp_router_id <= 255:
            raise ValueError(f"--vrrp-router-id must be 1-255, got {self.vrrp_router_id}")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)


def parse_listen(value: str, flag: str = "--listen") -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[v6]:PORT`` allowed); raises ValueError on nonsense."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not (0 <= int(port) <= 65535):
        raise ValueError(f"{flag} must be HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def parse_metrics_listen(value: str) -> tuple[str, int | None]:
    """``HOST:PORT``, or ``off`` for no metrics server."""
    if value.strip().lower() == "off":
        return "127.0.0.1", None
    return parse_listen(value, "--metrics-listen")


def positive(value: float, flag: str) -> float:
    if not value > 0:
        raise ValueError(f"{flag} must be positive, got {value!r}")
    return value


def parse_drain_seconds(value: float | None) -> float | None:
    """``--drain-seconds``: 0 or more seconds (0 closes every connection at once); None keeps the default."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise ValueError(f"--drain-seconds must be a number of seconds, 0 or more, got {value!r}")
    return value


QUOTA_FIELDS = {
    "TOTAL_OPEN_CLB_QUOTA": "open_clb_per_region",
    "TOTAL_INTERNAL_CLB_QUOTA": "internal_clb_per_region",
    "TOTAL_LISTENER_QUOTA": "listeners_per_clb",
    "TOTAL_LISTENER_RULE_QUOTA": "rules_per_listener",
    "TOTAL_TARGET_BIND_QUOTA": "targets_per_listener",
    "TOTAL_SNAT_IP_QUOTA": "snat_ips",
    "TOTAL_ISP_CLB_QUOTA": "isp_clb",
    "TOTAL_FULL_PORT_RANGE_LISTENER_QUOTA": "full_port_range_listeners",
}


def parse_quotas(items: list[str]) -> Quotas:
    """``QUOTA_ID=N`` pairs (DescribeQuota's ids) over the default quotas."""
    changes: dict[str, int] = {}
    for item in items:
        name, sep, count = item.partition("=")
        if not sep or name not in QUOTA_FIELDS or not count.isdigit():
            raise ValueError(f"--quota must be one of {', '.join(QUOTA_FIELDS)}=N, got {item!r}")
        changes[QUOTA_FIELDS[name]] = int(count)
    return replace(Quotas(), **changes)


def parse_rate_limits(items: list[str]) -> dict[str, int]:
    """``Action=N`` pairs into a dict; ``*=N`` is kept under ``*`` as the default."""
    limits: dict[str, int] = {}
    for item in items:
        action, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise ValueError(f"--rate-limit must be ACTION=N, got {item!r}")
        limits[action] = int(count)
    return limits


def read_instance_map(data_dir: Path) -> dict[str, str]:
    """``<data-dir>/instances.json``: {"ins-xxxx": "10.0.0.5", ...}, how InstanceId targets resolve."""
    path = data_dir / "instances.json"
    if not path.exists():
        return {}
    mapping = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(ipaddress.ip_address(v)) for k, v in mapping.items()}


def read_function_map(data_dir: Path) -> dict[str, tuple[str, int]]:
    """``<data-dir>/functions.json``: {"namespace/name": "http://127.0.0.1:9000", ...}, where
    function targets (RegisterFunctionTargets) send their requests. A key may also be
    ``namespace/name:qualifier`` (one version) or a bare ``name``; the value ``IP:PORT`` or
    ``http://IP:PORT``."""
    path = data_dir / "functions.json"
    if not path.exists():
        return {}
    endpoints = {}
    for name, value in json.loads(path.read_text(encoding="utf-8")).items():
        host, _, port = str(value).removeprefix("http://").rstrip("/").rpartition(":")
        endpoints[str(name)] = (str(ipaddress.ip_address(host.strip("[]"))), int(port))
    return endpoints


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (OPENCLB_*), then explicit overrides (the CLI's flags)."""
    env = os.environ
    settings = Settings(
        env_secret_id=env.get("OPENCLB_SECRET_ID") or None,
        env_secret_key=env.get("OPENCLB_SECRET_KEY") or None,
        env_token=env.get("OPENCLB_TOKEN") or None,
        metrics_token=env.get("OPENCLB_METRICS_TOKEN") or None,
        master_key=env.get("OPENCLB_MASTER_KEY") or None,
        store_url=env.get("OPENCLB_STORE", ""),
        vip_pool=env.get("OPENCLB_VIP_POOL", DEFAULT_VIP_POOL),
        vip6_pool=env.get("OPENCLB_VIP6_POOL", DEFAULT_VIP6_POOL),
    )
    settings = settings.with_(**{k: v for k, v in overrides.items() if v is not None})
    ipaddress.ip_network(settings.vip_pool)
    if ipaddress.ip_network(settings.vip6_pool).version != 6:
        raise ValueError(f"--vip6-pool must be an IPv6 network, got {settings.vip6_pool!r}")
    return settings
