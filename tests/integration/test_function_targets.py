"""Function targets through the official SDK: a function mapped in ``<data-dir>/functions.json``
serves the requests of the HTTP rule it is bound to; an unmapped function is refused."""

from __future__ import annotations

import json

import pytest
from tencentcloud.clb.v20180317 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from clb_support import checked, create_clb_with_vip, create_listener, create_rules, refused, task_status
from conftest import sdk_client
from example_requests import example_params
from l7_support import request
from openclb.config import read_function_map

pytestmark = pytest.mark.postgres

PORT = 8098


@pytest.fixture
def function_server(server_factory, tmp_path, http_backends):
    backend = http_backends.start("scf")
    endpoints = {"ns_test/name_test": f"http://127.0.0.1:{backend.port}"}
    (tmp_path / "map").mkdir()
    (tmp_path / "map" / "functions.json").write_text(json.dumps(endpoints))
    return server_factory(function_endpoints=read_function_map(tmp_path / "map")), backend


def function_target(name: str = "name_test", weight: int | None = None) -> models.FunctionTarget:
    info = models.FunctionInfo()
    info.FunctionNamespace, info.FunctionName, info.FunctionQualifier = "ns_test", name, "$LATEST"
    target = models.FunctionTarget()
    target.Function, target.Weight = info, weight
    return target


def test_register_function_targets_rule_requests_reach_the_mapped_endpoint(function_server):
    server, backend = function_server
    client = sdk_client(server.url)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [PORT])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "fn.test", "Url": "/"}])
    register = models.RegisterFunctionTargetsRequest()
    register.LoadBalancerId, register.ListenerId, register.LocationId = lb_id, listener_id, location_id
    register.FunctionTargets = [function_target(weight=30)]
    assert task_status(client, client.RegisterFunctionTargets(register).RequestId) == 0
    reply = request(vip, PORT, "/invoke", host="fn.test")
    assert reply.status == 200 and reply.json()["name"] == "scf"
    rules = checked(client, "DescribeTargets", {"LoadBalancerId": lb_id})["Listeners"][0]["Rules"]
    (bound,) = rules[0]["FunctionTargets"]
    assert (bound["Function"]["FunctionName"], bound["Weight"], rules[0]["Targets"]) == ("name_test", 30, [])

    modify = models.ModifyFunctionTargetsRequest()
    modify.LoadBalancerId, modify.ListenerId, modify.LocationId = lb_id, listener_id, location_id
    modify.FunctionTargets = [function_target(weight=60)]
    assert task_status(client, client.ModifyFunctionTargets(modify).RequestId) == 0
    rules = checked(client, "DescribeTargets", {"LoadBalancerId": lb_id})["Listeners"][0]["Rules"]
    assert rules[0]["FunctionTargets"][0]["Weight"] == 60

    deregister = models.DeregisterFunctionTargetsRequest()
    deregister.LoadBalancerId, deregister.ListenerId = lb_id, listener_id
    deregister.Domain, deregister.Url = "fn.test", "/"
    deregister.FunctionTargets = [function_target()]
    assert task_status(client, client.DeregisterFunctionTargets(deregister).RequestId) == 0
    assert request(vip, PORT, "/invoke", host="fn.test").status == 503


def test_register_function_targets_refusals_change_nothing(function_server):
    server, _ = function_server
    client = sdk_client(server.url)
    lb_id, _ = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [PORT])
    (tcp_id,) = create_listener(client, lb_id, "TCP", [PORT + 1])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "fn.test", "Url": "/"}])
    target = {"Function": {"FunctionNamespace": "ns_test", "FunctionName": "name_test", "FunctionQualifier": "1"}}
    unmapped = {"Function": {"FunctionNamespace": "ns_test", "FunctionName": "nowhere", "FunctionQualifier": "1"}}
    base = {"LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": location_id}
    message = refused(client, "RegisterFunctionTargets", {**base, "FunctionTargets": [unmapped]}, "InvalidParameter")
    assert "functions.json" in message
    refused(client, "RegisterFunctionTargets", {"LoadBalancerId": lb_id, "ListenerId": tcp_id,
                                                "FunctionTargets": [target]}, "InvalidParameter")
    refused(client, "RegisterFunctionTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                "FunctionTargets": [target]}, "MissingParameter")
    refused(client, "RegisterFunctionTargets", {**base, "FunctionTargets": [{**target, "Weight": 101}]},
            "InvalidParameterValue.Range")
    refused(client, "DeregisterFunctionTargets", {**base, "FunctionTargets": [target]}, "InvalidParameter")
    refused(client, "ModifyFunctionTargets", {**base, "FunctionTargets": [target]}, "InvalidParameter")


@pytest.mark.parametrize("action", ["RegisterFunctionTargets", "DeregisterFunctionTargets", "ModifyFunctionTargets"])
def test_official_examples_of_function_targets_answer_documented_error(server, client, action):
    for params in example_params(action):
        with pytest.raises(TencentCloudSDKException) as caught:
            client.call_json(action, params)
        assert caught.value.code in {"InvalidParameter.LBIdNotFound", "InvalidParameter.FormatError"}
