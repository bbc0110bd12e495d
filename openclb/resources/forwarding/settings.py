"""A forwarding rule's settings: the one place their defaults live.

``RuleSettings`` holds what a rule keeps besides its domains and URL (columns of their own):
the RuleInput/ModifyRule members, the domain attributes that ModifyDomainAttributes sets on
every rule of a domain (certificate, Http2, Quic, DefaultServer), and the rewrite that
Manual/AutoRewrite attach. DescribeListeners' RuleOutput and the engine's ``RuleSpec`` are
derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from openclb.domain.models import Rule
from openclb.engine.spec import RedirectSpec, RuleSpec, Scheduler, TargetSpec, TlsSpec
from openclb.resources.shared.health_check import HealthCheck
from openclb.resources.shared.settings import differing_from_defaults, given_members

# The request members a rule keeps as settings (RuleInput and ModifyRule).
REQUEST_MEMBERS = ("session_expire_time", "health_check", "scheduler", "forward_type", "target_type",
                   "trpc_callee", "trpc_func", "quic", "cookie_name", "http2", "oauth")


@dataclass(frozen=True)
class RuleSettings:
    session_expire_time: int = 0
    health_check: HealthCheck = field(default_factory=HealthCheck)
    scheduler: str = "WRR"
    forward_type: str = "HTTP"
    target_type: str = "NODE"
    trpc_callee: str = ""
    trpc_func: str = ""
    quic: bool = False
    cookie_name: str = ""
    http2: bool = False
    oauth: dict[str, Any] | None = None
    certificate: dict[str, Any] | None = None
    default_server: bool = False
    be_auto_created: bool = False
    rewrite_target: dict[str, Any] | None = None
    # A SERVER or LOCATION customized configuration bound to this rule: its id and content.
    customized_config_id: str = ""
    customized_config: str = ""

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> RuleSettings:
        values = given_members(cls, stored)
        values["health_check"] = HealthCheck.from_stored(values.get("health_check"))
        return cls(**values)

    @classmethod
    def of(cls, rule: Rule) -> RuleSettings:
        return cls.from_stored(rule.settings)

    @classmethod
    def from_request(cls, item: dict[str, Any]) -> RuleSettings:
        """The settings one RuleInput gives (domain attributes are decided by the caller)."""
        return cls.from_stored({k: item[k] for k in REQUEST_MEMBERS if item.get(k) is not None})

    def merged(self, changes: dict[str, Any]) -> RuleSettings:
        """ModifyRule and the domain attributes change only what they give; HealthCheck member by member."""
        values = given_members(type(self), changes)
        if isinstance(values.get("health_check"), dict):
            values["health_check"] = self.health_check.merged(values["health_check"])
        return replace(self, **values)

    def to_stored(self) -> dict[str, Any]:
        stored = differing_from_defaults(self, leave_out=("health_check",))
        stored["health_check"] = self.health_check.to_stored()
        return stored

    def rewrite_view(self) -> dict[str, Any]:
        target = self.rewrite_target or {}
        return {
            "TargetListenerId": target.get("target_listener_id"),
            "TargetLocationId": target.get("target_location_id"),
            "RewriteCode": int(target.get("rewrite_code") or 0),
            "TakeUrl": bool(target.get("take_url", False)),
            "RewriteType": target.get("rewrite_type") or ("Manual" if target else ""),
        }

    def to_view(self) -> dict[str, Any]:
        """The settings' members of RuleOutput (the caller adds ids, domains, URL, certificate)."""
        oauth = self.oauth or {}
        return {
            "SessionExpireTime": int(self.session_expire_time),
            "HealthCheck": self.health_check.rule_view(),
            "Scheduler": self.scheduler,
            "RewriteTarget": self.rewrite_view(),
            "HttpGzip": True,
            "BeAutoCreated": bool(self.be_auto_created),
            "DefaultServer": bool(self.default_server),
            "Http2": bool(self.http2),
            "ForwardType": self.forward_type,
            "TargetType": self.target_type,
            "TrpcCallee": self.trpc_callee,
            "TrpcFunc": self.trpc_func,
            "QuicStatus": "QUIC_ACTIVE" if self.quic else "QUIC_INACTIVE",
            "OAuth": {"OAuthEnable": bool(oauth.get("o_auth_enable", False)),
                      "OAuthFailureStatus": oauth.get("o_auth_failure_status") or "BYPASS"},
            "CookieName": self.cookie_name,
        }

    def to_spec(self, rule: Rule, targets: tuple[TargetSpec, ...], tls: TlsSpec | None,
                redirect: RedirectSpec | None) -> RuleSpec:
        return RuleSpec(
            location_id=rule.id,
            domains=rule.domains,
            url=rule.url,
            targets=targets,
            scheduler=Scheduler(self.scheduler),
            health_check=self.health_check.rule_spec(),
            session_expire_time=int(self.session_expire_time),
            cookie_name=self.cookie_name,
            forward_type=self.forward_type,
            default_server=bool(self.default_server),
            http2=bool(self.http2),
            quic=bool(self.quic),
            tls=tls,
            redirect=redirect,
        )
