"""The official examples (tccli's examples.json) of the access-log and SNAT actions, replayed.

Each is answered with success, or, where it names ids this server does not hold (lb-cuxw2r00),
with the documented domain error for them; never with UnsupportedOperation.
"""

from __future__ import annotations

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from clb_support import checked
from example_requests import example_params

NOT_HELD = {"InvalidParameter.LBIdNotFound", "InvalidParameter.FormatError"}


def replay(client, action: str, params: dict) -> str:
    """"ok", or the error code the call was refused with."""
    try:
        checked(client, action, params)
    except TencentCloudSDKException as error:
        return error.code
    return "ok"


@pytest.mark.parametrize("action, expected", [
    ("CreateClsLogSet", {"ok"}),
    ("DescribeClsLogSet", {"ok"}),
    ("CreateTopic", {"ok"}),
    ("SetLoadBalancerClsLog", NOT_HELD),
    ("CreateLoadBalancerSnatIps", NOT_HELD),
    ("DeleteLoadBalancerSnatIps", NOT_HELD),
])
def test_official_examples_replayed_answer_success_or_documented_error(server, client, action, expected):
    if action == "CreateTopic":
        checked(client, "CreateClsLogSet", {})
    examples = example_params(action)
    assert examples
    for params in examples:
        assert replay(client, action, params) in expected, params
