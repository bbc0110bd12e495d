"""The Terraform provider's tencentcloud_clb_redirection with is_auto_rewrite, call for call.

Create: DescribeListeners(ListenerIds) of the HTTPS:443 target listener (``*Protocol``, ``*Port``) →
its rule by LocationId (``*Domain``, ``*Url``) → AutoRewrite(ListenerId, Domains) → task → the
HTTP:80 listener openclb created, found by DescribeListeners(Port=80, Protocol=HTTP) → its rule by
Domain and Url → id ``srcLoc#dstLoc#srcListener#dstListener#clb``. Read: DescribeRewrite(
SourceListenerIds, SourceLocationIds), the entry whose RewriteTarget names the target listener and
rule (``*TargetListenerId``, ``*TargetLocationId``, ``*Domain``). Delete: DeleteRewrite → task, or
with delete_all_auto_rewrite every entry of DescribeRewrite(SourceListenerIds) under the domain
(``*ListenerId``, ``*LocationId``, ``*Domain``). A plain HTTP request on :80 is redirected to https
while the redirection exists and no longer once it is deleted.
"""

from __future__ import annotations

import pytest

from clb_support import refused, upload
from l7_support import request
from provider_support import assert_set, provider_clients, typed_write, written
from services_support import typed_call

pytestmark = pytest.mark.postgres


def one_listener(clb, lb_id: str, **filters):
    (found,) = typed_call(clb, "DescribeListeners", LoadBalancerId=lb_id, **filters).Listeners
    assert_set(found, "ListenerId", "Protocol", "Port")
    return found


def rules_matching(listener, **wanted) -> list:
    """DescribeRulesByFilter: rules compared field by field after dereferencing them."""
    for rule in listener.Rules or []:
        assert_set(rule, "LocationId", "Domain", "Url")
    return [rule for rule in listener.Rules or [] if all(getattr(rule, k) == v for k, v in wanted.items())]


def auto_redirection(clb, lb_id: str, https_id: str, target_location: str) -> str:
    """resourceTencentCloudClbRedirectionCreate with is_auto_rewrite: the redirection's id."""
    target = one_listener(clb, lb_id, ListenerIds=[https_id])
    assert (target.Protocol, target.Port) == ("HTTPS", 443)
    (rule,) = rules_matching(target, LocationId=target_location)
    typed_write(clb, "AutoRewrite", LoadBalancerId=lb_id, ListenerId=https_id, Domains=[rule.Domain])
    source = one_listener(clb, lb_id, Port=80, Protocol="HTTP")
    (source_rule,) = rules_matching(source, Domain=rule.Domain, Url=rule.Url)
    return "#".join((source_rule.LocationId, target_location, source.ListenerId, https_id, lb_id))


def read_redirection(clb, rewrite_id: str):
    """DescribeRedirectionById: the RewriteSet entry pointing at the target listener and rule, or None."""
    source_location, target_location, source_listener, target_listener, lb_id = rewrite_id.split("#")
    answer = typed_call(clb, "DescribeRewrite", LoadBalancerId=lb_id, SourceListenerIds=[source_listener],
                        SourceLocationIds=[source_location])
    for entry in answer.RewriteSet:
        if entry.RewriteTarget is not None:
            assert_set(entry.RewriteTarget, "TargetListenerId", "TargetLocationId")
            assert_set(entry, "Domain")
            if (entry.RewriteTarget.TargetListenerId, entry.RewriteTarget.TargetLocationId) == (target_listener,
                                                                                             target_location):
                return entry
    return None


def delete_redirection(clb, rewrite_id: str) -> None:
    """DeleteRedirectionById."""
    source_location, target_location, source_listener, target_listener, lb_id = rewrite_id.split("#")
    typed_write(clb, "DeleteRewrite", LoadBalancerId=lb_id, SourceListenerId=source_listener,
                TargetListenerId=target_listener,
                RewriteInfos=[{"SourceLocationId": source_location, "TargetLocationId": target_location}])


def all_auto_redirections(clb, rewrite_id: str) -> list[str]:
    """DescribeAllAutoRedirections: the ids of every auto redirection under the source rule's domain."""
    source_location, _, source_listener, _, lb_id = rewrite_id.split("#")
    entries = [entry for entry in typed_call(clb, "DescribeRewrite", LoadBalancerId=lb_id,
                                             SourceListenerIds=[source_listener]).RewriteSet
               if entry.RewriteTarget is not None]
    for entry in entries:
        assert_set(entry, "ListenerId", "LocationId", "Domain")
        assert_set(entry.RewriteTarget, "TargetListenerId", "TargetLocationId")
    domain = next(e.Domain for e in entries if (e.ListenerId, e.LocationId) == (source_listener, source_location))
    return ["#".join((e.LocationId, e.RewriteTarget.TargetLocationId, e.ListenerId, e.RewriteTarget.TargetListenerId,
                      lb_id)) for e in entries if e.ListenerId == source_listener and e.Domain == domain]


def https_site(clb, urls: list[str]) -> tuple[str, str, str, list[str]]:
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-rw")["LoadBalancerIds"]
    (vip,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet[0].LoadBalancerVips
    (https_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[443], Protocol="HTTPS",
                          Certificate=upload("rsa")).ListenerIds
    locations = written(clb, "CreateRule", LoadBalancerId=lb_id, ListenerId=https_id, Rules=[
        {"Domain": "rw.tf.test", "Url": url, "HealthCheck": {"HealthSwitch": 0}} for url in urls]).LocationIds
    return lb_id, vip, https_id, locations


def test_clb_redirection_auto_rewrite_provider_sequence_redirects_then_delete_stops(server):
    clb = provider_clients(server.url).clb
    lb_id, vip, https_id, (location_id,) = https_site(clb, ["/"])

    rewrite_id = auto_redirection(clb, lb_id, https_id, location_id)
    entry = read_redirection(clb, rewrite_id)
    assert entry is not None and entry.Domain == "rw.tf.test"
    assert (entry.RewriteTarget.RewriteCode, entry.RewriteTarget.TakeUrl) == (301, True)
    moved = request(vip, 80, "/shop?id=7", host="rw.tf.test")
    assert (moved.status, moved.headers["location"]) == (301, "https://rw.tf.test/shop?id=7")

    delete_redirection(clb, rewrite_id)
    assert read_redirection(clb, rewrite_id) is None
    assert request(vip, 80, "/shop?id=7", host="rw.tf.test").status != 301


def test_clb_redirection_delete_all_auto_rewrite_removes_every_url_of_the_domain(server):
    clb = provider_clients(server.url).clb
    lb_id, vip, https_id, (root, api) = https_site(clb, ["/", "/api"])

    rewrite_id = auto_redirection(clb, lb_id, https_id, root)
    found = all_auto_redirections(clb, rewrite_id)
    assert rewrite_id in found and len(found) == 2
    assert request(vip, 80, "/api/v1", host="rw.tf.test").status == 301

    for each in found:
        delete_redirection(clb, each)
    assert [read_redirection(clb, each) for each in found] == [None, None]
    assert request(vip, 80, "/api/v1", host="rw.tf.test").status != 301
    assert api in {each.split("#")[1] for each in found}


def test_auto_rewrite_domain_without_https_rule_refused_and_nothing_created(server):
    clb = provider_clients(server.url).clb
    lb_id, _, https_id, _ = https_site(clb, ["/api"])

    refused(clb, "AutoRewrite", {"LoadBalancerId": lb_id, "ListenerId": https_id, "Domains": ["other.tf.test"]},
            "InvalidParameter.LocationNotFound")

    assert typed_call(clb, "DescribeListeners", LoadBalancerId=lb_id, Protocol="HTTP").Listeners == []
