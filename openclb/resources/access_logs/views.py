"""Log sets and topics → the answers of DescribeClsLogSet (PascalCase lives here)."""

from __future__ import annotations

from openclb.domain.models import AccountObject


def logset_ids(logsets: list[AccountObject]) -> dict[str, str]:
    """DescribeClsLogSet: the ACCESS and HEALTH log set ids, empty where there is none."""
    by_type = {logset.settings.get("logset_type"): logset.id for logset in logsets}
    return {"LogsetId": by_type.get("ACCESS", ""), "HealthLogsetId": by_type.get("HEALTH", "")}
