"""The official examples (tccli's examples.json) of the issue-16 account actions, replayed.

Each example's request is sent as the example shows it: a GET example as a v1-signed GET with
its flattened parameters, a POST example as a TC3-signed JSON body. Each must be accepted
structurally and answered either with success (checked against the spec and parsed into the
SDK's typed model) or with the documented domain error for the ids it names, which do not
exist in a fresh account.
"""

from __future__ import annotations

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from clb_support import typed
from conftest import sdk_client
from example_requests import example_calls
from openclb.api.validate import validate_response

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


def _examples() -> list:
    return [pytest.param(action, index, method, params, id=f"{action}-{index}")
            for action in EXPECTED for index, (method, params) in enumerate(example_calls(action))]


def test_examples_cover_every_action():
    assert {case.values[0] for case in _examples()} == set(EXPECTED)


@pytest.mark.parametrize("action,index,method,params", _examples())
def test_official_example_answered_with_success_or_documented_error(server, action, index, method, params):
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
