"""The store's reads (statements compiled once, rows mapped by position) on SQLite and PostgreSQL.

Every domain object read back must equal the one written, with its domain types (enums,
tuples, booleans, JSON null as None) and only the rows of its scope and state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import drop_pg_schema, pg_schema_url
from openclb.domain.models import (
    Listener, LoadBalancer, ProvisioningState, Rule, Scope, Target, Task, TaskKind, TaskStatus,
)
from openclb.resources.listeners.queries import add_listeners, mark_listeners_deleted
from openclb.resources.targets.queries import change_targets
from openclb.store.store import Store

SCOPE = Scope(1250000000, "ap-guangzhou")
LB_ID = "lb-reads001"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Iterator[Store]:
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url, schema = pg_schema_url()
    opened = Store(url)
    yield opened
    opened.close()
    if schema is not None:
        drop_pg_schema(schema)


def _task(task_id: str, kind: TaskKind = TaskKind.RECONCILE_LISTENERS) -> Task:
    return Task(task_id, SCOPE.app_id, SCOPE.region, kind, (LB_ID,), TaskStatus.RUNNING, "2024-05-01 10:00:00.000001")


def _load_balancer(**changes) -> LoadBalancer:
    values = dict(
        id=LB_ID, app_id=SCOPE.app_id, region=SCOPE.region, name="reads", lb_type="OPEN", vip="127.250.0.1",
        status=0, state=ProvisioningState.PENDING_CREATE, created_at="2024-05-01 10:00:00.000000",
        busy_task_id="task-create", settings={"tags": [{"tag_key": "k", "tag_value": "v"}]},
    )
    values.update(changes)
    return LoadBalancer(**values)


def _listener(listener_id: str, port: int, protocol: str = "TCP") -> Listener:
    return Listener(
        id=listener_id, app_id=SCOPE.app_id, region=SCOPE.region, lb_id=LB_ID, protocol=protocol, port=port,
        end_port=0, name=f"l{port}", state=ProvisioningState.PENDING_CREATE,
        created_at=f"2024-05-01 10:00:02.{port:06d}", settings={"scheduler": "WRR", "health_check": {}},
        pending_task_id="task-listeners",
    )


def _created(store: Store) -> tuple[LoadBalancer, list[Listener], Rule]:
    """One settled CLB with a TCP and an HTTP listener (one rule), then the TCP one marked for deletion."""
    lb = _load_balancer()
    store.insert_load_balancers([lb], _task("task-create", TaskKind.CREATE_LOAD_BALANCER))
    store.settle_task(_task("task-create"), None, "2024-05-01 10:00:01")
    tcp, http = _listener("lbl-tcp00001", 7001), _listener("lbl-http0001", 8080, "HTTP")
    rule = Rule("loc-rule0001", SCOPE.app_id, SCOPE.region, LB_ID, http.id, ("a.example", "b.example"), "/api",
                "2024-05-01 10:00:02.000000", {"scheduler": "WRR"})
    add_listeners(store, SCOPE, LB_ID, [tcp, http], _task("task-listeners"), quota=50, rules=[rule])
    store.settle_task(_task("task-listeners"), None, "2024-05-01 10:00:03")
    mark_listeners_deleted(store, SCOPE, LB_ID, [tcp.id], _task("task-delete"))
    return lb, [tcp, http], rule


def test_load_balancer_listeners_reads_clb_live_listeners_and_rules_with_domain_types(store):
    lb, (tcp, http), rule = _created(store)

    found, live, rules = store.load_balancer_listeners(SCOPE, LB_ID)

    assert found == LoadBalancer(**{**vars(lb), "status": 1, "state": ProvisioningState.ACTIVE,
                                    "busy_task_id": "task-delete"})
    assert found.state is ProvisioningState.ACTIVE and found.delete_protect is False
    settled_http = Listener(**{**vars(http), "state": ProvisioningState.ACTIVE, "pending_task_id": None})
    assert live == [settled_http]
    assert live[0].state is ProvisioningState.ACTIVE
    assert rules == [rule] and rules[0].domains == ("a.example", "b.example")
    assert store.list_listeners(SCOPE, LB_ID) == live
    assert [l.id for l in store.list_listeners(SCOPE, LB_ID, include_deleting=True)] == [tcp.id, http.id]
    assert [l.id for l in store.listeners_of(LB_ID)] == [tcp.id, http.id]


def test_load_balancer_listeners_unknown_clb_or_other_scope_reads_nothing(store):
    _created(store)

    assert store.load_balancer_listeners(SCOPE, "lb-missing0") == (None, [], [])
    assert store.load_balancer_listeners(Scope(SCOPE.app_id, "ap-shanghai"), LB_ID) == (None, [], [])
    assert store.load_balancer_listeners(Scope(1, SCOPE.region), LB_ID) == (None, [], [])
    assert store.list_listeners(Scope(1, SCOPE.region), LB_ID) == []


def test_store_reads_tasks_targets_and_counts_back_as_written(store):
    lb, (_, http), _ = _created(store)
    store.settle_task(_task("task-delete"), None, "2024-05-01 10:00:04")
    target = Target(http.id, "10.0.0.7", 80, LB_ID, weight=20, location_id="loc-rule0001",
                    registered_at="2024-05-01 10:00:04.000000")
    change_targets(store, SCOPE, LB_ID, [target], [], _task("task-targets"), per_listener_limit=10)

    task = store.get_task(SCOPE, "task-targets")
    assert task == _task("task-targets") and task.status is TaskStatus.RUNNING and task.lb_ids == (LB_ID,)
    assert store.get_task(Scope(1, SCOPE.region), "task-targets") is None
    assert [t.id for t in store.running_tasks()] == ["task-targets"]
    assert store.targets_of(LB_ID) == [target]
    assert store.get_load_balancer_any(LB_ID).id == lb.id
    assert [found.id for found in store.list_load_balancers(SCOPE)] == [lb.id]
    assert store.used_vips() == {lb.vip}
    assert store.count_load_balancers(SCOPE, "OPEN") == 1
    assert store.count_load_balancers(SCOPE, "INTERNAL") == 0


def test_store_inline_reads_only_for_a_sqlite_file(store, tmp_path):
    assert store.inline_reads is store.is_sqlite
    memory = Store("sqlite://")
    assert memory.inline_reads is False
    memory.close()
