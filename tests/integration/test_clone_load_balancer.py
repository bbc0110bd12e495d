"""CloneLoadBalancer through the official Python SDK, with real traffic on the clone.

A source CLB with a TCP listener, an HTTP listener with two rules (one with a rewrite to the
other), an HTTPS listener with an uploaded certificate, tags and targets is cloned: the clone
gets its own id and VIP, the same listeners, rules, certificate, rewrite and targets under new
ids, and serves the same traffic; the source keeps serving. Refusals (unknown, busy, quota,
bad name or VIP) use the documented codes and leave nothing behind.
"""

from __future__ import annotations

import socket
import ssl

import pytest
from tencentcloud.clb.v20180317 import models

from admin_support import admin, admin_client
from backends import accepts_tcp
from clb_support import (
    checked, create_clb_with_vip, create_listener, create_rules, listeners, make_pki, refused, register, task_status, upload,
    write,
)
from conftest import sdk_client
from l7_support import request as http_request

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def _source(client, http_backends, named_backends):
    """A CLB with TCP, HTTP (two rules, a rewrite) and HTTPS listeners, all with targets."""
    lb_id, vip = create_clb_with_vip(client, "source", Tags=[{"TagKey": "team", "TagValue": "web"}])
    tcp_backend, web_a, web_b = named_backends("tcp-target"), http_backends.start("web-a"), http_backends.start("web-b")
    (tcp_id,) = create_listener(client, lb_id, "TCP", [7000], HealthCheck={"HealthSwitch": 0})
    register(client, lb_id, tcp_id, [tcp_backend.port])
    (http_id,) = create_listener(client, lb_id, "HTTP", [7080])
    a_id, b_id = create_rules(client, lb_id, http_id, [{"Domain": "a.example.com", "Url": "/"},
                                                       {"Domain": "b.example.com", "Url": "/b"}])
    register(client, lb_id, http_id, [web_a.port], a_id)
    register(client, lb_id, http_id, [web_b.port], b_id)
    (https_id,) = create_listener(client, lb_id, "HTTPS", [7443], Certificate=upload("rsa"))
    (tls_rule,) = create_rules(client, lb_id, https_id, [{"Domain": "a.example.com", "Url": "/"}])
    register(client, lb_id, https_id, [web_a.port], tls_rule)
    write(client, "ManualRewrite", {"LoadBalancerId": lb_id, "SourceListenerId": http_id, "TargetListenerId": https_id,
                                    "RewriteInfos": [{"SourceLocationId": b_id, "TargetLocationId": tls_rule}]})
    return lb_id, vip


def _clone(client, lb_id: str, **extra) -> str:
    request = models.CloneLoadBalancerRequest()
    request.LoadBalancerId = lb_id
    for key, value in extra.items():
        setattr(request, key, value)
    answer = client.CloneLoadBalancer(request)
    assert task_status(client, answer.RequestId) == 0
    (clone_id,) = checked(client, "DescribeTaskStatus", {"TaskId": answer.RequestId})["LoadBalancerIds"]
    return clone_id


def _shape(client, lb_id: str) -> list:
    """Listeners, rules, certificates, rewrites and targets of a CLB, without their ids."""
    shape = []
    for found in listeners(client, lb_id):
        rules = [(r["Domain"], r["Url"], r["RewriteTarget"]["TargetListenerId"] is not None)
                 for r in found.get("Rules") or []]
        cert = (found.get("Certificate") or {}).get("CertId")
        shape.append((found["Protocol"], found["Port"], found["ListenerName"], cert, sorted(rules)))
    targets = checked(client, "DescribeTargets", {"LoadBalancerId": lb_id})["Listeners"]
    ports = sorted((l["Port"], t["Port"]) for l in targets for t in l.get("Targets") or [])
    ports += sorted((l["Port"], r["Url"], t["Port"]) for l in targets for r in l.get("Rules") or [] for t in r["Targets"])
    return sorted(shape, key=str) + ports


def test_clone_load_balancer_copies_everything_and_serves_tcp_and_http(server, client, http_backends, named_backends):
    lb_id, vip = _source(client, http_backends, named_backends)
    clone_id = _clone(client, lb_id, LoadBalancerName="copy")
    tls = ssl.create_default_context(cadata=make_pki().ca.cert)

    clone = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [clone_id]})["LoadBalancerSet"][0]
    clone_vip = clone["LoadBalancerVips"][0]
    assert clone_id != lb_id and clone_vip != vip and clone["LoadBalancerName"] == "copy"
    assert clone["Tags"] == [{"TagKey": "team", "TagValue": "web"}]
    assert _shape(client, clone_id) == _shape(client, lb_id)
    source_ids = {l["ListenerId"] for l in listeners(client, lb_id)}
    assert not source_ids & {l["ListenerId"] for l in listeners(client, clone_id)}
    for found in listeners(client, clone_id):
        for rule in found.get("Rules") or []:
            target = rule["RewriteTarget"]["TargetListenerId"]
            assert target is None or target not in source_ids

    for address in (vip, clone_vip):
        with socket.create_connection((address, 7000), timeout=5) as conn:
            assert conn.recv(64) == b"tcp-target"
        assert http_request(address, 7080, host="a.example.com").json()["name"] == "web-a"
        assert http_request(address, 7080, "/b", host="b.example.com").status == 301
        served = http_request(address, 7443, host="a.example.com", tls=tls, server_name="rsa.example.com")
        assert served.json()["name"] == "web-a"


def test_clone_load_balancer_request_members_replace_source_settings(server, client):
    lb_id, _ = create_clb_with_vip(client, "source", Tags=[{"TagKey": "team", "TagValue": "web"}])
    tag = models.TagInfo()
    tag.TagKey, tag.TagValue = "env", "prod"
    clone_id = _clone(client, lb_id, Tags=[tag], ProjectId=7)
    clone = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [clone_id]})["LoadBalancerSet"][0]
    assert clone["ProjectId"] == 7 and clone["LoadBalancerName"] == "source"
    assert clone["Tags"] == [{"TagKey": "env", "TagValue": "prod"}]


def test_clone_load_balancer_then_delete_source_clone_keeps_serving(server, client, named_backends):
    lb_id, vip = create_clb_with_vip(client)
    backend = named_backends("kept")
    (listener_id,) = create_listener(client, lb_id, "TCP", [7100], HealthCheck={"HealthSwitch": 0})
    register(client, lb_id, listener_id, [backend.port])
    clone_id = _clone(client, lb_id)
    clone_vip = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [clone_id]})["LoadBalancerSet"][0][
        "LoadBalancerVips"][0]
    write(client, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]})
    assert not accepts_tcp(vip, 7100) and accepts_tcp(clone_vip, 7100)


def test_clone_load_balancer_unknown_source_raises_lb_id_not_found(server, client):
    lb_id, _ = create_clb_with_vip(client)
    refused(client, "CloneLoadBalancer", {"LoadBalancerId": "lb-p10fcs00"}, "InvalidParameter.LBIdNotFound", lb_id=lb_id)


def test_clone_load_balancer_bad_name_or_taken_vip_refused_nothing_created(server, client):
    lb_id, vip = create_clb_with_vip(client)
    create_listener(client, lb_id, "TCP", [7200])
    refused(client, "CloneLoadBalancer", {"LoadBalancerId": lb_id, "LoadBalancerName": "x" * 81}, "InvalidParameterValue.Length")
    refused(client, "CloneLoadBalancer", {"LoadBalancerId": lb_id, "Vip": vip}, "InvalidParameterValue")
    assert checked(client, "DescribeLoadBalancers", {})["TotalCount"] == 1


def test_clone_load_balancer_over_quota_raises_limit_exceeded(server_factory):
    from openclb.config import Quotas
    server = server_factory(quotas=Quotas(open_clb_per_region=1))
    client = sdk_client(server.url)
    lb_id, _ = create_clb_with_vip(client)
    refused(client, "CloneLoadBalancer", {"LoadBalancerId": lb_id}, "LimitExceeded")


def test_clone_load_balancer_source_busy_raises_resource_in_operating(server_factory):
    server = server_factory(fault_injection=True)
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    lb_id, _ = create_clb_with_vip(client)
    admin(admin_api, "InjectFault", {"Kind": "TaskDelay", "Action": "CreateListener", "Seconds": 30})
    checked(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [7300]})
    before = checked(client, "DescribeLoadBalancers", {})["TotalCount"]
    with pytest.raises(Exception) as caught:
        client.call_json("CloneLoadBalancer", {"LoadBalancerId": lb_id})
    assert caught.value.code == "FailedOperation.ResourceInOperating"
    assert checked(client, "DescribeLoadBalancers", {})["TotalCount"] == before
    admin(admin_api, "ClearFaults")
