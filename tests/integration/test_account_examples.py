"""The official examples (tccli's examples.json) of the issue-16 account actions, replayed.

Each example's request is sent as the example shows it: a GET example as a v1-signed GET with
its flattened parameters, a POST example as a TC3-signed JSON body. Each must be accepted
structurally and answered either with success (checked against the spec and parsed into the
SDK's typed model) or with the documented domain error for the ids it names, which do not
exist in a fresh account.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tccli
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from clb_support import typed
from conftest import sdk_client
from openclb.api.validate import validate_response

EXAMPLES = Path(tccli.__file__).parent / "services" / "clb" / "v20180317" / "examples.json"

# What each example gets in an account without the ids it names: None is success.
EXPECTED = {
    "DescribeLoadBalancerTraffic": None,
    "DescribeLoadBalancerOverview": None,
    "DescribeIdleLoadBalancers": None,
    "DescribeResources": None,
    "DescribeLBOperateProtect": "InvalidParameter.LBIdNotFound",
    "DescribeCrossTargets": None,
    "CloneLoadBalancer": "InvalidParameter.LBIdNotFound",
    "DescribeClassicalLBByInstanceId": None,
    "DescribeClassicalLBHealthStatus": "InvalidParameter",
    "DescribeClassicalLBListeners": "InvalidParameter",
    "DescribeClassicalLBTargets": "InvalidParameter",
    "RegisterTargetsWithClassicalLB": "InvalidParameter",
    "DeregisterTargetsFromClassicalLB": "InvalidParameter",
    "MigrateClassicalLoadBalancers": "InvalidParameter",
    "InquiryPriceCreateLoadBalancer": None,
    "InquiryPriceModifyLoadBalancer": "InvalidParameter",
    "InquiryPriceRefundLoadBalancer": "InvalidParameter",
    "InquiryPriceRenewLoadBalancer": "InvalidParameter",
    "RenewLoadBalancers": "InvalidParameter.LBIdNotFound",
    "BatchModifyTargetTag": "InvalidParameter.LBIdNotFound",
}


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """``Targets.0.InstanceId=x`` → ``{"Targets": [{"InstanceId": "x"}]}`` (values stay strings)."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node: Any = root
        for part, following in zip(parts, parts[1:]):
            container = [] if following.isdigit() else {}
            if part.isdigit():
                while len(node) <= int(part):
                    node.append(container)
                node = node[int(part)]
            else:
                node = node.setdefault(part, container)
        last = parts[-1]
        if last.isdigit():
            while len(node) <= int(last):
                node.append(None)
            node[int(last)] = value
        else:
            node[last] = value
    return root


def _request(text: str) -> tuple[str, dict[str, Any]]:
    """(``GET`` or ``POST``, parameters) of an example's input."""
    if text.lstrip().startswith("POST"):
        return "POST", json.loads(text[text.index("{"):])
    query = text.split("?", 1)[1]
    flat = {}
    for item in query.split("&"):
        item = item.strip()
        if item and not item.startswith("<") and not item.startswith("Action="):
            key, _, value = item.partition("=")
            flat[key] = value
    return "GET", _unflatten(flat)


def _examples() -> list:
    actions = json.loads(EXAMPLES.read_text())["actions"]
    return [pytest.param(action, index, example["input"], id=f"{action}-{index}")
            for action in EXPECTED for index, example in enumerate(actions.get(action, []))]


def test_examples_cover_every_action():
    assert {case.values[0] for case in _examples()} == set(EXPECTED)


@pytest.mark.parametrize("action,index,text", _examples())
def test_official_example_answered_with_success_or_documented_error(server, action, index, text):
    method, params = _request(text)
    if method == "GET":
        client = sdk_client(server.url, sign_method="HmacSHA256", req_method="GET")
    else:
        client = sdk_client(server.url)
    expected = EXPECTED[action]
    if expected is None:
        response = client.call_json(action, params)["Response"]
        assert not validate_response(action, response), validate_response(action, response)
        typed(action, response)
        return
    with pytest.raises(TencentCloudSDKException) as caught:
        client.call_json(action, params)
    assert caught.value.code == expected, (caught.value.code, caught.value.message)
