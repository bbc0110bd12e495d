"""The resources openclb keeps, as frozen values, and the provisioning state machine.

A row is written in a PENDING_* state together with the task that will make it real; the
worker moves it to ACTIVE (or removes it) when the engine has answered. Only those two
places change ``state``, always under a test-and-set in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from openclb.protocols import PortClass


@dataclass(frozen=True)
class Scope:
    """(account, region): every stored row and every store call carries one."""

    app_id: int
    region: str


class ProvisioningState(StrEnum):
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_DELETE = "PENDING_DELETE"
    ACTIVE = "ACTIVE"


class TaskStatus(IntEnum):
    """DescribeTaskStatus's Status: 0 succeeded, 1 failed, 2 running."""

    SUCCEEDED = 0
    FAILED = 1
    RUNNING = 2


class TaskKind(StrEnum):
    CREATE_LOAD_BALANCER = "CreateLoadBalancer"
    MODIFY_LOAD_BALANCER = "ModifyLoadBalancer"
    DELETE_LOAD_BALANCER = "DeleteLoadBalancer"
    RECONCILE_LISTENERS = "ReconcileListeners"
    RECONCILE_TARGETS = "ReconcileTargets"
    RECONCILE_RULES = "ReconcileRules"
    IMPORT_STATE = "ImportState"
    MODIFY_BLOCK_IP_LIST = "ModifyBlockIPList"
    SET_START_STATUS = "SetLoadBalancerStartStatus"
    SET_SECURITY_GROUPS = "SetSecurityGroups"


@dataclass(frozen=True)
class LoadBalancer:
    id: str
    app_id: int
    region: str
    name: str
    lb_type: str
    vip: str
    status: int
    state: ProvisioningState
    created_at: str
    delete_protect: bool = False
    busy_task_id: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Listener:
    id: str
    app_id: int
    region: str
    lb_id: str
    protocol: str
    port: int
    end_port: int
    name: str
    state: ProvisioningState
    created_at: str
    settings: dict[str, Any] = field(default_factory=dict)
    pending_task_id: str | None = None

    @property
    def ports(self) -> range:
        return range(self.port, (self.end_port or self.port) + 1)

    @property
    def port_class(self) -> PortClass:
        return PortClass.of(self.protocol)


@dataclass(frozen=True)
class Rule:
    """A forwarding rule of an HTTP/HTTPS listener: domains + URL → real servers."""

    id: str
    app_id: int
    region: str
    lb_id: str
    listener_id: str
    domains: tuple[str, ...]
    url: str
    created_at: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """A real server bound to a listener (L4) or to a rule (L7, ``location_id`` set)."""

    listener_id: str
    ip: str
    port: int
    lb_id: str
    weight: int = 10
    target_type: str = "ENI"
    instance_id: str = ""
    tag: str = ""
    location_id: str = ""
    registered_at: str = ""

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.listener_id, self.location_id, self.ip, self.port)


@dataclass(frozen=True)
class Task:
    id: str
    app_id: int
    region: str
    kind: TaskKind
    lb_ids: tuple[str, ...]
    status: TaskStatus
    created_at: str
    message: str | None = None
    finished_at: str | None = None


@dataclass(frozen=True)
class Certificate:
    id: str
    app_id: int
    name: str
    cert_type: str
    cert_pem: str
    key_pem: str | None
    fingerprint: str
    algorithm: str
    not_after: str
    created_at: str


@dataclass(frozen=True)
class AccountObject:
    """A thing of an account and region that belongs to no CLB: a CLS log set or log topic.

    ``kind`` says which (``resources/access_logs``); ``settings`` holds what the kind keeps.
    """

    id: str
    app_id: int
    region: str
    kind: str
    name: str
    created_at: str
    settings: dict[str, Any] = field(default_factory=dict)
