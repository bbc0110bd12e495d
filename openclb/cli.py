"""The ``openclb`` command: serve, accounts add|list|remove, state export|import|reset,
faults inject|list|clear (``cli_state.py``), nodes list (``cli_nodes.py``), gen-api, render.

Names and flags here are a contract with users and CI (README, Makefile, .ci/run): keep them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from openclb import cli_nodes, cli_state
from openclb.api import accounts as accounts_file
from openclb.config import (
    DEFAULT_DRAIN_SECONDS, DEFAULT_METRICS_LISTEN, Settings, load_settings, parse_drain_seconds, parse_listen,
    parse_metrics_listen, parse_quotas, parse_rate_limits, positive,
)
from openclb.obs.logs import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openclb", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the CLB API and the listeners")
    serve.add_argument("--listen", default="127.0.0.1:9180", help="HOST:PORT of the API (default 127.0.0.1:9180)")
    serve.add_argument("--data-dir", default="./openclb-data", help="where the store and accounts live")
    serve.add_argument("--engine", default="embedded", choices=["embedded", "haproxy"],
                       help="data plane: embedded (every protocol in-process) or haproxy "
                            "(TCP, TCP_SSL, HTTP and HTTPS by HAProxy, UDP/QUIC and L7 listeners using what HAProxy is "
                            "not given embedded; HAProxy outlives a crash and the next "
                            "start adopts it; SIGUSR2 stops openclb and leaves it serving)")
    serve.add_argument("--haproxy", default=None, metavar="PATH", help="HAProxy binary for --engine haproxy")
    serve.add_argument("--store", default=None, help="store URL (default: SQLite in the data dir), e.g. postgresql://...")
    serve.add_argument("--auth", default="signature", choices=["signature", "none"],
                       help="'none' accepts any credentials: throwaway local use only")
    serve.add_argument("--vip-pool", default=None, help="CIDR the CLB VIPs are taken from (default 127.1.0.0/16)")
    serve.add_argument("--vip6-pool", default=None,
                       help="IPv6 CIDR the VIPs of IPv6 CLBs (AddressIPVersion IPV6) are taken from (default ::1/128)")
    serve.add_argument("--rate-limit", action="append", default=[], metavar="ACTION=N",
                       help="requests per second per account for ACTION (default 20; '*=N' sets the default)")
    serve.add_argument("--quota", action="append", default=[], metavar="QUOTA_ID=N",
                       help="override a DescribeQuota limit, e.g. TOTAL_LISTENER_QUOTA=100")
    serve.add_argument("--api-head-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="close an API connection whose request head takes longer (default 10)")
    serve.add_argument("--api-idle-timeout", type=float, default=60.0, metavar="SECONDS",
                       help="close an API keep-alive connection idle this long between requests (default 60)")
    serve.add_argument("--api-body-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="refuse an API request whose body takes longer to arrive (default 30)")
    serve.add_argument("--api-max-connections", type=int, default=1000, metavar="N",
                       help="API connections open at once; past it the longest-idle one is closed (default 1000)")
    serve.add_argument("--api-calls-per-account", type=int, default=4, metavar="N",
                       help="API calls of one account handled at once; its others wait (default 4)")
    serve.add_argument("--metrics-listen", default=DEFAULT_METRICS_LISTEN, metavar="HOST:PORT",
                       help="where GET /metrics is served, or 'off' (default 127.0.0.1:9181); "
                            "with OPENCLB_METRICS_TOKEN set, scrapes need 'Authorization: Bearer <token>'")
    serve.add_argument("--drain-seconds", type=float, default=None, metavar="N",
                       help="on stop and for a deleted listener, how long established connections may take "
                            f"to finish before they are closed (default {DEFAULT_DRAIN_SECONDS:g})")
    serve.add_argument("--faults", action="store_true",
                       help="test mode: fault injection through the admin API (InjectFault, openclb faults) "
                            "and ResetState of every account")
    serve.add_argument("--node-name", default=None, metavar="NAME",
                       help="run as node NAME of several sharing one PostgreSQL store (--store postgresql://...): "
                            "every node serves the API and every CLB's listeners")
    serve.add_argument("--node-timeout", type=float, default=None, metavar="SECONDS",
                       help="a node without a heartbeat this long is no longer waited for (default 5)")
    serve.add_argument("--ha", default="none", choices=["none", "vrrp"],
                       help="VIP failover between nodes: vrrp (keepalived moves the VIPs on --vip-interface to a "
                            "live node; needs --node-name) or none (default: VIPs on loopback)")
    serve.add_argument("--vip-interface", default=None, metavar="IFACE", help="where --ha vrrp puts the VIPs")
    serve.add_argument("--vrrp-priority", type=int, default=None, metavar="1-254",
                       help="this node's VRRP priority; the highest live node holds the VIPs "
                            "(default: by node name order, 250 for the first, 240 for the second, ...)")
    serve.add_argument("--vrrp-router-id", type=int, default=51, metavar="1-255",
                       help="the VRRP virtual router id the nodes share (distinct per cluster on one network)")
    serve.add_argument("--workers", type=int, default=None, metavar="N",
                       help="data-plane processes sharing every listener's ports (embedded engine; the HAProxy "
                            "engine's nbthread); health checks stay once per node (default: the number of cores "
                            f"this process may run on, {usable_cores()} here; 1 with --faults)")
    serve.add_argument("--log-level", default="INFO")

    accounts = commands.add_parser("accounts", help="manage API keys in the data dir's accounts file")
    account_commands = accounts.add_subparsers(dest="accounts_command", required=True)
    add = account_commands.add_parser("add", help="add a SecretId/SecretKey pair")
    add.add_argument("--data-dir", required=True)
    add.add_argument("--secret-id", required=True)
    add.add_argument("--secret-key", required=True)
    add.add_argument("--app-id", type=int, default=None, help="add the key to this existing account")
    add.add_argument("--token", default=None, help="a session token the key must be used with")
    listing = account_commands.add_parser("list", help="list keys (secret keys are not shown)")
    listing.add_argument("--data-dir", required=True)
    remove = account_commands.add_parser("remove", help="remove a key")
    remove.add_argument("--data-dir", required=True)
    remove.add_argument("--secret-id", required=True)

    render = commands.add_parser("render", help="print the HAProxy configuration a CLB's listeners get")
    render.add_argument("--data-dir", default="./openclb-data")
    render.add_argument("--store", default=None, help="store URL (default: SQLite in the data dir)")
    render.add_argument("load_balancer_id", metavar="LB_ID")

    cli_state.add_commands(commands)
    cli_nodes.add_commands(commands)

    commands.add_parser("gen-api", help="regenerate openclb/api/types*.py from the tccli specs (--check: fail on drift)")
    return parser


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or taskset limits it):
    ``serve``'s default ``--workers``, so a node uses every core it is given. Settings, and so
    every in-process server (tests, ``local_server``, the pytest plugin), keep one worker."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(faults: bool) -> int:
    """``serve``'s ``--workers`` when not given: every usable core, but one with ``--faults``,
    where a traffic fault's count ("the next N connections") must be met exactly once per
    listener, not once in each worker process."""
    return 1 if faults else min(usable_cores(), 256)


def _announce(server) -> None:
    settings = server.settings
    print(f"openclb serving the CLB API at {server.endpoint_url}", flush=True)
    print(f"  data dir: {settings.data_dir.resolve()}  store: {server.store.url.split('@')[-1]}", flush=True)
    unit = "HAProxy threads" if settings.engine == "haproxy" else "processes"
    print(f"  data plane: {settings.engine} engine, {settings.workers} {unit} (--workers)", flush=True)
    if server.metrics_url:
        guarded = "bearer token required" if settings.metrics_token else "no token"
        print(f"  metrics: {server.metrics_url}/metrics ({guarded})", flush=True)
    elif settings.metrics_port is not None:
        print(f"  metrics: NOT served: {settings.metrics_host}:{settings.metrics_port} could not be bound", flush=True)
    if settings.fault_injection:
        print("  fault injection ON (--faults): the admin API's InjectFault and ResetState(AllAccounts) answer",
              flush=True)
    if settings.auth_mode == "none":
        print("  WARNING: --auth none: ANY credentials are accepted. Never expose this server.", flush=True)
    if server.generated_account is not None:
        account = server.generated_account
        print("  A key pair was generated for this first start (shown once):", flush=True)
        print(f"    OPENCLB_SECRET_ID={account.secret_id}", flush=True)
        print(f"    OPENCLB_SECRET_KEY={account.secret_key}", flush=True)
    elif settings.env_secret_id:
        print("  credentials: OPENCLB_SECRET_ID/OPENCLB_SECRET_KEY from the environment", flush=True)
    print(f"  list keys: openclb accounts list --data-dir {settings.data_dir}", flush=True)


def _serve_settings(args: argparse.Namespace) -> Settings:
    """Settings for ``serve``; ValueError names the flag that is wrong. ``--rate-limit '*=N'`` sets the default."""
    host, port = parse_listen(args.listen)
    metrics_host, metrics_port = parse_metrics_listen(args.metrics_listen)
    rate_limits = parse_rate_limits(args.rate_limit)
    workers = args.workers if args.workers is not None else default_workers(args.faults)
    if not 1 <= workers <= 256:
        raise ValueError(f"--workers must be 1-256, got {workers}")
    if args.api_max_connections < 1 or args.api_calls_per_account < 1:
        raise ValueError("--api-max-connections and --api-calls-per-account must be at least 1")
    settings = load_settings(
        listen_host=host,
        listen_port=port,
        data_dir=Path(args.data_dir),
        engine=args.engine,
        haproxy_binary=args.haproxy,
        store_url=args.store,
        auth_mode=args.auth,
        vip_pool=args.vip_pool,
        vip6_pool=args.vip6_pool,
        rate_limit_default=rate_limits.pop("*", None),
        rate_limits=rate_limits or None,
        quotas=parse_quotas(args.quota) if args.quota else None,
        api_head_timeout=positive(args.api_head_timeout, "--api-head-timeout"),
        api_idle_timeout=positive(args.api_idle_timeout, "--api-idle-timeout"),
        api_body_timeout=positive(args.api_body_timeout, "--api-body-timeout"),
        api_max_connections=args.api_max_connections,
        api_calls_per_account=args.api_calls_per_account,
        metrics_host=metrics_host,
        drain_seconds=parse_drain_seconds(args.drain_seconds),
        fault_injection=args.faults,
        node_name=args.node_name,
        node_timeout=args.node_timeout,
        ha=args.ha,
        vip_interface=args.vip_interface,
        vrrp_priority=args.vrrp_priority,
        vrrp_router_id=args.vrrp_router_id,
        workers=workers,
    )
    settings.check_nodes()
    return settings.with_(metrics_port=metrics_port)


def _serve(settings: Settings, log_level: str) -> int:
    configure_logging(log_level)
    from openclb.app import serve_forever
    from openclb.resources.certificates.sealing import MasterKeyError

    try:
        import uvloop  # noqa: F401  (the faster loop when installed)

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(serve_forever(settings, _announce))
    except MasterKeyError as exc:
        print(f"openclb: cannot start: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


def _render(args: argparse.Namespace) -> int:
    """Print the HAProxy configuration of one CLB as the haproxy engine would render it now."""
    from openclb.engine.haproxy.engine import HaproxyEngine
    from openclb.engine.haproxy.render import served_by_haproxy
    from openclb.store.store import Store
    from openclb.reconcile.snapshot import read_snapshot
    from openclb.resources.certificates.sealing import MasterKeyError, open_sealer
    from openclb.resources.desired_state import desired_state

    settings = load_settings(data_dir=Path(args.data_dir), store_url=args.store)
    store = Store(settings.effective_store_url)
    try:
        lb = store.get_load_balancer_any(args.load_balancer_id)
        if lb is None:
            print(f"no load balancer {args.load_balancer_id} in {store.url.split('@')[-1]}", file=sys.stderr)
            return 1
        keys = open_sealer(store, settings.master_key, settings.master_key_file, read_only=True)
        state = desired_state(read_snapshot(store, lb), keys)
    except MasterKeyError as exc:
        print(f"openclb: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(HaproxyEngine(settings.data_dir / "haproxy", threads=settings.workers).render_config([state]), end="")
    for spec in state.listeners:
        if not served_by_haproxy(spec):
            print(f"# {spec.listener_id} ({spec.protocol} {spec.port}) is served by the embedded engine")
    return 0


def _accounts(args: argparse.Namespace) -> int:
    path = Path(args.data_dir) / "accounts.json"
    if args.accounts_command == "add":
        account = accounts_file.add_account(path, args.secret_id, args.secret_key, args.app_id, token=args.token)
        print(f"added {account.secret_id} to account AppId={account.app_id} OwnerUin={account.owner_uin}")
    elif args.accounts_command == "list":
        for account in accounts_file.read_accounts_file(path):
            print(f"{account.secret_id}\tAppId={account.app_id}\tOwnerUin={account.owner_uin}")
    elif not accounts_file.remove_account(path, args.secret_id):
        print(f"no key {args.secret_id} in {path}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gen-api"]:
        from openclb.api import codegen

        return codegen.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            settings = _serve_settings(args)
        except ValueError as exc:
            parser.error(str(exc))
        return _serve(settings, args.log_level)
    if args.command == "render":
        return _render(args)
    if args.command in ("state", "faults"):
        return cli_state.run(args)
    if args.command == "nodes":
        return cli_nodes.run(args)
    return _accounts(args)
