"""Classic CLB actions through the official Python SDK, for an account that has (and can have) none.

The reads that name no CLB answer their documented empty shapes; every action that names a CLB
is refused with InvalidParameter ("Invalid LoadBalancerId"), also for a CLB of the current kind,
as the real API answers (TencentCloud/tencentcloud-sdk-go#135); refusals leave every CLB and
listener as it was.
"""

from __future__ import annotations

import json

import pytest
from tencentcloud.clb.v20180317 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from clb_support import checked, create_clb, create_listener, refused

pytestmark = pytest.mark.postgres

NAMING_A_CLB = [
    ("DescribeClassicalLBHealthStatus", {}),
    ("DescribeClassicalLBListeners", {"ListenerIds": ["lbl-aaaaaaaa"], "Protocol": "TCP"}),
    ("DescribeClassicalLBTargets", {}),
    ("RegisterTargetsWithClassicalLB", {"Targets": [{"InstanceId": "ins-lhhn9fhk", "Weight": 20}]}),
    ("DeregisterTargetsFromClassicalLB", {"InstanceIds": ["ins-odjhn6vc"]}),
]


def test_describe_classical_lb_by_instance_id_no_classic_clbs_returns_empty_list(server, client):
    request = models.DescribeClassicalLBByInstanceIdRequest()
    request.InstanceIds = ["ins-odjhn6vc"]
    assert client.DescribeClassicalLBByInstanceId(request).LoadBalancerInfoList == []
    assert checked(client, "DescribeClassicalLBByInstanceId", {"InstanceIds": ["ins-a", "ins-b"]})[
        "LoadBalancerInfoList"] == []


def test_describe_classical_lb_by_instance_id_empty_or_too_many_ids_raises_length(server, client):
    refused(client, "DescribeClassicalLBByInstanceId", {"InstanceIds": []}, "InvalidParameterValue.Length")
    refused(client, "DescribeClassicalLBByInstanceId", {"InstanceIds": [f"ins-{i:08d}" for i in range(21)]},
            "InvalidParameterValue.Length")


@pytest.mark.parametrize("action,extra", NAMING_A_CLB)
def test_classic_action_modern_clb_id_raises_invalid_parameter_nothing_changed(server, client, action, extra):
    lb_id = create_clb(client, "modern")
    create_listener(client, lb_id, "TCP", [8080])
    message = refused(client, action, {"LoadBalancerId": lb_id, **extra}, "InvalidParameter", lb_id=lb_id)
    assert message == f"Invalid LoadBalancerId, LoadBalancerId: {lb_id}"
    request = getattr(models, f"{action}Request")()
    request.from_json_string(json.dumps({"LoadBalancerId": lb_id, **extra}))
    with pytest.raises(TencentCloudSDKException) as caught:
        getattr(client, action)(request)
    assert (caught.value.code, caught.value.message) == ("InvalidParameter", message)


@pytest.mark.parametrize("action,extra", NAMING_A_CLB)
def test_classic_action_unknown_clb_id_raises_invalid_parameter(server, client, action, extra):
    watched = create_clb(client, "watched")
    message = refused(client, action, {"LoadBalancerId": "lb-a3u5l5zc", **extra}, "InvalidParameter", lb_id=watched)
    assert "lb-a3u5l5zc" in message


def test_describe_classical_lb_listeners_typed_model_modern_id_raises_invalid_parameter(server, client):
    lb_id = create_clb(client)
    request = models.DescribeClassicalLBListenersRequest()
    request.LoadBalancerId = lb_id
    with pytest.raises(TencentCloudSDKException) as caught:
        client.DescribeClassicalLBListeners(request)
    assert caught.value.code == "InvalidParameter"


def test_migrate_classical_load_balancers_modern_or_unknown_id_raises_invalid_parameter_nothing_changed(server, client):
    lb_id = create_clb(client, "modern")
    request = models.MigrateClassicalLoadBalancersRequest()
    request.LoadBalancerIds = [lb_id]
    with pytest.raises(TencentCloudSDKException) as caught:
        client.MigrateClassicalLoadBalancers(request)
    assert caught.value.code == "InvalidParameter"
    refused(client, "MigrateClassicalLoadBalancers", {"LoadBalancerIds": ["lb-isdw5mum"]}, "InvalidParameter", lb_id=lb_id)
    refused(client, "MigrateClassicalLoadBalancers", {"LoadBalancerIds": []}, "MissingParameter", lb_id=lb_id)
    refused(client, "MigrateClassicalLoadBalancers", {"LoadBalancerIds": [f"lb-{i:08d}" for i in range(21)]},
            "InvalidParameterValue", lb_id=lb_id)
    assert checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["TotalCount"] == 1
