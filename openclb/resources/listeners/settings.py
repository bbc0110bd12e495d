"""A listener's settings: the one place their defaults live.

``ListenerSettings`` holds every CreateListener/ModifyListener member a listener keeps after
it is created (ports, protocol and name are columns of their own). DescribeListeners'
view, the ModifyListener merge and the engine's ``ListenerSpec`` are all derived from it, so
a default is written once. Members documented for some protocols only carry a value on
those; the view shows them per protocol as the real API does (null Scheduler on layer 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from openclb.domain.models import Listener
from openclb.engine.spec import ListenerSpec, RuleSpec, Scheduler, TargetSpec, TlsSpec
from openclb.protocols import DATAGRAM, L4, ListenerProtocol
from openclb.resources.shared.health_check import HealthCheck
from openclb.resources.shared.settings import differing_from_defaults, given_members

DEFAULT_STREAM_IDLE_TIMEOUT = 900
DEFAULT_DATAGRAM_IDLE_TIMEOUT = 300
# HTTP/HTTPS: the CLB's layer-7 defaults (docs 214/15171, custom configuration):
# client_header_timeout 60 s (408), proxy_read_timeout 60 s (here answered 504).
DEFAULT_CLIENT_HEAD_TIMEOUT = 60
DEFAULT_TARGET_RESPONSE_TIMEOUT = 60

# Boolean switches the real API reports as AttrFlags rather than as fields.
_ATTR_FLAGS = {
    "h2c_switch": "H2cSwitch",
    "snat_enable": "SnatEnable",
    "proxy_protocol": "ProxyProtocol",
    "reschedule_target_zero_weight": "RescheduleTargetZeroWeight",
    "reschedule_unhealthy": "RescheduleUnhealthy",
    "reschedule_expand_target": "RescheduleExpandTarget",
    "ssl_close_switch": "SslCloseSwitch",
    "stopped": "Stop",
}


@dataclass(frozen=True)
class ListenerSettings:
    scheduler: str = "WRR"
    session_expire_time: int = 0
    session_type: str = "NORMAL"
    health_check: HealthCheck = field(default_factory=HealthCheck)
    certificate: dict[str, Any] | None = None
    sni_switch: int = 0
    target_type: str = "NODE"
    keepalive_enable: int = 0
    deregister_target_rst: bool = False
    max_conn: int = -1
    max_cps: int = -1
    idle_connect_timeout: int | None = None
    proxy_protocol: bool = False
    snat_enable: bool = False
    h2c_switch: bool = False
    ssl_close_switch: bool = False
    data_compress_mode: str = "transparent"
    reschedule_target_zero_weight: bool = False
    reschedule_unhealthy: bool = False
    reschedule_expand_target: bool = False
    reschedule_start_time: int = 0
    reschedule_interval: int = 0
    # Not API members (no view shows them): the layer-7 timeouts a custom configuration sets.
    client_head_timeout: int = DEFAULT_CLIENT_HEAD_TIMEOUT
    target_response_timeout: int = DEFAULT_TARGET_RESPONSE_TIMEOUT
    # SetLoadBalancerStartStatus Stop: the listener's ports are closed (AttrFlags "Stop").
    stopped: bool = False

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> ListenerSettings:
        """Settings from a stored row (or request members): None and unknown keys are left out."""
        values = given_members(cls, stored)
        values["health_check"] = HealthCheck.from_stored(values.get("health_check"))
        return cls(**values)

    @classmethod
    def from_request(cls, params: dict[str, Any]) -> ListenerSettings:
        """The settings a Create/ModifyListener request gives; its certificate input is resolved apart."""
        return cls.from_stored({k: v for k, v in params.items() if k != "certificate"})

    def changes_in(self, params: dict[str, Any]) -> dict[str, Any]:
        """The members a request gives, as ``merged`` takes them (certificate input left out)."""
        changes = given_members(type(self), params)
        changes.pop("certificate", None)
        return changes

    @classmethod
    def of(cls, listener: Listener) -> ListenerSettings:
        return cls.from_stored(listener.settings)

    def merged(self, changes: dict[str, Any]) -> ListenerSettings:
        """ModifyListener changes only what it is given; HealthCheck members merge one by one."""
        values = given_members(type(self), changes)
        if "health_check" in values:
            values["health_check"] = self.health_check.merged(values["health_check"])
        return replace(self, **values)

    def to_stored(self) -> dict[str, Any]:
        """What the store keeps: members that differ from the defaults (HealthCheck always)."""
        stored = differing_from_defaults(self, leave_out=("health_check",))
        stored["health_check"] = self.health_check.to_stored()
        return stored

    def idle_timeout(self, protocol: str) -> int:
        """IdleConnectTimeout: 900 s on stream listeners, 300 s on datagram ones, unless given."""
        if self.idle_connect_timeout:
            return int(self.idle_connect_timeout)
        return DEFAULT_DATAGRAM_IDLE_TIMEOUT if protocol in DATAGRAM else DEFAULT_STREAM_IDLE_TIMEOUT

    def attr_flags(self) -> list[str]:
        return [flag for key, flag in _ATTR_FLAGS.items() if getattr(self, key)]

    def to_view(self, listener: Listener) -> dict[str, Any]:
        """The settings' members of DescribeListeners' Listener (the caller adds ids and rules)."""
        protocol = listener.protocol
        l4 = protocol in L4
        return {
            "HealthCheck": self.health_check.listener_view(protocol),
            "Scheduler": self.scheduler if l4 else None,
            "SessionExpireTime": int(self.session_expire_time) if l4 else None,
            "SniSwitch": int(self.sni_switch),
            "TargetType": self.target_type,
            "SessionType": self.session_type,
            "KeepaliveEnable": int(self.keepalive_enable),
            "DeregisterTargetRst": bool(self.deregister_target_rst),
            "AttrFlags": self.attr_flags(),
            "MaxConn": int(self.max_conn),
            "MaxCps": int(self.max_cps),
            "IdleConnectTimeout": self.idle_timeout(protocol) if l4 else None,
            "RescheduleInterval": int(self.reschedule_interval),
            "DataCompressMode": self.data_compress_mode,
            "RescheduleStartTime": int(self.reschedule_start_time),
        }

    def to_spec(
        self, listener: Listener, targets: tuple[TargetSpec, ...], rules: tuple[RuleSpec, ...], tls: TlsSpec | None
    ) -> ListenerSpec:
        """The engine's listener: this listener's settings with every default resolved."""
        protocol = ListenerProtocol(listener.protocol)
        return ListenerSpec(
            listener_id=listener.id,
            protocol=protocol,
            port=listener.port,
            end_port=listener.end_port,
            scheduler=Scheduler(self.scheduler),
            targets=targets,
            health_check=self.health_check.listener_spec(protocol),
            session_expire_time=int(self.session_expire_time),
            session_type=self.session_type,
            max_conn=int(self.max_conn),
            max_cps=int(self.max_cps),
            idle_timeout=self.idle_timeout(protocol),
            deregister_target_rst=bool(self.deregister_target_rst),
            tls=None if self.ssl_close_switch else tls,
            sni=bool(self.sni_switch),
            rules=rules,
            keepalive=bool(self.keepalive_enable),
            proxy_protocol=bool(self.proxy_protocol),
            h2c=bool(self.h2c_switch),
            client_head_timeout=float(self.client_head_timeout),
            target_response_timeout=float(self.target_response_timeout),
        )

