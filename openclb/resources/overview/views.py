"""Account-wide views of CLBs: traffic ranking rows, idle CLBs, the zone resources of a region."""

from __future__ import annotations

from typing import Any

from openclb.domain.models import LoadBalancer


def traffic(lb: LoadBalancer, out_mbps: float) -> dict[str, Any]:
    return {"LoadBalancerId": lb.id, "LoadBalancerName": lb.name, "Region": lb.region, "Vip": lb.vip,
            "OutBandwidth": round(out_mbps, 3), "Domain": ""}


def idle(lb: LoadBalancer, reason: str) -> dict[str, Any]:
    return {"LoadBalancerId": lb.id, "LoadBalancerName": lb.name, "Region": lb.region, "Vip": lb.vip,
            "IdleReason": reason, "Status": lb.status, "Forward": 1, "Domain": ""}


def zone_resource(region: str, zone: str, isp: str) -> dict[str, Any]:
    """One ZoneResource: a zone, an IP version (IPv4: openclb's VIPs) and one ISP's resources."""
    return {
        "MasterZone": zone, "SlaveZone": None, "IPVersion": "IPv4",
        "ResourceSet": [{"Type": [isp], "Isp": isp, "AvailabilitySet": [{"Type": isp, "Availability": "Available"}],
                         "TypeSet": [{"Type": isp, "SpecAvailabilitySet": [
                             {"SpecType": "shared", "Availability": "Available"}]}]}],
        "ZoneRegion": region, "LocalZone": False, "ZoneResourceType": "SHARED", "EdgeZone": False, "Egress": "",
    }


def operate_protect(lb_id: str) -> dict[str, Any]:
    """openclb has no operation protection (a console lock of the real service): always off."""
    return {"LoadBalancerId": lb_id, "ProtectState": False, "OperatorUin": "", "Description": "", "ModifyTime": ""}
