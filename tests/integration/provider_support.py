"""The Terraform provider's way of calling openclb, for the test_terraform_* replays.

``typed_write`` is one of the provider's asynchronous writes: the SDK's typed call inside the
provider's ``resource.Retry`` (which retries the codes of ``tccommon.retryableErrorCode``, a short
code matching as well as the long one, and the "task is working" messages of
``processRetryErrMsg``), then ``waitForTaskFinish``: DescribeTaskStatus(TaskId = the write's
RequestId) while it answers 2, failing on 1. ``provider_clients`` are the provider's clients
(clb, and tag, vpc, ssl, sts) aimed at one openclb.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from clb_support import checked
from conftest import sdk_client
from services_support import service_client, typed_call

PROVIDER_POLLS = 300
PROVIDER_ATTEMPTS = 20
RETRYABLE_CODES = {"ClientError.NetworkError", "ClientError.HttpStatusCodeError", "RequestLimitExceeded",
                   "ResourceInUse", "ResourceUnavailable", "ResourceBusy"}
RETRYABLE_MESSAGES = ("is not in normal status", "is not in normal desState", "desState is abnormal",
                      "des status abnormal", "Your task is working")


def provider_clients(url: str) -> SimpleNamespace:
    return SimpleNamespace(clb=sdk_client(url), **{name: service_client(url, name) for name in ("tag", "vpc", "ssl", "sts")})


def wait_for_task(clb, request_id: str) -> dict:
    """waitForTaskFinish: DescribeTaskStatus until it leaves 2 (expanding); 1 (failed) fails the step."""
    for _ in range(PROVIDER_POLLS):
        status = checked(clb, "DescribeTaskStatus", {"TaskId": request_id})
        if status["Status"] != 2:
            assert status["Status"] == 0, status
            return status
        time.sleep(0.02)
    raise AssertionError(f"task {request_id} still running")


def retryable(error: TencentCloudSDKException) -> bool:
    """tccommon.RetryError plus processRetryErrMsg: what the provider tries again."""
    code = error.code or ""
    return (code in RETRYABLE_CODES or code.split(".")[0] in RETRYABLE_CODES
            or any(message in (error.message or "") for message in RETRYABLE_MESSAGES))


def provider_call(client, action: str, **members: Any) -> Any:
    """The typed call inside the provider's resource.Retry."""
    for _ in range(PROVIDER_ATTEMPTS - 1):
        try:
            return typed_call(client, action, **members)
        except TencentCloudSDKException as error:
            if not retryable(error):
                raise
            time.sleep(0.05)
    return typed_call(client, action, **members)


def typed_write(clb, action: str, **members: Any) -> dict:
    """An asynchronous write as the provider makes it; the task's final DescribeTaskStatus answer."""
    response = provider_call(clb, action, **members)
    assert response.RequestId
    return wait_for_task(clb, response.RequestId)


def written(clb, action: str, **members: Any) -> Any:
    """An asynchronous write whose own answer the provider reads (CreateListener's ListenerIds)."""
    response = provider_call(clb, action, **members)
    wait_for_task(clb, response.RequestId)
    return response


def assert_set(owner: Any, *fields: str) -> None:
    """Every field the provider dereferences (``*x.Field``) is present on ``owner``."""
    missing = [name for name in fields if getattr(owner, name) is None]
    assert not missing, (type(owner).__name__, missing)
