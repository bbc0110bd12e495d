"""CLBs → the API's LoadBalancer and LoadBalancerDetail (the only PascalCase of CLBs).

Every member the SDK's model has is filled with a real value or the real service's default.
Members the real API always returns are never null: Terraform dereferences
``LoadBalancer.TargetRegionInfo`` and more (digest §6.8); the spec marks the rest as
``value_allowed_null``.
"""

from __future__ import annotations

from typing import Any

from openclb.domain.models import Listener, LoadBalancer, Target
from openclb.resources.load_balancers.terms import PrepaidTerm, billing_view
from openclb.resources.listeners.settings import ListenerSettings
from openclb.resources.load_balancers.settings import DEFAULT_ZONE_ID, LoadBalancerSettings
from openclb.resources.shared.clock import api_stamp


def zone_info(region: str) -> dict[str, Any]:
    return {
        "ZoneId": DEFAULT_ZONE_ID,
        "Zone": f"{region}-1",
        "ZoneName": f"{region} Zone 1",
        "ZoneRegion": region,
        "LocalZone": False,
        "EdgeZone": False,
    }


def load_balancer(lb: LoadBalancer) -> dict[str, Any]:
    s = LoadBalancerSettings.of(lb)
    flags = ["DeleteProtect"] if lb.delete_protect else []
    flags += ["Stop"] if s.stopped else []
    return {
        "LoadBalancerId": lb.id,
        "LoadBalancerName": lb.name,
        "LoadBalancerType": lb.lb_type,
        "Forward": 1,
        "Domain": "",
        "LoadBalancerVips": [lb.vip],
        "Status": lb.status,
        "CreateTime": api_stamp(lb.created_at),
        "StatusTime": api_stamp(lb.created_at),
        "ProjectId": int(s.project_id),
        "VpcId": s.vpc_id,
        "OpenBgp": 0,
        "Snat": False,
        "Log": None,
        "SubnetId": s.subnet_id,
        "Tags": s.tag_view(),
        "SecureGroups": list(s.security_groups),
        "TargetRegionInfo": {"Region": lb.region, "VpcId": s.vpc_id, "NumericalVpcId": 0},
        "AnycastZone": "",
        "AddressIPVersion": s.address_ip_version.lower() if s.ipv6 else "ipv4",
        "NumericalVpcId": 0,
        "VipIsp": s.isp(lb.lb_type),
        "MasterZone": zone_info(lb.region),
        "BackupZoneSet": [],
        **billing_view(PrepaidTerm.of(lb), s.lb_charge_type),
        "NetworkAttributes": s.network_view(),
        "LogSetId": s.log_set_id,
        "LogTopicId": s.log_topic_id,
        "AddressIPv6": lb.vip if s.ipv6 else None,
        "ExtraInfo": {"ZhiTong": False, "TgwGroupName": ""},
        "IsDDos": False,
        "ConfigId": "",
        "LoadBalancerPassToTarget": bool(s.load_balancer_pass_to_target),
        "ExclusiveCluster": {"L4Clusters": None, "L7Clusters": None, "ClassicalCluster": None},
        "IPv6Mode": _IPV6_MODE.get(s.address_ip_version),
        "SnatPro": bool(s.snat_pro),
        "SnatIps": s.snat_ip_view(),
        "SlaType": s.sla_type,
        "IsBlock": False,
        "IsBlockTime": "0000-00-00 00:00:00",
        "LocalBgp": False,
        "ClusterTag": None,
        "MixIpTarget": False,
        "Zones": None,
        "NfvInfo": "n",
        "HealthLogSetId": s.health_log_set_id,
        "HealthLogTopicId": s.health_log_topic_id,
        "ClusterIds": None,
        "AttributeFlags": flags,
        "LoadBalancerDomain": "",
        "Egress": s.egress,
        "Exclusive": 0,
    }


# IPV6 CLBs are NAT64 ones on the real service (an IPv6 VIP, IPv4 targets); IPv6FullChain keep IPv6 to the target.
_IPV6_MODE = {"IPv6": "IPv6Nat64", "IPv6FullChain": "IPv6FullChain"}

# LoadBalancerDetail names the network type and IP version differently from LoadBalancer
# (examples.json: "LoadBalancerType": "Public", "AddressIPVersion": "IPv4").
_DETAIL_NETWORK = {"OPEN": "Public", "INTERNAL": "Private"}
# Members LoadBalancerDetail never returns as null, whatever ``Fields`` asks for.
DETAIL_ALWAYS = frozenset({"LoadBalancerId", "LoadBalancerName", "LoadBalancerDomain", "Egress"})


def load_balancer_detail(
    lb: LoadBalancer, listener: Listener | None, target: Target | None = None,
    fields: frozenset[str] | None = None,
) -> dict[str, Any]:
    """One row of DescribeLoadBalancersDetail: a CLB, one of its listeners, or one of their targets.

    With ``fields`` only those members (and the never-null ones) carry values; the rest are null.
    """
    base = load_balancer(lb)
    detail = {
        "LoadBalancerId": lb.id,
        "LoadBalancerName": lb.name,
        "LoadBalancerType": _DETAIL_NETWORK.get(lb.lb_type, lb.lb_type),
        "Status": lb.status,
        "Address": lb.vip,
        "AddressIPv6": base["AddressIPv6"],
        "AddressIPVersion": "IPv6" if base["AddressIPv6"] else "IPv4",
        "IPv6Mode": base["IPv6Mode"],
        "Zone": base["MasterZone"]["Zone"],
        "AddressIsp": base["VipIsp"],
        "VpcId": base["VpcId"],
        "ProjectId": base["ProjectId"],
        "CreateTime": base["CreateTime"],
        "ChargeType": base["ChargeType"],
        "NetworkAttributes": base["NetworkAttributes"],
        "PrepaidAttributes": base["PrepaidAttributes"],
        "ExtraInfo": base["ExtraInfo"],
        "ConfigId": "",
        "Tags": base["Tags"],
        "ListenerId": None, "Protocol": None, "Port": None, "LocationId": None, "Domain": None, "Url": None,
        "TargetId": None, "TargetAddress": None, "TargetPort": None, "TargetWeight": None,
        "Isolation": base["Isolation"],
        "SecurityGroup": list(base["SecureGroups"]),
        "LoadBalancerPassToTarget": int(base["LoadBalancerPassToTarget"]),
        "TargetHealth": None,
        "Domains": None,
        "SlaveZone": None,
        "Zones": None,
        "SniSwitch": None,
        "LoadBalancerDomain": "",
        "Egress": base["Egress"],
        "AttributeFlags": base["AttributeFlags"],
        "SlaType": base["SlaType"],
        "Exclusive": 0,
    }
    if listener is not None:
        detail.update(
            ListenerId=listener.id,
            Protocol=listener.protocol,
            Port=listener.port,
            SniSwitch=int(ListenerSettings.of(listener).sni_switch),
        )
    if target is not None:
        detail.update(
            LocationId=target.location_id or None,
            TargetId=target.instance_id or target.ip,
            TargetAddress=target.ip,
            TargetPort=target.port,
            TargetWeight=target.weight,
        )
    if fields is not None:
        detail = {k: (v if k in fields or k in DETAIL_ALWAYS else None) for k, v in detail.items()}
    return detail
