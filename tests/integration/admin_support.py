"""Helpers for tests of openclb's admin API (service ``openclb``): the SDK's CommonClient, checked.

``admin_client`` is the official Python SDK's ``CommonClient`` for service ``openclb`` at the
admin version, pointed at a test server; ``admin`` calls it through ``call_json`` and checks the
answer against the admin shapes (``validate_response``), as ``clb_support.checked`` does for CLB.
``admin_refused`` asserts an exact error code. ``tcp_listener`` sets up a CLB whose TCP listener
relays to real backends, for traffic checks before and after a snapshot.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from clb_support import create_clb_with_vip, create_listener, write
from conftest import REGION, SECRET_ID, SECRET_KEY
from openclb.api import admin as admin_api
from openclb.api.validate import validate_response


def admin_client(url: str, secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY,
                 sign_method: str = "TC3-HMAC-SHA256", service: str = admin_api.SERVICE) -> CommonClient:
    profile = ClientProfile(signMethod=sign_method, httpProfile=HttpProfile(endpoint=url))
    return CommonClient(service, admin_api.VERSION, credential.Credential(secret_id, secret_key), REGION, profile)


def admin(client: CommonClient, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.call_json(action, params or {})["Response"]
    problems = validate_response(action, response)
    assert not problems, problems
    return response


def admin_refused(client: CommonClient, action: str, params: dict[str, Any], code: str) -> str:
    with pytest.raises(TencentCloudSDKException) as caught:
        client.call_json(action, params)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    return caught.value.message


def export_text(client: CommonClient, **params: Any) -> str:
    return admin(client, "ExportState", params)["State"]


def export_document(client: CommonClient, **params: Any) -> dict[str, Any]:
    return json.loads(export_text(client, **params))


def import_state(admin_api_client: CommonClient, clb_client, text: str, **params: Any) -> dict[str, Any]:
    """ImportState, then DescribeTaskStatus until the task has left Status 2: (answer, final status)."""
    answer = admin(admin_api_client, "ImportState", {"State": text, **params})
    status = 2
    for _ in range(500):
        status = clb_client.call_json("DescribeTaskStatus", {"TaskId": answer["TaskId"]})["Response"]
        if status["Status"] != 2:
            break
    return {"answer": answer, "status": status}


def tcp_listener(client, port: int, backends: list) -> tuple[str, str, str]:
    """A new CLB with a TCP listener on ``port`` relaying to ``backends`` (health checks off)."""
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [port], HealthCheck={"HealthSwitch": 0})
    write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Targets": [
        {"EniIp": "127.0.0.1", "Port": backend.port} for backend in backends]})
    return lb_id, vip, listener_id
