"""ModifyBlockIPList, DescribeBlockIPList, DescribeBlockIPTask: client addresses a CLB refuses.

The list and the client-address header (``ClientIPField``) live in each CLB's settings
(``blocklist.py``). A change is a task over the CLBs named (JodId = TaskId = RequestId, which
DescribeBlockIPTask and DescribeTaskStatus both follow): the CLBs' listeners are applied again,
and the data plane refuses new TCP connections and UDP flows from a blocked address (reset,
dropped) and answers an HTTP/HTTPS request 403 when its client, or the address in the header,
is blocked (``engine/embedded/admission.py``). Entries expire on time without a task.
"""

from __future__ import annotations

import time
from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import TaskKind
from openclb.resources.block_ips import blocklist, checks, views
from openclb.resources.load_balancers import queries
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared import checks as rules
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services


async def modify_block_ip_list(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    kind, ips, expire = checks.check_request(params)
    lb_ids = list(dict.fromkeys(params["load_balancer_ids"]))
    if not lb_ids:
        raise errors.MissingParameter("The request is missing a required parameter `LoadBalancerIds`.")
    now = time.time()
    stored = {}
    for lb_id in lb_ids:
        settings = LoadBalancerSettings.of(await require_load_balancer(services, ctx, lb_id))
        if kind == "add_blocked":
            known = {e["ip"] for e in blocklist.live(settings.blocked_ips, now)}
            checks.check_room(len(known), len(set(ips) - known), params.get("add_strategy"))
        field = settings.client_ip_field
        if kind in checks.FIELD_TYPES:
            field = "" if kind == "del_customized_field" else params["client_ip_field"]
        entries = blocklist.changed(settings.blocked_ips, kind, ips, expire, now, checks.MAX_PER_LOAD_BALANCER)
        stored[lb_id] = {"settings": settings.merged({"blocked_ips": entries, "client_ip_field": field}).to_stored()}
    task = await services.start_task(
        ctx, TaskKind.MODIFY_BLOCK_IP_LIST, lb_ids,
        lambda task: queries.modify_load_balancers(services.store, ctx.scope, stored, task))
    return {"JodId": task.id}


async def describe_block_ip_list(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    offset, limit = params.get("offset", 0), params.get("limit", 100_000)
    rules.check_range("Offset", offset, 0, 2**31)
    rules.check_range("Limit", limit, 1, 100_000)
    settings = LoadBalancerSettings.of(await require_load_balancer(services, ctx, params["load_balancer_id"]))
    entries = blocklist.live(settings.blocked_ips, time.time())
    return {
        "BlockedIPCount": len(entries),
        "ClientIPField": settings.client_ip_field,
        "BlockedIPList": [views.blocked_ip(e) for e in entries[offset:offset + limit]],
    }


async def describe_block_ip_task(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    task = await services.read(services.store.get_task, ctx.scope, params["task_id"])
    if task is None or task.kind != TaskKind.MODIFY_BLOCK_IP_LIST:
        raise errors.InvalidParameter(f"The task `{params['task_id']}` was not found.")
    return {"Status": views.task_status(task.status)}
