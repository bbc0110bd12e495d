"""The one database schema, for SQLite and PostgreSQL alike (SQLAlchemy Core).

Every resource row carries (app_id, region): the scope the API call resolved to. Invariants
the database itself enforces, so concurrent requests cannot both win:
- ``listener_ports``: a port of one port class is taken at most once per CLB (TCP, TCP_SSL,
  HTTP and HTTPS share the TCP class; UDP and QUIC the UDP class; a port range takes every
  port it spans).
- ``load_balancers.vip`` is unique: a VIP is a real address on this host, across accounts.
- ``load_balancers.busy_task_id`` is set and cleared only by test-and-set updates: one
  running task per CLB.
- ``task_changes`` holds, per running task, the before-image of every row its write changed
  (``store/transitions.py``), so a task the engine refuses is rolled back row by row; the
  entries go when the task settles.
- ``v1_nonces``: a (SecretId, Nonce, Timestamp) of a verified v1 call is stored once; a second
  insert fails, which is how a replay is recognised, also after a restart (``nonces.py``).
- ``certificates.key_pem`` holds a private key sealed by the control plane
  (``resources/certificates/sealing.py``: ``enc:v1:`` + AES-GCM), never a clear PEM; clear
  values written before sealing existed are sealed at the next start.
- ``store_meta``: one value per name, written once (``put_meta_once``); ``master_key_check``
  is the sealed constant that tells a wrong master key at start.
- Every ``String(n)`` column fed from a request is bounded by a documented rule checked before
  the store (``resources/*/checks.py``), so the store never refuses a value by its size.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
)

load_balancers = Table(
    "load_balancers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("app_id", BigInteger, nullable=False),
    Column("region", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("lb_type", String(16), nullable=False),
    Column("vip", String(64), nullable=False, unique=True),
    Column("status", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("busy_task_id", String(64)),
    Column("delete_protect", Boolean, nullable=False, default=False),
    Column("created_at", String(32), nullable=False),
    Column("settings", JSON, nullable=False),
    Index("ix_lb_scope", "app_id", "region"),
)

listeners = Table(
    "listeners",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("app_id", BigInteger, nullable=False),
    Column("region", String(64), nullable=False),
    Column("lb_id", String(32), ForeignKey("load_balancers.id", ondelete="CASCADE"), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("port", Integer, nullable=False),
    Column("end_port", Integer, nullable=False, default=0),
    Column("name", String(255), nullable=False),
    Column("state", String(32), nullable=False),
    Column("pending_task_id", String(64)),
    Column("created_at", String(32), nullable=False),
    Column("settings", JSON, nullable=False),
    Index("ix_listener_lb", "lb_id"),
)

listener_ports = Table(
    "listener_ports",
    metadata,
    Column("lb_id", String(32), ForeignKey("load_balancers.id", ondelete="CASCADE"), primary_key=True),
    Column("port_class", String(8), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("listener_id", String(32), ForeignKey("listeners.id", ondelete="CASCADE"), nullable=False),
)

rules = Table(
    "rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("app_id", BigInteger, nullable=False),
    Column("region", String(64), nullable=False),
    Column("lb_id", String(32), ForeignKey("load_balancers.id", ondelete="CASCADE"), nullable=False),
    Column("listener_id", String(32), ForeignKey("listeners.id", ondelete="CASCADE"), nullable=False),
    Column("domains", JSON, nullable=False),
    Column("url", String(255), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("settings", JSON, nullable=False),
    Index("ix_rule_listener", "listener_id"),
)

targets = Table(
    "targets",
    metadata,
    Column("listener_id", String(32), ForeignKey("listeners.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", String(32), primary_key=True, default=""),
    Column("ip", String(64), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("lb_id", String(32), ForeignKey("load_balancers.id", ondelete="CASCADE"), nullable=False),
    Column("weight", Integer, nullable=False),
    Column("target_type", String(16), nullable=False),
    Column("instance_id", String(64), nullable=False, default=""),
    Column("tag", String(255), nullable=False, default=""),
    Column("registered_at", String(32), nullable=False),
    Index("ix_target_lb", "lb_id"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("app_id", BigInteger, nullable=False),
    Column("region", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("lb_ids", JSON, nullable=False),
    Column("status", Integer, nullable=False),
    Column("message", Text),
    Column("created_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Index("ix_task_status", "status"),
)

certificates = Table(
    "certificates",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("app_id", BigInteger, nullable=False),
    Column("name", String(255), nullable=False),
    Column("cert_type", String(8), nullable=False),
    Column("cert_pem", Text, nullable=False),
    Column("key_pem", Text),
    Column("fingerprint", String(128), nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("not_after", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_cert_app", "app_id"),
)

task_changes = Table(
    "task_changes",
    metadata,
    Column("task_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("table_name", String(32), nullable=False),
    Column("change", String(8), nullable=False),
    Column("row_key", JSON, nullable=False),
    Column("before", JSON),
    Column("listener_id", String(32)),
)

v1_nonces = Table(
    "v1_nonces",
    metadata,
    Column("secret_id", String(255), primary_key=True),
    Column("nonce", String(32), primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_v1_nonce_expiry", "expires_at"),
)

security_groups = Table(
    "security_groups",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("app_id", BigInteger, nullable=False),
    Column("region", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", String(255), nullable=False),
    Column("project_id", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("policies", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Index("ix_security_group_scope", "app_id", "region"),
)

store_meta = Table(
    "store_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Target groups (``domain/target_groups.py``): a group's instances go with it; an association
# binds a group to one listener (``location_id`` "") or one rule, at most one group each (the
# primary key), and goes with its listener, rule or CLB (``transitions.settle`` and the rule
# writes delete it explicitly, so a task's rollback restores it).
target_groups = Table(
    "target_groups",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("app_id", BigInteger, nullable=False),
    Column("region", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("vpc_id", String(64), nullable=False),
    Column("port", Integer),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("settings", JSON, nullable=False),
    Index("ix_target_group_scope", "app_id", "region"),
)

target_group_instances = Table(
    "target_group_instances",
    metadata,
    Column("target_group_id", String(32), ForeignKey("target_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("ip", String(64), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("weight", Integer, nullable=False),
    Column("registered_at", String(32), nullable=False),
)

target_group_associations = Table(
    "target_group_associations",
    metadata,
    Column("listener_id", String(32), primary_key=True),
    Column("location_id", String(32), primary_key=True, default=""),
    Column("target_group_id", String(32), ForeignKey("target_groups.id"), nullable=False),
    Column("lb_id", String(32), nullable=False),
    Column("weight", Integer),
    Column("created_at", String(32), nullable=False),
    Index("ix_tg_association_group", "target_group_id"),
    Index("ix_tg_association_lb", "lb_id"),
)

# Things of an account and region that belong to no CLB (CLS log sets and topics), by kind.
account_objects = Table(
    "account_objects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("app_id", BigInteger, nullable=False),
    Column("region", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("settings", JSON, nullable=False),
    Index("ix_account_object_scope", "app_id", "region", "kind"),
)

# Nodes of one PostgreSQL store (``openclb serve --node-name``, ``store/nodes.py``): each
# heartbeats with the database's clock, so liveness never depends on the nodes' clocks agreeing.
nodes = Table(
    "nodes",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("api_url", String(255), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("applied_version", BigInteger, nullable=False, default=0),
    # False from (re)joining until the node has applied every CLB: until then no task waits for it.
    Column("ready", Boolean, nullable=False, default=False),
)

# What each node answered for a running task; the entries go when the task settles.
task_applies = Table(
    "task_applies",
    metadata,
    Column("task_id", String(64), primary_key=True),
    Column("node_name", String(64), primary_key=True),
    Column("message", Text),
)
