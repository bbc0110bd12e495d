"""A CLB's settings: the one place their defaults live.

``LoadBalancerSettings`` holds the CreateLoadBalancer/ModifyLoadBalancerAttributes members a
CLB keeps besides its columns (id, name, type, VIP, state). openclb runs no VPCs or projects;
the members are kept as given and shown back, with the defaults the real API shows
for a CLB created without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from openclb.domain.models import LoadBalancer
from openclb.engine.spec import AccessLogSpec
from openclb.resources.shared.settings import differing_from_defaults, given_members

DEFAULT_VPC_ID = "vpc-openclb0"
DEFAULT_ZONE_ID = 100003

# The request members a CLB keeps (CreateLoadBalancer; ModifyLoadBalancerAttributes changes some).
REQUEST_MEMBERS = (
    "vpc_id", "subnet_id", "project_id", "vip_isp", "tags", "internet_accessible", "sla_type",
    "snat_pro", "load_balancer_pass_to_target", "lb_charge_type", "egress", "master_zone_id",
)


@dataclass(frozen=True)
class LoadBalancerSettings:
    vpc_id: str = DEFAULT_VPC_ID
    subnet_id: str = ""
    project_id: int = 0
    vip_isp: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    internet_accessible: dict[str, Any] = field(default_factory=dict)
    sla_type: str = "shared"
    snat_pro: bool = False
    load_balancer_pass_to_target: bool = False
    lb_charge_type: str = "POSTPAID_BY_HOUR"
    egress: str = ""
    master_zone_id: str | None = None
    # Admission (resources/block_ips, resources/security_groups, load_balancers/start_status):
    # blocked client IPs ({"ip", "created_at", "expires_at"}: Unix seconds), the header that
    # carries the client address (ClientIPField), the bound security groups in order, stopped.
    blocked_ips: list[dict[str, Any]] = field(default_factory=list)
    client_ip_field: str = ""
    security_groups: list[str] = field(default_factory=list)
    stopped: bool = False
    # A PREPAID CLB's term (Period, RenewFlag) and expiry: resources/load_balancers/terms.py.
    lb_charge_prepaid: dict[str, Any] = field(default_factory=dict)
    expire_at: str = ""
    # SetLoadBalancerClsLog: the CLS log set and topic of its access (and health-check) log.
    log_set_id: str = ""
    log_topic_id: str = ""
    health_log_set_id: str = ""
    health_log_topic_id: str = ""
    # SnatPro CLBs: the SNAT IPs ({"subnet_id", "ip"}) connections to targets leave from.
    snat_ips: list[dict[str, str]] = field(default_factory=list)
    # The CLB-type customized configuration bound to it: its id, and its content as bound.
    customized_config_id: str = ""
    customized_config: str = ""
    # AddressIPVersion as the API spells it: IPv4, IPv6 (a VIP from --vip6-pool), IPv6FullChain.
    address_ip_version: str = "IPv4"

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> LoadBalancerSettings:
        return cls(**{k: v for k, v in given_members(cls, stored).items() if v != ""})

    @classmethod
    def of(cls, lb: LoadBalancer) -> LoadBalancerSettings:
        return cls.from_stored(lb.settings)

    @classmethod
    def from_request(cls, params: dict[str, Any]) -> LoadBalancerSettings:
        return cls.from_stored({k: params[k] for k in REQUEST_MEMBERS if params.get(k) is not None})

    def merged(self, changes: dict[str, Any]) -> LoadBalancerSettings:
        return replace(self, **given_members(type(self), changes))

    def to_stored(self) -> dict[str, Any]:
        return differing_from_defaults(self)

    @property
    def ipv6(self) -> bool:
        return self.address_ip_version != "IPv4"

    def isp(self, lb_type: str) -> str:
        """VipIsp: BGP for public CLBs unless given; internal CLBs have none."""
        return self.vip_isp or ("BGP" if lb_type == "OPEN" else "")

    def tag_view(self) -> list[dict[str, str]]:
        return [{"TagKey": t.get("tag_key", ""), "TagValue": t.get("tag_value", "")} for t in self.tags]

    def snat_ip_view(self) -> list[dict[str, str]]:
        return [{"SubnetId": s.get("subnet_id", ""), "Ip": s.get("ip", "")} for s in self.snat_ips]

    def access_log_spec(self) -> AccessLogSpec | None:
        """Where the engine writes this CLB's access log: its ACCESS log set and topic, if bound."""
        if not (self.log_set_id and self.log_topic_id):
            return None
        return AccessLogSpec(self.log_set_id, self.log_topic_id)

    def source_ips(self) -> tuple[str, ...]:
        """The SNAT IPs connections to targets leave from (SnatPro CLBs)."""
        return tuple(s["ip"] for s in self.snat_ips if s.get("ip")) if self.snat_pro else ()

    def tag_map(self) -> dict[str, str]:
        return {t.get("tag_key", ""): t.get("tag_value", "") for t in self.tags}

    def network_view(self) -> dict[str, Any]:
        internet = self.internet_accessible
        return {
            "InternetChargeType": internet.get("internet_charge_type") or "TRAFFIC_POSTPAID_BY_HOUR",
            "InternetMaxBandwidthOut": int(internet.get("internet_max_bandwidth_out") or 10),
            "BandwidthpkgSubType": internet.get("bandwidthpkg_sub_type") or "",
        }
