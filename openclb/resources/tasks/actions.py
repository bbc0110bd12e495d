"""DescribeTaskStatus and DescribeQuota: the read side of tasks and limits."""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.resources.tasks import views
from openclb.context import RequestContext
from openclb.resources.shared.services import Services


async def describe_task_status(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Status 2 while running, 0 done, 1 failed with a message (TaskId = the write's RequestId)."""
    task_id = params.get("task_id") or params.get("deal_name")
    if not task_id:
        raise errors.MissingParameter("The request is missing a required parameter `TaskId`.")
    task = await services.read(services.store.get_task, ctx.scope, task_id)
    if task is None:
        raise errors.InvalidParameter(f"The task `{task_id}` was not found.")
    return views.task_status(task)


async def describe_quota(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Region-wide quotas carry QuotaCurrent; per-resource quotas return it as null, as the real API does."""
    quotas = services.settings.quotas
    open_count = await services.read(services.store.count_load_balancers, ctx.scope, "OPEN")
    internal_count = await services.read(services.store.count_load_balancers, ctx.scope, "INTERNAL")
    return {
        "QuotaSet": [
            views.quota("TOTAL_OPEN_CLB_QUOTA", quotas.open_clb_per_region, open_count),
            views.quota("TOTAL_INTERNAL_CLB_QUOTA", quotas.internal_clb_per_region, internal_count),
            views.quota("TOTAL_LISTENER_QUOTA", quotas.listeners_per_clb, None),
            views.quota("TOTAL_LISTENER_RULE_QUOTA", quotas.rules_per_listener, None),
            views.quota("TOTAL_TARGET_BIND_QUOTA", quotas.targets_per_listener, None),
            views.quota("TOTAL_SNAT_IP_QUOTA", quotas.snat_ips, None),
            views.quota("TOTAL_ISP_CLB_QUOTA", quotas.isp_clb, None),
            views.quota("TOTAL_FULL_PORT_RANGE_LISTENER_QUOTA", quotas.full_port_range_listeners, None),
        ]
    }
