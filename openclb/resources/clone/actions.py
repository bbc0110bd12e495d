"""CloneLoadBalancer: a new CLB on its own VIP with everything the source CLB has.

The clone gets new ids for itself, its listeners and its rules, and copies of every setting,
certificate binding (certificates are the account's, so the clone names the same ones),
rewrite, health check and real server of the source; ids inside settings that name the
source's own listeners or rules (a rewrite's target) are carried over to the clone's. The
request's members (name, project, ISP, network, tags, SLA, SNAT) replace the source's. The rows
are written PENDING with a CreateLoadBalancer-like task, so the clone serves when the task
reports 0 (DescribeTaskStatus lists its id in LoadBalancerIds) and a task the engine refuses
leaves nothing behind. A source busy with another task answers ResourceInOperating, as its
rows would be copied mid-change.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import LoadBalancer, ProvisioningState, TaskKind
from openclb.resources.load_balancers.actions import allocate_vips
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared import checks as rules, ids
from openclb.resources.shared.clock import sortable_now
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services
from openclb.resources.state import queries as state_queries
from openclb.resources.state.document import AccountState
from openclb.resources.state.snapshots import pending

_VIP_ATTEMPTS = 5
# CloneLoadBalancer members that replace the source's settings.
CLONE_MEMBERS = ("project_id", "vip_isp", "tags", "internet_accessible", "sla_type", "snat_pro", "master_zone_id")


def renamed(value: Any, new_ids: dict[str, str]) -> Any:
    """``value`` with every string that is an id of the source replaced by the clone's id."""
    if isinstance(value, dict):
        return {key: renamed(item, new_ids) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(renamed(item, new_ids) for item in value)
    return new_ids.get(value, value) if isinstance(value, str) else value


def check_source(lb: LoadBalancer) -> None:
    if lb.busy_task_id is not None:
        raise errors.FailedOperationResourceInOperating(
            f"The LoadBalancer {lb.id} is being operated on by another task. Please try again later.")
    if lb.state is not ProvisioningState.ACTIVE:
        raise errors.FailedOperationInvalidLBStatus(f"The LoadBalancer {lb.id} is not running yet.")


async def clone_rows(services: Services, ctx: RequestContext, source: LoadBalancer, params: dict[str, Any]) -> AccountState:
    """The clone's rows (without its VIP yet): new ids, the source's settings with the request's over them."""
    listeners = await services.read(services.store.list_listeners, ctx.scope, source.id)
    source_rules = await services.read(services.store.rules_of, source.id)
    targets = await services.read(services.store.targets_of, source.id)
    new_ids = {source.id: ids.load_balancer_id(), **{l.id: ids.listener_id() for l in listeners},
               **{r.id: ids.location_id() for r in source_rules}}
    created = sortable_now()
    changes = {k: params[k] for k in CLONE_MEMBERS if params.get(k) is not None}
    settings = LoadBalancerSettings.of(source).merged(changes).to_stored()
    lb = replace(source, id=new_ids[source.id], name=params.get("load_balancer_name") or source.name,
                 created_at=created, delete_protect=False, busy_task_id=None, settings=settings)
    return AccountState(
        load_balancers=(lb,),
        listeners=tuple(replace(l, id=new_ids[l.id], lb_id=lb.id, created_at=created,
                                settings=renamed(l.settings, new_ids)) for l in listeners),
        rules=tuple(replace(r, id=new_ids[r.id], lb_id=lb.id, listener_id=new_ids[r.listener_id], created_at=created,
                            settings=renamed(r.settings, new_ids)) for r in source_rules if r.listener_id in new_ids),
        targets=tuple(replace(t, lb_id=lb.id, listener_id=new_ids[t.listener_id],
                              location_id=new_ids.get(t.location_id, t.location_id), registered_at=created)
                      for t in targets if t.listener_id in new_ids),
    )


async def clone_load_balancer(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    source = await require_load_balancer(services, ctx, params["load_balancer_id"])
    check_source(source)
    rules.check_name("LoadBalancerName", params.get("load_balancer_name"))
    quota = (services.settings.quotas.open_clb_per_region if source.lb_type == "OPEN"
             else services.settings.quotas.internal_clb_per_region)
    async with services.vip_allocation:
        if await services.read(services.store.count_load_balancers, ctx.scope, source.lb_type) + 1 > quota:
            raise errors.LimitExceeded(f"The quota of {quota} {source.lb_type} load balancers in {ctx.region} would be exceeded.")
        rows = await clone_rows(services, ctx, source, params)
        for _ in range(_VIP_ATTEMPTS):
            used = await services.read(services.store.used_vips)
            (vip,) = allocate_vips(services.settings.vip_pool, used, 1, params.get("vip"))
            clone = replace(rows, load_balancers=(replace(rows.load_balancers[0], vip=vip),))
            try:
                task = await services.commit_task(
                    ctx, TaskKind.CREATE_LOAD_BALANCER, [clone.load_balancers[0].id],
                    lambda task: state_queries.import_with_task(services.store, pending(clone, task), task),
                )
                break
            except state_queries.StateConflict:
                continue
        else:
            raise errors.ResourceInsufficient("Could not allocate a VIP; please retry.")
    await services.hand_over(task)
    return {}
