"""Tasks and quotas → DescribeTaskStatus and DescribeQuota answers."""

from __future__ import annotations

from typing import Any

from openclb.domain.models import Task


def task_status(task: Task) -> dict[str, Any]:
    return {"Status": int(task.status), "LoadBalancerIds": list(task.lb_ids) or None, "Message": task.message or ""}


def quota(quota_id: str, limit: int, current: int | None) -> dict[str, Any]:
    return {"QuotaId": quota_id, "QuotaCurrent": current, "QuotaLimit": limit}
