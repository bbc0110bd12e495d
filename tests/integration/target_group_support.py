"""Helpers for the target-group tests: typed SDK calls, set-up calls and refusals that change nothing.

``typed_call`` goes through the SDK's typed request and response models (``client.Action(
models.ActionRequest())``), as a program written against the SDK would; ``checked`` and
``write`` (clb_support) go through ``call_json`` with the answer checked against the spec.
``refused_tg`` asserts the exact error code and that the account's target groups, their
instances and the CLB's listeners read the same before and after.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from tencentcloud.clb.v20180317 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from clb_support import checked, snapshot, task_status, write


def typed_call(client, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """``client.Action(models.ActionRequest())`` with ``params``; the typed answer as a dict."""
    request = getattr(models, f"{action}Request")()
    request.from_json_string(json.dumps(params))
    response = getattr(client, action)(request)
    return json.loads(response.to_json_string())


def typed_write(client, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """A typed asynchronous write whose task (TaskId = RequestId) ends with Status 0."""
    response = typed_call(client, action, params)
    assert task_status(client, response["RequestId"]) == 0, action
    return response


def create_group(client, name: str = "tg", **extra: Any) -> str:
    return checked(client, "CreateTargetGroup", {"TargetGroupName": name, **extra})["TargetGroupId"]


def group(client, group_id: str) -> dict[str, Any]:
    (found,) = checked(client, "DescribeTargetGroups", {"TargetGroupIds": [group_id]})["TargetGroupSet"]
    return found


def instances(client, group_id: str) -> dict[tuple[str, int], int]:
    """(BindIP, Port) → Weight of the group's instances."""
    found = checked(client, "DescribeTargetGroupInstances",
                    {"Filters": [{"Name": "TargetGroupId", "Values": [group_id]}], "Limit": 100})
    return {(i["PrivateIpAddresses"][0], i["Port"]): i["Weight"] for i in found["TargetGroupInstanceSet"]}


def register_instances(client, group_id: str, ports: list[int], weight: int | None = None) -> None:
    items = [{"BindIP": "127.0.0.1", "Port": port, **({"Weight": weight} if weight is not None else {})}
             for port in ports]
    write(client, "RegisterTargetGroupInstances", {"TargetGroupId": group_id, "TargetGroupInstances": items})


def associate(client, group_id: str, lb_id: str, listener_id: str, location_id: str | None = None) -> None:
    item = {"TargetGroupId": group_id, "LoadBalancerId": lb_id, "ListenerId": listener_id}
    if location_id:
        item["LocationId"] = location_id
    write(client, "AssociateTargetGroups", {"Associations": [item]})


def disassociate(client, group_id: str, lb_id: str, listener_id: str, location_id: str | None = None) -> None:
    item = {"TargetGroupId": group_id, "LoadBalancerId": lb_id, "ListenerId": listener_id}
    if location_id:
        item["LocationId"] = location_id
    write(client, "DisassociateTargetGroups", {"Associations": [item]})


def groups_state(client) -> Any:
    """Every target group of the account with its instances: what a refusal must leave as it was."""
    found = checked(client, "DescribeTargetGroups", {"Limit": 100})
    found.pop("RequestId")
    return found, {g["TargetGroupId"]: instances(client, g["TargetGroupId"]) for g in found["TargetGroupSet"]}


def refused_tg(client, action: str, params: dict[str, Any], code: str, lb_id: str | None = None) -> str:
    """``action`` fails with exactly ``code``; target groups, instances, CLBs and listeners are unchanged."""
    before = groups_state(client), snapshot(client, lb_id)
    with pytest.raises(TencentCloudSDKException) as caught:
        client.call_json(action, params)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    assert (groups_state(client), snapshot(client, lb_id)) == before
    return caught.value.message


def nothing_served(host: str, port: int) -> bool:
    """A connection that is refused, or closed before a byte: what a listener without targets does."""
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.settimeout(2)
            return conn.recv(16) == b""
    except OSError:
        return True
