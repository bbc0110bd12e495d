"""Block list entries → DescribeBlockIPList's BlockedIP; DescribeBlockIPTask's Status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openclb.domain.models import TaskStatus
from openclb.resources.shared.clock import BEIJING, api_time

# DescribeBlockIPTask: 1 running, 2 failed, 6 succeeded.
_TASK_STATUS = {TaskStatus.RUNNING: 1, TaskStatus.FAILED: 2, TaskStatus.SUCCEEDED: 6}


def _stamp(seconds: float) -> str:
    return api_time(datetime.fromtimestamp(seconds, BEIJING))


def blocked_ip(entry: dict[str, Any]) -> dict[str, Any]:
    return {"IP": entry["ip"], "CreateTime": _stamp(entry["created_at"]), "ExpireTime": _stamp(entry["expires_at"])}


def task_status(status: TaskStatus) -> int:
    return _TASK_STATUS[status]
