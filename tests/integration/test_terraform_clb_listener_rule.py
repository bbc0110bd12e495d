"""The Terraform provider's tencentcloud_clb_listener_rule, call for call, through the official SDK clients.

Create: DescribeListeners (the listener's protocol) → CreateRule → task → the LocationId found by
listing the listener's rules again and matching Url and Domain (DescribeRuleByPara; the create
answer's LocationIds are not read) → ModifyDomainAttributes(Http2) → task → read
(DescribeRulesByFilter: the listener's rules matched by LocationId, then every field the provider
sets, dereferencing HealthCheck.HealthSwitch and HealthCheck.HttpCheckMethod). Update: ModifyRule
(Url, Scheduler, SessionExpireTime) → task → ModifyDomainAttributes(Domain → NewDomain) → task.
Import: the read by clb#listener#location id. Delete: DeleteRule → task; the read then finds
nothing. HTTPS requests reach the rule's target under the rule's host and path at each step.
"""

from __future__ import annotations

import pytest

from clb_support import refused, trusting_context, upload
from l7_support import request
from provider_support import assert_set, provider_clients, typed_write, written
from services_support import typed_call

pytestmark = pytest.mark.postgres

PORT = 9843
RULE_FIELDS = ("LocationId", "Url", "Domain", "Scheduler", "SessionExpireTime", "TargetType", "ForwardType", "Http2",
               "HealthCheck")
HEALTH_FIELDS = ("HealthSwitch", "IntervalTime", "HealthNum", "UnHealthNum", "HttpCheckMethod", "HttpCheckPath",
                 "HttpCheckDomain", "HttpCode", "CheckType", "TimeOut")


def listener_by_id(clb, lb_id: str, listener_id: str):
    """DescribeListenerById."""
    (found,) = typed_call(clb, "DescribeListeners", LoadBalancerId=lb_id, ListenerIds=[listener_id]).Listeners
    return found


def rule_by_para(clb, lb_id: str, listener_id: str, domain: str, url: str):
    """DescribeRuleByPara: ``*rule.Url`` and ``*rule.Domain`` of every rule are compared."""
    matched = [rule for rule in listener_by_id(clb, lb_id, listener_id).Rules
               if rule.Url is not None and rule.Domain is not None and (rule.Url, rule.Domain) == (url, domain)]
    return matched[0] if matched else None


def rules_by_filter(clb, lb_id: str, listener_id: str, location_id: str) -> list:
    """DescribeRulesByFilter(rule_id): dereferences ``*rule.LocationId`` of each rule."""
    rules = listener_by_id(clb, lb_id, listener_id).Rules or []
    assert all(rule.LocationId is not None for rule in rules)
    return [rule for rule in rules if rule.LocationId == location_id]


def read_rule(clb, lb_id: str, listener_id: str, location_id: str):
    """resourceTencentCloudClbListenerRuleRead on its own and as the import's read."""
    (rule,) = rules_by_filter(clb, lb_id, listener_id, location_id)
    assert_set(rule, *RULE_FIELDS)
    assert_set(rule.HealthCheck, *HEALTH_FIELDS)
    assert rule.Certificate is None or rule.Certificate.SSLMode is not None
    return rule


def served_by(vip: str, host: str, path: str) -> tuple[int, str | None]:
    reply = request(vip, PORT, path, host=host, tls=trusting_context(check_hostname=False), server_name=host)
    return reply.status, reply.headers.get("x-backend")


def test_clb_listener_rule_provider_sequence_create_read_update_import_delete(server, http_backends):
    clb = provider_clients(server.url).clb
    backend = http_backends.start("rule-target")
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-rule")["LoadBalancerIds"]
    (vip,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet[0].LoadBalancerVips
    (listener_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[PORT], Protocol="HTTPS",
                             ListenerNames=["tf"], Certificate=upload("rsa")).ListenerIds
    assert listener_by_id(clb, lb_id, listener_id).Protocol == "HTTPS"

    typed_write(clb, "CreateRule", LoadBalancerId=lb_id, ListenerId=listener_id, Rules=[{
        "Domain": "a.tf.test", "Url": "/app", "TargetType": "NODE", "Scheduler": "WRR", "SessionExpireTime": 30,
        "HealthCheck": {"HealthSwitch": 0}}])
    location_id = rule_by_para(clb, lb_id, listener_id, "a.tf.test", "/app").LocationId
    typed_write(clb, "ModifyDomainAttributes", LoadBalancerId=lb_id, ListenerId=listener_id, Domain="a.tf.test",
                Http2=True)
    rule = read_rule(clb, lb_id, listener_id, location_id)
    assert (rule.Url, rule.Domain, rule.Scheduler, rule.SessionExpireTime, rule.Http2) == ("/app", "a.tf.test", "WRR",
                                                                                           30, True)
    assert rule.HealthCheck.HealthSwitch == 0
    typed_write(clb, "RegisterTargets", LoadBalancerId=lb_id, ListenerId=listener_id, LocationId=location_id,
                Targets=[{"EniIp": "127.0.0.1", "Port": backend.port}])
    assert served_by(vip, "a.tf.test", "/app/x") == (200, "rule-target")

    assert listener_by_id(clb, lb_id, listener_id).Protocol == "HTTPS"
    typed_write(clb, "ModifyRule", LoadBalancerId=lb_id, ListenerId=listener_id, LocationId=location_id, Url="/v2",
                Scheduler="LEAST_CONN", SessionExpireTime=0)
    typed_write(clb, "ModifyDomainAttributes", LoadBalancerId=lb_id, ListenerId=listener_id, Domain="a.tf.test",
                NewDomain="b.tf.test")
    rule = read_rule(clb, lb_id, listener_id, location_id)
    assert (rule.Url, rule.Domain, rule.Scheduler, rule.SessionExpireTime) == ("/v2", "b.tf.test", "LEAST_CONN", 0)
    assert served_by(vip, "b.tf.test", "/v2/y") == (200, "rule-target")
    assert served_by(vip, "a.tf.test", "/app/x")[1] is None

    imported = read_rule(clb, lb_id, listener_id, location_id)
    assert (imported.LocationId, imported.Url, imported.Domain) == (location_id, "/v2", "b.tf.test")

    typed_write(clb, "DeleteRule", LoadBalancerId=lb_id, ListenerId=listener_id, LocationIds=[location_id])
    assert rules_by_filter(clb, lb_id, listener_id, location_id) == []
    assert served_by(vip, "b.tf.test", "/v2/y")[1] is None


def test_clb_listener_rule_provider_http2_switch_false_on_http_listener_accepted(server):
    """http2_switch = false set on an HTTP listener's rule: the provider still sends Http2 (false)."""
    clb = provider_clients(server.url).clb
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-h1")["LoadBalancerIds"]
    (listener_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[PORT + 1], Protocol="HTTP",
                             ListenerNames=["tf"]).ListenerIds
    typed_write(clb, "CreateRule", LoadBalancerId=lb_id, ListenerId=listener_id,
                Rules=[{"Domain": "h.tf.test", "Url": "/", "TargetType": "NODE", "Scheduler": "WRR"}])
    location_id = rule_by_para(clb, lb_id, listener_id, "h.tf.test", "/").LocationId

    typed_write(clb, "ModifyDomainAttributes", LoadBalancerId=lb_id, ListenerId=listener_id, Domain="h.tf.test",
                Http2=False)

    assert read_rule(clb, lb_id, listener_id, location_id).Http2 is False


def test_clb_listener_rule_provider_domains_rule_found_by_domains_then_http2_needs_domain(server, http_backends):
    """A rule configured with ``domains``: found by Url and the Domains list (DescribeRuleByPara still
    dereferences ``*rule.Domain``). The create's Http2 call then carries NewDomains and no Domain, which
    the API requires: MissingParameter, as the spec says, and nothing changes; the update's form
    (Domain = the first old domain, NewDomains) sets it."""
    clb = provider_clients(server.url).clb
    backend = http_backends.start("multi")
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-md")["LoadBalancerIds"]
    (vip,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet[0].LoadBalancerVips
    (listener_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[PORT], Protocol="HTTPS",
                             Certificate=upload("rsa")).ListenerIds
    domains = ["m1.tf.test", "m2.tf.test"]
    typed_write(clb, "CreateRule", LoadBalancerId=lb_id, ListenerId=listener_id, Rules=[
        {"Domains": domains, "Url": "/", "TargetType": "NODE", "Scheduler": "WRR", "HealthCheck": {"HealthSwitch": 0}}])
    rules = listener_by_id(clb, lb_id, listener_id).Rules
    assert all(rule.Domain is not None and rule.Url is not None for rule in rules)
    (rule,) = [rule for rule in rules if rule.Url == "/" and sorted(rule.Domains) == domains]

    refused(clb, "ModifyDomainAttributes", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                             "NewDomains": domains, "Http2": True}, "MissingParameter")
    typed_write(clb, "ModifyDomainAttributes", LoadBalancerId=lb_id, ListenerId=listener_id, Domain=domains[0],
                NewDomains=domains, Http2=True)
    typed_write(clb, "RegisterTargets", LoadBalancerId=lb_id, ListenerId=listener_id, LocationId=rule.LocationId,
                Targets=[{"EniIp": "127.0.0.1", "Port": backend.port}])

    assert read_rule(clb, lb_id, listener_id, rule.LocationId).Http2 is True
    assert served_by(vip, "m2.tf.test", "/") == (200, "multi")
