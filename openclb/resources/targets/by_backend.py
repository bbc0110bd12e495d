"""DescribeLBListeners: which CLBs, listeners and rules a real server's private address is bound to.

A backend is (VpcId, PrivateIp); openclb's targets live in their CLB's VPC, so a target matches
when its address is the PrivateIp and its CLB's VpcId is the one asked.
"""

from __future__ import annotations

from typing import Any

from openclb.context import RequestContext
from openclb.domain.models import Listener, LoadBalancer, ProvisioningState, Rule, Target
from openclb.protocols import L7
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared.services import Services


async def describe_lb_listeners(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    wanted = {(item["vpc_id"], item["private_ip"]) for item in params["backends"]}
    found = []
    for lb in await services.read(services.store.list_load_balancers, ctx.scope):
        if lb.state is ProvisioningState.PENDING_DELETE:
            continue
        vpc_id = LoadBalancerSettings.of(lb).vpc_id
        targets = [t for t in await services.read(services.store.targets_of, lb.id) if (vpc_id, t.ip) in wanted]
        if targets:
            listeners = await services.read(services.store.listeners_of, lb.id)
            rules = await services.read(services.store.rules_of, lb.id)
            found.append(_lb_item(lb, listeners, rules, targets))
    return {"LoadBalancers": found}


def _lb_item(lb: LoadBalancer, listeners: list[Listener], rules: list[Rule], targets: list[Target]) -> dict[str, Any]:
    bound = [listener for listener in listeners if any(t.listener_id == listener.id for t in targets)]
    return {"LoadBalancerId": lb.id, "Vip": lb.vip, "Region": lb.region,
            "Listeners": [_listener_item(listener, rules, targets) for listener in bound]}


def _listener_item(listener: Listener, rules: list[Rule], targets: list[Target]) -> dict[str, Any]:
    mine = [t for t in targets if t.listener_id == listener.id]
    l7 = listener.protocol in L7
    return {
        "ListenerId": listener.id, "Protocol": str(listener.protocol), "Port": listener.port,
        "EndPort": listener.end_port,
        "Rules": [{"LocationId": rule.id, "Domain": rule.domains[0], "Url": rule.url,
                   "Targets": [_target(t) for t in mine if t.location_id == rule.id]}
                  for rule in rules if rule.listener_id == listener.id
                  and any(t.location_id == rule.id for t in mine)] if l7 else None,
        "Targets": None if l7 else [_target(t) for t in mine],
    }


def _target(target: Target) -> dict[str, Any]:
    """LbRsTargets: the address is an ENI's unless an instance id was given (then a CVM's)."""
    return {"Type": "cvm" if target.instance_id else "eni", "PrivateIp": target.ip, "Port": target.port,
            "VpcId": 0, "Weight": target.weight}
