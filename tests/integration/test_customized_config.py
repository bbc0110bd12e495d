"""Customized configurations through the official SDK, and what a bound one does to real traffic.

A CLB-type configuration bound to a CLB is applied to its HTTP listeners: a body over
``client_max_body_size`` gets 413, ``add_header`` is seen by the client, ``proxy_read_timeout``
turns a silent target into 504 sooner. Refusals (a directive the engines cannot apply, unknown
ids, SERVER/LOCATION bindings) change nothing.
"""

from __future__ import annotations

import ssl
import time

import pytest
from tencentcloud.clb.v20180317 import models

from backends import SilentBackend
from clb_support import (
    checked as checked_typed, create_clb_with_vip, create_listener, create_rules, refused, register, task_status,
    trusting_context, upload,
)
from example_requests import example_params
from l7_support import request
from openclb.api.validate import validate_response

pytestmark = pytest.mark.postgres

PORT = 8097
CONTENT = 'client_max_body_size 1k;\nadd_header X-Openclb-Config "applied";\nproxy_read_timeout 1s;'


# AddCustomizedConfig, ModifyCustomizedConfig and DeleteCustomizedConfig are "preparing for
# decommissioning": the official Python SDK (3.1.194) has no typed models for them any more,
# tccli's spec still has them. Their answers are checked against the spec; the others' parse
# into the SDK's typed models too.
UNTYPED = {"AddCustomizedConfig", "ModifyCustomizedConfig", "DeleteCustomizedConfig"}


def checked(client, action: str, params: dict) -> dict:
    if action not in UNTYPED:
        return checked_typed(client, action, params)
    response = client.call_json(action, params)["Response"]
    assert not validate_response(action, response)
    return response


def http_clb(client, backend_port: int) -> tuple[str, str]:
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [PORT])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "config.test", "Url": "/"}])
    register(client, lb_id, listener_id, [backend_port], location_id)
    return lb_id, vip


def configs(client, config_type: str = "CLB") -> list[dict]:
    return checked(client, "DescribeCustomizedConfigList", {"ConfigType": config_type})["ConfigList"]


def bound(client, config_id: str) -> list[str]:
    return [b["LoadBalancerId"] for b in checked(client, "DescribeCustomizedConfigAssociateList",
                                                  {"UconfigId": config_id})["BindList"]]


def test_set_customized_config_bind_body_limit_413_header_added_and_unbind_restores(server, client, http_backends):
    backend = http_backends.start("configured")
    lb_id, vip = http_clb(client, backend.port)
    add = models.SetCustomizedConfigForLoadBalancerRequest()
    add.OperationType, add.ConfigName, add.ConfigContent = "ADD", "limits", CONTENT
    config_id = client.SetCustomizedConfigForLoadBalancer(add).ConfigId
    bind = models.SetCustomizedConfigForLoadBalancerRequest()
    bind.OperationType, bind.UconfigId, bind.LoadBalancerIds = "BIND", config_id, [lb_id]
    assert task_status(client, client.SetCustomizedConfigForLoadBalancer(bind).RequestId) == 0
    assert bound(client, config_id) == [lb_id]

    small = request(vip, PORT, "/", host="config.test", method="POST", body=b"x" * 100)
    assert small.status == 200 and small.headers["x-openclb-config"] == "applied"
    assert request(vip, PORT, "/", host="config.test", method="POST", body=b"x" * 2048).status == 413
    assert len(backend.requests) == 1

    checked(client, "SetCustomizedConfigForLoadBalancer",
            {"OperationType": "UNBIND", "UconfigId": config_id, "LoadBalancerIds": [lb_id]})
    time.sleep(0.5)
    assert bound(client, config_id) == []
    after = request(vip, PORT, "/", host="config.test", method="POST", body=b"x" * 2048)
    assert after.status == 200 and "x-openclb-config" not in after.headers


def test_associate_customized_config_proxy_read_timeout_gives_504_from_silent_target(server, client):
    silent = SilentBackend()
    lb_id, vip = http_clb(client, silent.port)
    config_id = checked(client, "AddCustomizedConfig", {"ConfigName": "timeout", "ConfigType": "CLB",
                                                        "ConfigContent": "proxy_read_timeout 1s;"})["ConfigId"]
    associate = models.AssociateCustomizedConfigRequest()
    item = models.BindItem()
    item.LoadBalancerId = lb_id
    associate.UconfigId, associate.BindList = config_id, [item]
    assert task_status(client, client.AssociateCustomizedConfig(associate).RequestId) == 0
    started = time.monotonic()
    assert request(vip, PORT, "/", host="config.test").status == 504
    assert time.monotonic() - started < 5
    silent.close()


def test_modify_customized_config_bound_clb_serves_new_content(server, client, http_backends):
    backend = http_backends.start("modified")
    lb_id, vip = http_clb(client, backend.port)
    config_id = checked(client, "AddCustomizedConfig", {"ConfigName": "hdr", "ConfigType": "CLB",
                                                        "ConfigContent": "add_header X-Version one;"})["ConfigId"]
    checked(client, "AssociateCustomizedConfig", {"UconfigId": config_id, "BindList": [{"LoadBalancerId": lb_id}]})
    time.sleep(0.3)
    assert request(vip, PORT, "/", host="config.test").headers["x-version"] == "one"
    modified = checked(client, "ModifyCustomizedConfig", {"ConfigName": "hdr2", "UconfigId": config_id,
                                                          "ConfigContent": "add_header X-Version two;"})
    assert task_status(client, modified["RequestId"]) == 0
    assert request(vip, PORT, "/", host="config.test").headers["x-version"] == "two"
    (listed,) = configs(client)
    assert (listed["ConfigName"], listed["ConfigContent"]) == ("hdr2", "add_header X-Version two;")


def test_customized_config_list_filters_and_delete(server, client):
    kept = checked(client, "AddCustomizedConfig", {"ConfigName": "kept", "ConfigType": "CLB",
                                                   "ConfigContent": "keepalive_timeout 30s;"})["ConfigId"]
    gone = checked(client, "AddCustomizedConfig", {"ConfigName": "gone", "ConfigType": "SERVER",
                                                   "ConfigContent": "client_max_body_size 10k;"})["ConfigId"]
    listed = client.DescribeCustomizedConfigList(_list_request("CLB"))
    assert [c.UconfigId for c in listed.ConfigList] == [kept] and listed.TotalCount == 1
    assert [c["UconfigId"] for c in configs(client, "SERVER")] == [gone]
    checked(client, "DeleteCustomizedConfig", {"UconfigIdList": [gone]})
    assert configs(client, "SERVER") == []
    associated = client.DescribeCustomizedConfigAssociateList(models.DescribeCustomizedConfigAssociateListRequest())
    assert associated.TotalCount == 0


def test_customized_config_refusals_change_nothing(server, client):
    lb_id, _ = create_clb_with_vip(client)
    config_id = checked(client, "AddCustomizedConfig", {"ConfigName": "one", "ConfigType": "CLB",
                                                        "ConfigContent": "keepalive_timeout 30s;"})["ConfigId"]
    server_config = checked(client, "AddCustomizedConfig", {"ConfigName": "srv", "ConfigType": "SERVER",
                                                            "ConfigContent": "add_header X-A a;"})["ConfigId"]
    before = configs(client), configs(client, "SERVER")
    message = refused(client, "AddCustomizedConfig", {"ConfigName": "bad", "ConfigType": "CLB",
                                                      "ConfigContent": "gzip on;"}, "InvalidParameterValue", lb_id=lb_id)
    assert "gzip" in message
    refused(client, "AddCustomizedConfig", {"ConfigName": "bad", "ConfigType": "STREAM",
                                            "ConfigContent": "keepalive_timeout 1s;"}, "InvalidParameterValue",
            lb_id=lb_id)
    refused(client, "ModifyCustomizedConfig", {"ConfigName": "x", "UconfigId": config_id,
                                               "ConfigContent": "proxy_buffering off;"}, "InvalidParameterValue",
            lb_id=lb_id)
    refused(client, "ModifyCustomizedConfig", {"ConfigName": "x", "UconfigId": "pz-00000000",
                                               "ConfigContent": "keepalive_timeout 1s;"}, "InvalidParameter",
            lb_id=lb_id)
    message = refused(client, "AddCustomizedConfig", {"ConfigName": "bad", "ConfigType": "LOCATION",
                                                      "ConfigContent": "proxy_read_timeout 5s;"},
                      "InvalidParameterValue", lb_id=lb_id)
    assert "proxy_read_timeout" in message
    refused(client, "AssociateCustomizedConfig", {"UconfigId": server_config, "BindList": [
        {"LoadBalancerId": lb_id, "ListenerId": "lbl-00000000", "Domain": "a.test"}]}, "InvalidParameter.ListenerIdNotFound")
    refused(client, "AssociateCustomizedConfig", {"UconfigId": config_id, "BindList": [
        {"LoadBalancerId": "lb-00000000"}]}, "InvalidParameter.LBIdNotFound", lb_id=lb_id)
    refused(client, "SetCustomizedConfigForLoadBalancer", {"OperationType": "BIND", "UconfigId": config_id},
            "MissingParameter", lb_id=lb_id)
    checked(client, "AssociateCustomizedConfig", {"UconfigId": config_id, "BindList": [{"LoadBalancerId": lb_id}]})
    refused(client, "DeleteCustomizedConfig", {"UconfigIdList": [config_id]}, "FailedOperation")
    assert (configs(client), configs(client, "SERVER")) == before


@pytest.mark.parametrize("action", [
    "AddCustomizedConfig", "ModifyCustomizedConfig", "DeleteCustomizedConfig", "DescribeCustomizedConfigList",
    "DescribeCustomizedConfigAssociateList", "AssociateCustomizedConfig", "DisassociateCustomizedConfig",
    "SetCustomizedConfigForLoadBalancer",
])
def test_official_examples_of_customized_config_success_or_documented_error(server, client, action):
    documented = {"InvalidParameter", "InvalidParameterValue", "InvalidParameter.LBIdNotFound"}
    for params in example_params(action):
        try:
            checked(client, action, params)
        except Exception as error:  # noqa: BLE001 - the SDK's exception carries the code
            assert getattr(error, "code", None) in documented, (params, error)



def _list_request(config_type: str) -> models.DescribeCustomizedConfigListRequest:
    listing = models.DescribeCustomizedConfigListRequest()
    listing.ConfigType = config_type
    return listing


def test_set_customized_config_ssl_protocols_refuses_older_handshakes(server, client, http_backends):
    backend = http_backends.start("tls13")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [PORT + 1], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "rsa.example.com", "Url": "/"}])
    register(client, lb_id, listener_id, [backend.port], location_id)
    tls12 = trusting_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert request(vip, PORT + 1, "/", host="rsa.example.com", tls=tls12, server_name="rsa.example.com").status == 200
    config_id = checked(client, "SetCustomizedConfigForLoadBalancer", {
        "OperationType": "ADD", "ConfigName": "tls13", "ConfigContent": "ssl_protocols TLSv1.3;"})["ConfigId"]
    bound_task = checked(client, "SetCustomizedConfigForLoadBalancer",
                         {"OperationType": "BIND", "UconfigId": config_id, "LoadBalancerIds": [lb_id]})
    assert task_status(client, bound_task["RequestId"]) == 0
    with pytest.raises(ssl.SSLError):
        request(vip, PORT + 1, "/", host="rsa.example.com", tls=tls12, server_name="rsa.example.com")
    assert request(vip, PORT + 1, "/", host="rsa.example.com", tls=trusting_context(),
                   server_name="rsa.example.com").status == 200


def test_associate_location_and_server_configs_apply_to_their_rules_only(server, client, http_backends):
    backend = http_backends.start("rules")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [PORT + 2])
    small_id, open_id, other_id = create_rules(client, lb_id, listener_id, [
        {"Domain": "a.test", "Url": "/small"}, {"Domain": "a.test", "Url": "/open"}, {"Domain": "b.test", "Url": "/"}])
    for location_id in (small_id, open_id, other_id):
        register(client, lb_id, listener_id, [backend.port], location_id)
    location = checked(client, "AddCustomizedConfig", {"ConfigName": "loc", "ConfigType": "LOCATION",
                                                       "ConfigContent": "client_max_body_size 10;"})["ConfigId"]
    domain = checked(client, "AddCustomizedConfig", {"ConfigName": "srv", "ConfigType": "SERVER",
                                                     "ConfigContent": "add_header X-Server b;"})["ConfigId"]
    for config_id, item in ((location, {"LocationId": small_id}), (domain, {"Domain": "b.test"})):
        answer = checked(client, "AssociateCustomizedConfig", {"UconfigId": config_id, "BindList": [
            {"LoadBalancerId": lb_id, "ListenerId": listener_id, **item}]})
        assert task_status(client, answer["RequestId"]) == 0
    body = b"x" * 100
    assert request(vip, PORT + 2, "/small", host="a.test", method="POST", body=body).status == 413
    assert request(vip, PORT + 2, "/open", host="a.test", method="POST", body=body).status == 200
    assert request(vip, PORT + 2, "/", host="b.test").headers["x-server"] == "b"
    assert "x-server" not in request(vip, PORT + 2, "/open", host="a.test").headers
    (bind,) = checked(client, "DescribeCustomizedConfigAssociateList", {"UconfigId": location})["BindList"]
    assert (bind["LocationId"], bind["Url"], bind["Vport"], bind["Protocol"]) == (small_id, "/small", PORT + 2, "HTTP")

    answer = checked(client, "DisassociateCustomizedConfig", {"UconfigId": location, "BindList": [
        {"LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": small_id}]})
    assert task_status(client, answer["RequestId"]) == 0
    assert request(vip, PORT + 2, "/small", host="a.test", method="POST", body=body).status == 200
