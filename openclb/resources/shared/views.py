"""Domain objects → the response objects the SDK models parse (the only PascalCase dicts).

Every field the SDK's model has is filled with a real value or the real service's default.
Fields the real API always returns are never null: Terraform dereferences
``LoadBalancer.TargetRegionInfo``, ``Listener.SniSwitch``, ``HealthCheck.HealthSwitch`` and
more (digest §6.8); the spec marks the rest as ``value_allowed_null``.
"""

from __future__ import annotations

from typing import Any

from openclb.domain.models import Listener, LoadBalancer, Rule, Target, Task

DEFAULT_VPC_ID = "vpc-openclb0"
DEFAULT_ZONE_ID = 100003

_L4_PROTOCOLS = frozenset({"TCP", "UDP", "TCP_SSL", "QUIC"})
_L7_PROTOCOLS = frozenset({"HTTP", "HTTPS"})


def _trim(stamp: str) -> str:
    return stamp[:19]


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
    s = lb.settings
    vpc_id = s.get("vpc_id") or DEFAULT_VPC_ID
    internet = s.get("internet_accessible") or {}
    flags = ["DeleteProtect"] if lb.delete_protect else []
    return {
        "LoadBalancerId": lb.id,
        "LoadBalancerName": lb.name,
        "LoadBalancerType": lb.lb_type,
        "Forward": 1,
        "Domain": "",
        "LoadBalancerVips": [lb.vip],
        "Status": lb.status,
        "CreateTime": _trim(lb.created_at),
        "StatusTime": _trim(lb.created_at),
        "ProjectId": int(s.get("project_id") or 0),
        "VpcId": vpc_id,
        "OpenBgp": 0,
        "Snat": False,
        "Isolation": 0,
        "Log": None,
        "SubnetId": s.get("subnet_id") or "",
        "Tags": [{"TagKey": t.get("tag_key", ""), "TagValue": t.get("tag_value", "")} for t in s.get("tags", [])],
        "SecureGroups": [],
        "TargetRegionInfo": {"Region": lb.region, "VpcId": vpc_id, "NumericalVpcId": 0},
        "AnycastZone": "",
        "AddressIPVersion": "ipv4",
        "NumericalVpcId": 0,
        "VipIsp": s.get("vip_isp") or ("BGP" if lb.lb_type == "OPEN" else ""),
        "MasterZone": zone_info(lb.region),
        "BackupZoneSet": [],
        "IsolatedTime": "0000-00-00 00:00:00",
        "ExpireTime": "0000-00-00 00:00:00",
        "ChargeType": s.get("lb_charge_type") or "POSTPAID_BY_HOUR",
        "NetworkAttributes": {
            "InternetChargeType": internet.get("internet_charge_type") or "TRAFFIC_POSTPAID_BY_HOUR",
            "InternetMaxBandwidthOut": int(internet.get("internet_max_bandwidth_out") or 10),
            "BandwidthpkgSubType": internet.get("bandwidthpkg_sub_type") or "",
        },
        "PrepaidAttributes": None,
        "LogSetId": "",
        "LogTopicId": "",
        "AddressIPv6": None,
        "ExtraInfo": {"ZhiTong": False, "TgwGroupName": ""},
        "IsDDos": False,
        "ConfigId": "",
        "LoadBalancerPassToTarget": bool(s.get("load_balancer_pass_to_target", False)),
        "ExclusiveCluster": {"L4Clusters": None, "L7Clusters": None, "ClassicalCluster": None},
        "IPv6Mode": None,
        "SnatPro": bool(s.get("snat_pro", False)),
        "SnatIps": [],
        "SlaType": s.get("sla_type") or "shared",
        "IsBlock": False,
        "IsBlockTime": "0000-00-00 00:00:00",
        "LocalBgp": False,
        "ClusterTag": None,
        "MixIpTarget": False,
        "Zones": None,
        "NfvInfo": "n",
        "HealthLogSetId": "",
        "HealthLogTopicId": "",
        "ClusterIds": None,
        "AttributeFlags": flags,
        "LoadBalancerDomain": "",
        "Egress": s.get("egress") or "",
        "Exclusive": 0,
    }


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
        "AddressIPv6": None,
        "AddressIPVersion": "IPv4",
        "IPv6Mode": None,
        "Zone": base["MasterZone"]["Zone"],
        "AddressIsp": base["VipIsp"],
        "VpcId": base["VpcId"],
        "ProjectId": base["ProjectId"],
        "CreateTime": base["CreateTime"],
        "ChargeType": base["ChargeType"],
        "NetworkAttributes": base["NetworkAttributes"],
        "PrepaidAttributes": None,
        "ExtraInfo": base["ExtraInfo"],
        "ConfigId": "",
        "Tags": base["Tags"],
        "ListenerId": None, "Protocol": None, "Port": None, "LocationId": None, "Domain": None, "Url": None,
        "TargetId": None, "TargetAddress": None, "TargetPort": None, "TargetWeight": None,
        "Isolation": 0,
        "SecurityGroup": [],
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
            SniSwitch=int(listener.settings.get("sni_switch") or 0),
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


def _health_check_view(hc: dict[str, Any], check_type: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """Every HealthCheck key: given values, else ``defaults`` (null where the real API shows null)."""
    def value(key: str) -> Any:
        return hc.get(key) if hc.get(key) is not None else defaults.get(key)

    return {
        "HealthSwitch": int(hc.get("health_switch", 1)),
        "TimeOut": int(hc.get("time_out", 2)),
        "IntervalTime": int(hc.get("interval_time", 5)),
        "HealthNum": int(hc.get("health_num", 3)),
        "UnHealthNum": int(hc.get("un_health_num", 3)),
        "HttpCode": value("http_code"),
        "HttpCheckPath": value("http_check_path"),
        "HttpCheckDomain": value("http_check_domain"),
        "HttpCheckMethod": value("http_check_method"),
        "CheckPort": hc.get("check_port"),
        "ContextType": hc.get("context_type"),
        "SendContext": hc.get("send_context"),
        "RecvContext": hc.get("recv_context"),
        "CheckType": hc.get("check_type") or check_type,
        "HttpVersion": value("http_version"),
        "SourceIpType": int(hc.get("source_ip_type") or 0),
        "ExtendedCode": hc.get("extended_code"),
    }


def health_check(hc: dict[str, Any] | None, protocol: str) -> dict[str, Any] | None:
    """HealthCheck as DescribeListeners shows it on L4 listeners: every key, null when unused."""
    if protocol not in _L4_PROTOCOLS:
        return None
    return _health_check_view(hc or {}, "PING" if protocol == "UDP" else "TCP", {})


def certificate(cert: dict[str, Any] | None) -> dict[str, Any] | None:
    if not cert:
        return None
    return {
        "SSLMode": cert.get("ssl_mode") or "UNIDIRECTIONAL",
        "SSLVerifyClient": cert.get("ssl_verify_client") or "",
        "CertId": cert.get("cert_id") or "",
        "CertCaId": cert.get("cert_ca_id") or "",
        "ExtCertIds": list(cert.get("ext_cert_ids") or []),
    }


def listener(item: Listener, rules: list[Rule] = ()) -> dict[str, Any]:
    s = item.settings
    l4 = item.protocol in _L4_PROTOCOLS
    return {
        "ListenerId": item.id,
        "Protocol": item.protocol,
        "Port": item.port,
        "Certificate": certificate(s.get("certificate")),
        "HealthCheck": health_check(s.get("health_check"), item.protocol),
        "Scheduler": (s.get("scheduler") or "WRR") if l4 else None,
        "SessionExpireTime": int(s.get("session_expire_time") or 0) if l4 else None,
        "SniSwitch": int(s.get("sni_switch") or 0),
        "Rules": [rule_output(r) for r in rules] if item.protocol in _L7_PROTOCOLS else None,
        "ListenerName": item.name,
        "CreateTime": _trim(item.created_at),
        "EndPort": item.end_port,
        "TargetType": s.get("target_type") or "NODE",
        "TargetGroup": None,
        "SessionType": s.get("session_type") or "NORMAL",
        "KeepaliveEnable": int(s.get("keepalive_enable") or 0),
        "Toa": False,
        "DeregisterTargetRst": bool(s.get("deregister_target_rst", False)),
        "AttrFlags": attr_flags(s),
        "TargetGroupList": None,
        "MaxConn": int(s["max_conn"]) if s.get("max_conn") is not None else -1,
        "MaxCps": int(s["max_cps"]) if s.get("max_cps") is not None else -1,
        "IdleConnectTimeout": int(s.get("idle_connect_timeout") or (300 if item.protocol in ("UDP", "QUIC") else 900))
        if l4
        else None,
        "RescheduleInterval": int(s.get("reschedule_interval") or 0),
        "DataCompressMode": s.get("data_compress_mode") or "transparent",
        "RescheduleStartTime": int(s.get("reschedule_start_time") or 0),
    }


_FLAG_SETTINGS = {
    "h2c_switch": "H2cSwitch",
    "snat_enable": "SnatEnable",
    "proxy_protocol": "ProxyProtocol",
    "reschedule_target_zero_weight": "RescheduleTargetZeroWeight",
    "reschedule_unhealthy": "RescheduleUnhealthy",
    "reschedule_expand_target": "RescheduleExpandTarget",
    "ssl_close_switch": "SslCloseSwitch",
}


def attr_flags(settings: dict[str, Any]) -> list[str]:
    """Boolean switches the real API reports as AttrFlags rather than as fields."""
    return [flag for key, flag in _FLAG_SETTINGS.items() if settings.get(key)]


def task_status(task: Task) -> dict[str, Any]:
    return {"Status": int(task.status), "LoadBalancerIds": list(task.lb_ids) or None, "Message": task.message or ""}


def quota(quota_id: str, limit: int, current: int | None) -> dict[str, Any]:
    return {"QuotaId": quota_id, "QuotaCurrent": current, "QuotaLimit": limit}


def backend(target: Target) -> dict[str, Any]:
    return {
        "Type": target.target_type,
        "InstanceId": target.instance_id,
        "Port": target.port,
        "Weight": target.weight,
        "PublicIpAddresses": [],
        "PrivateIpAddresses": [target.ip],
        "InstanceName": target.instance_id or None,
        "RegisteredTime": _trim(target.registered_at),
        "EniId": None,
        "Tag": target.tag,
        "Zone": None,
    }


def listener_backend(item: Listener, targets: list[Target], rules: list[Rule] = ()) -> dict[str, Any]:
    l7 = item.protocol in _L7_PROTOCOLS
    return {
        "ListenerId": item.id,
        "Protocol": item.protocol,
        "Port": item.port,
        "Rules": [rule_targets(r, targets) for r in rules] if l7 else None,
        "Targets": [] if l7 else [backend(t) for t in targets],
        "EndPort": item.end_port,
    }


def load_balancer_health(
    lb: LoadBalancer, listeners: list[Listener], targets: list[Target], live: dict[tuple[str, str, int], Any],
    rules: list[Rule] = (),
) -> dict[str, Any]:
    """L4 listeners report their targets through one Rules entry, as the real API does."""
    def target_health(t: Target) -> dict[str, Any]:
        health = live.get((t.location_id or t.listener_id, t.ip, t.port))
        healthy = bool(health.healthy) if health else True
        detail = health.detail if health else "Unknown"
        return {
            "IP": t.ip, "Port": t.port, "HealthStatus": healthy, "TargetId": t.instance_id or t.ip,
            "HealthStatusDetail": detail, "HealthStatusDetial": detail, "TargetGroupId": "", "Weight": t.weight,
        }

    return {
        "LoadBalancerId": lb.id,
        "LoadBalancerName": lb.name,
        "Listeners": [
            {
                "ListenerId": l.id,
                "ListenerName": l.name,
                "Protocol": l.protocol,
                "Port": l.port,
                "Rules": [{
                    "LocationId": r.id, "Domain": r.domains[0], "Url": r.url, "RuleId": r.id,
                    "Targets": [target_health(t) for t in targets if t.location_id == r.id],
                } for r in rules if r.listener_id == l.id] if l.protocol in _L7_PROTOCOLS else [{
                    "LocationId": l.id, "Domain": None, "Url": None, "RuleId": l.id,
                    "Targets": [target_health(t) for t in targets if t.listener_id == l.id],
                }],
            }
            for l in listeners
        ],
    }


_RULE_CHECK_DEFAULTS = {
    "http_code": 31, "http_check_path": "/", "http_check_domain": "", "http_check_method": "HEAD",
    "http_version": "HTTP/1.1",
}


def rule_health_check(hc: dict[str, Any] | None) -> dict[str, Any]:
    """A rule's HealthCheck: an HTTP check by default, every key present."""
    view = _health_check_view(hc or {}, "HTTP", _RULE_CHECK_DEFAULTS)
    view["HttpCheckMethod"] = view["HttpCheckMethod"].upper()
    return view


def rewrite_target(rule: Rule) -> dict[str, Any]:
    target = rule.settings.get("rewrite_target") or {}
    return {
        "TargetListenerId": target.get("target_listener_id"),
        "TargetLocationId": target.get("target_location_id"),
        "RewriteCode": int(target.get("rewrite_code") or 0),
        "TakeUrl": bool(target.get("take_url", False)),
        "RewriteType": target.get("rewrite_type") or ("Manual" if target else ""),
    }


def rule_output(rule: Rule) -> dict[str, Any]:
    s = rule.settings
    return {
        "LocationId": rule.id,
        "Domain": rule.domains[0],
        "Url": rule.url,
        "SessionExpireTime": int(s.get("session_expire_time") or 0),
        "HealthCheck": rule_health_check(s.get("health_check")),
        "Certificate": certificate(s.get("certificate")),
        "Scheduler": s.get("scheduler") or "WRR",
        "ListenerId": rule.listener_id,
        "RewriteTarget": rewrite_target(rule),
        "HttpGzip": True,
        "BeAutoCreated": bool(s.get("be_auto_created", False)),
        "DefaultServer": bool(s.get("default_server", False)),
        "Http2": bool(s.get("http2", False)),
        "ForwardType": s.get("forward_type") or "HTTP",
        "CreateTime": _trim(rule.created_at),
        "TargetType": s.get("target_type") or "NODE",
        "TargetGroup": None,
        "WafDomainId": "",
        "TrpcCallee": s.get("trpc_callee") or "",
        "TrpcFunc": s.get("trpc_func") or "",
        "QuicStatus": "QUIC_ACTIVE" if s.get("quic") else "QUIC_INACTIVE",
        "Domains": list(rule.domains),
        "TargetGroupList": None,
        "OAuth": {"OAuthEnable": bool((s.get("oauth") or {}).get("o_auth_enable", False)),
                  "OAuthFailureStatus": (s.get("oauth") or {}).get("o_auth_failure_status") or "BYPASS"},
        "CookieName": s.get("cookie_name") or "",
    }


def rule_targets(rule: Rule, targets: list[Target]) -> dict[str, Any]:
    return {
        "LocationId": rule.id,
        "Domain": rule.domains[0],
        "Url": rule.url,
        "Targets": [backend(t) for t in targets if t.location_id == rule.id],
        "FunctionTargets": [],
    }
