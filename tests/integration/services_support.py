"""Helpers for tests of the neighbouring services (tag, vpc, ssl, sts) through their official SDK clients.

``service_client`` builds the official client of a service (``tag_client.TagClient``, ...) aimed at
openclb, as the CLB tests' ``sdk_client`` does. ``service_checked`` calls ``call_json``, checks the
answer against that service's generated spec and parses it into the SDK's typed model with
warnings as errors; ``service_refused`` asserts the exact error code of a refusal.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from conftest import REGION, SECRET_ID, SECRET_KEY
from openclb.api import spec
from openclb.api.validate import validate_response

_PACKAGES = {"clb": "v20180317", "tag": "v20180813", "vpc": "v20170312", "ssl": "v20191205", "sts": "v20180813"}
_CLIENT_CLASSES = {"tag": "TagClient", "vpc": "VpcClient", "ssl": "SslClient", "sts": "StsClient"}


def models_of(service: str):
    return importlib.import_module(f"tencentcloud.{service}.{_PACKAGES[service]}.models")


def service_client(url: str, service: str, sign_method: str = "TC3-HMAC-SHA256", req_method: str = "POST",
                   region: str = REGION, secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY,
                   proxy_host: str | None = None):
    """The official SDK client of ``service`` pointed at openclb (or, with ``proxy_host``, aimed at that
    host and reaching openclb as its HTTP proxy, so ``Host`` is ``proxy_host`` as the provider sends it)."""
    module = importlib.import_module(f"tencentcloud.{service}.{_PACKAGES[service]}.{service}_client")
    if proxy_host:
        http = HttpProfile(endpoint=proxy_host, protocol="http", reqMethod=req_method, proxy=url)
    else:
        http = HttpProfile(endpoint=url, reqMethod=req_method)
    profile = ClientProfile(signMethod=sign_method, httpProfile=http)
    return getattr(module, _CLIENT_CLASSES[service])(credential.Credential(secret_id, secret_key), region, profile)


def service_typed(service: str, action: str, response: dict[str, Any]) -> Any:
    model = getattr(models_of(service), f"{action}Response")()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model._deserialize(response)
    return model


def service_checked(client, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """``call_json`` of the client's service; the answer conforms to its spec and parses into its model."""
    service = client._service
    response = client.call_json(action, params or {})["Response"]
    problems = validate_response(action, response, service)
    assert not problems, problems
    service_typed(service, action, response)
    return response


def service_refused(client, action: str, params: dict[str, Any], code: str) -> str:
    with pytest.raises(TencentCloudSDKException) as caught:
        client.call_json(action, params)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    return caught.value.message


def typed_call(client, action: str, **members: Any) -> Any:
    """The SDK's typed call: ``client.Action(models.ActionRequest())`` with the members set."""
    service = client._service
    request = getattr(models_of(service), f"{action}Request")()
    request._deserialize(members)
    return getattr(client, action)(request)


def served_version(service: str) -> str:
    return spec.catalog(service).api_version
