"""The Terraform provider's tencentcloud_clb_attachment, call for call, through the official SDK client.

Create: RegisterTargets in chunks of 20 (25 targets: two calls), each followed by its task. Read
(DescribeAttachmentByPara): DescribeListeners(ListenerIds) for the listener's Protocol and Port, then
DescribeTargets(ListenerIds, Protocol, Port); for a TCP listener the listener's Targets, for HTTP the
targets of the rule whose LocationId matches, each dereferenced as ``*Type``, ``*Weight``,
``*Port`` and ``*PrivateIpAddresses[0]`` (ENI targets). Update, in the provider's order: deregister
what was removed, ModifyTargetWeight what only changed weight, register what was added. Delete:
DeregisterTargets of the remaining targets; the read then finds none. Connections through the
listener reach exactly the targets the read shows.
"""

from __future__ import annotations

import pytest

from backends import first_bytes
from l7_support import request
from provider_support import assert_set, provider_clients, typed_write, written
from services_support import typed_call

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

CHUNK = 20
PORT = 9851
ENI_TYPES = {"ENI", "NAT", "CCN", "SRV", "MS", "EVM", "GR", "IPDC", "PVGW"}


def eni(port: int, weight: int = 10) -> dict:
    return {"EniIp": "127.0.0.1", "Port": port, "Weight": weight}


def register_in_chunks(clb, lb_id: str, listener_id: str, targets: list[dict], **where) -> int:
    """The create's loop: one RegisterTargets (and its task) per CHUNK targets; the number of calls."""
    calls = 0
    for start in range(0, len(targets), CHUNK):
        typed_write(clb, "RegisterTargets", LoadBalancerId=lb_id, ListenerId=listener_id,
                    Targets=targets[start:start + CHUNK], **where)
        calls += 1
    return calls


def read_attachment(clb, lb_id: str, listener_id: str, location_id: str = "", domain: str = "",
                    url: str = "") -> dict[tuple[str, int], int]:
    """resourceTencentCloudClbServerAttachmentRead: (eni_ip, port) → weight of the online targets."""
    (found,) = typed_call(clb, "DescribeListeners", LoadBalancerId=lb_id, ListenerIds=[listener_id]).Listeners
    assert_set(found, "Protocol", "Port")
    (backend,) = typed_call(clb, "DescribeTargets", LoadBalancerId=lb_id, ListenerIds=[listener_id],
                            Protocol=found.Protocol, Port=found.Port).Listeners
    assert_set(backend, "Protocol")
    if backend.Protocol in ("HTTP", "HTTPS"):
        for rule in backend.Rules:
            assert_set(rule, "LocationId", "Domain", "Url")
        online = next(rule.Targets for rule in backend.Rules
                      if rule.LocationId == location_id or (rule.Domain, rule.Url) == (domain, url))
    else:
        online = backend.Targets or []
    targets = {}
    for target in online:
        assert_set(target, "Type", "Weight", "Port", "PrivateIpAddresses")
        assert target.Type in ENI_TYPES, target.Type
        targets[(target.PrivateIpAddresses[0], target.Port)] = target.Weight
    return targets


def reached(vip: str, connections: int) -> set[bytes]:
    return {first_bytes(vip, PORT).strip() for _ in range(connections)}


def test_clb_attachment_provider_sequence_25_targets_two_chunks_update_delete(server, named_backends):
    clb = provider_clients(server.url).clb
    backends = [named_backends(f"t{index:02d}", end=b"\n") for index in range(25)]
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-att")["LoadBalancerIds"]
    (vip,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet[0].LoadBalancerVips
    (listener_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[PORT], Protocol="TCP",
                             HealthCheck={"HealthSwitch": 0}).ListenerIds

    assert register_in_chunks(clb, lb_id, listener_id, [eni(b.port) for b in backends]) == 2
    assert read_attachment(clb, lb_id, listener_id) == {("127.0.0.1", b.port): 10 for b in backends}
    assert reached(vip, 75) == {b.name.encode() for b in backends}

    removed, reweighted, kept = backends[:5], backends[5:7], backends[7:]
    typed_write(clb, "DeregisterTargets", LoadBalancerId=lb_id, ListenerId=listener_id,
                Targets=[eni(b.port) for b in removed])
    typed_write(clb, "ModifyTargetWeight", LoadBalancerId=lb_id, ListenerId=listener_id,
                Targets=[eni(b.port, 0) for b in reweighted])
    expected = {("127.0.0.1", b.port): 10 for b in kept} | {("127.0.0.1", b.port): 0 for b in reweighted}
    assert read_attachment(clb, lb_id, listener_id) == expected
    assert reached(vip, 54) == {b.name.encode() for b in kept}

    typed_write(clb, "DeregisterTargets", LoadBalancerId=lb_id, ListenerId=listener_id,
                Targets=[eni(b.port, 0) for b in reweighted] + [eni(b.port) for b in kept])
    assert read_attachment(clb, lb_id, listener_id) == {}


def test_clb_attachment_provider_sequence_on_rule_reads_rule_targets(server, http_backends):
    clb = provider_clients(server.url).clb
    first, second = http_backends.start("r1"), http_backends.start("r2")
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-att7")["LoadBalancerIds"]
    (vip,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet[0].LoadBalancerVips
    (listener_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[PORT + 1], Protocol="HTTP").ListenerIds
    (location_id,) = written(clb, "CreateRule", LoadBalancerId=lb_id, ListenerId=listener_id, Rules=[
        {"Domain": "att.tf.test", "Url": "/", "HealthCheck": {"HealthSwitch": 0}}]).LocationIds

    register_in_chunks(clb, lb_id, listener_id, [eni(first.port), eni(second.port)], LocationId=location_id)
    assert read_attachment(clb, lb_id, listener_id, location_id) == {("127.0.0.1", first.port): 10,
                                                                     ("127.0.0.1", second.port): 10}
    seen = {request(vip, PORT + 1, "/", host="att.tf.test").headers["x-backend"] for _ in range(6)}
    assert seen == {"r1", "r2"}

    typed_write(clb, "DeregisterTargets", LoadBalancerId=lb_id, ListenerId=listener_id, LocationId=location_id,
                Targets=[eni(first.port)])
    assert read_attachment(clb, lb_id, listener_id, location_id) == {("127.0.0.1", second.port): 10}
    assert {request(vip, PORT + 1, "/", host="att.tf.test").headers["x-backend"] for _ in range(4)} == {"r2"}


def test_clb_attachment_provider_sequence_by_domain_and_url(server, http_backends):
    """An attachment configured with domain and url instead of rule_id: RegisterTargets and
    DeregisterTargets carry Domain and Url; the read picks the rule whose Domain and Url match."""
    clb = provider_clients(server.url).clb
    target = http_backends.start("du")
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tf-du")["LoadBalancerIds"]
    (vip,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet[0].LoadBalancerVips
    (listener_id,) = written(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[PORT + 2], Protocol="HTTP").ListenerIds
    typed_write(clb, "CreateRule", LoadBalancerId=lb_id, ListenerId=listener_id, Rules=[
        {"Domain": "du.tf.test", "Url": "/du", "HealthCheck": {"HealthSwitch": 0}}])

    register_in_chunks(clb, lb_id, listener_id, [eni(target.port)], Domain="du.tf.test", Url="/du")
    assert read_attachment(clb, lb_id, listener_id, domain="du.tf.test", url="/du") == {("127.0.0.1", target.port): 10}
    assert request(vip, PORT + 2, "/du/x", host="du.tf.test").headers["x-backend"] == "du"

    typed_write(clb, "DeregisterTargets", LoadBalancerId=lb_id, ListenerId=listener_id, Domain="du.tf.test", Url="/du",
                Targets=[eni(target.port)])
    assert read_attachment(clb, lb_id, listener_id, domain="du.tf.test", url="/du") == {}
    assert "x-backend" not in request(vip, PORT + 2, "/du/x", host="du.tf.test").headers
