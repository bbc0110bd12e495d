"""``openclb nodes list --store URL``: the nodes of a shared PostgreSQL store, as the store sees them.

A node is ``live`` (else ``stale``) while its last heartbeat (on the database's clock) is younger than
``--node-timeout``, and ``ready`` once it has applied every CLB since it (re)joined; the
applied state version trails the store's version while a node is still catching up.
"""

from __future__ import annotations

import argparse
import sys

from openclb.config import DEFAULT_NODE_TIMEOUT


def add_commands(commands) -> None:
    parser = commands.add_parser("nodes", help="the nodes sharing a PostgreSQL store")
    node_commands = parser.add_subparsers(dest="nodes_command", required=True)
    listing = node_commands.add_parser("list", help="every node with its last heartbeat and applied state version")
    listing.add_argument("--store", required=True, help="the nodes' store URL, postgresql://...")
    listing.add_argument("--node-timeout", type=float, default=DEFAULT_NODE_TIMEOUT, metavar="SECONDS",
                         help=f"a heartbeat older than this shows the node as stale (default {DEFAULT_NODE_TIMEOUT:g})")


def run(args: argparse.Namespace) -> int:
    from openclb.store import nodes
    from openclb.store.store import Store

    if not args.store.startswith(("postgresql", "postgres:")):
        print("openclb nodes: --store must be the nodes' PostgreSQL URL (postgresql://...)", file=sys.stderr)
        return 2
    store = Store(args.store)
    try:
        rows = nodes.list_nodes(store.engine, args.node_timeout)
        version = nodes.current_version(store.engine)
    finally:
        store.close()
    print(f"store state version {version}")
    print(f"{'NAME':<20} {'STATE':<6} {'READY':<5} {'LAST HEARTBEAT':<29} {'AGE':>8} {'APPLIED':>8}  API")
    for row in rows:
        print(f"{row.name:<20} {'live' if row.live else 'stale':<6} {'yes' if row.ready else 'no':<5} "
              f"{row.heartbeat_at.isoformat(timespec='milliseconds'):<29} {row.heartbeat_age:>7.1f}s "
              f"{row.applied_version:>8}  {row.api_url}")
    return 0
