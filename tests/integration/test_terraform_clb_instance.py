"""The Terraform provider's tencentcloud_clb_instance, call for call, through the official SDK clients
of clb, tag, vpc, ssl and sts: create with Tags → task → read (DescribeLoadBalancers, sts GetCallerIdentity,
tag DescribeResourceTagsByResourceIds, vpc DescribeAddresses for INTERNAL) → update
(ModifyLoadBalancerAttributes, ModifyLoadBalancerSla, ModifyLoadBalancersProject, tag
ModifyResourceTags on the name BuildTagResourceName makes, ``qcs::clb:REGION:uin/:clb/ID`` with the
account left empty) → delete, a second delete answering InvalidParameter.LBIdNotFound (which the
provider counts as done). Every write is followed by DescribeTaskStatus(TaskId = RequestId), polled
as the provider polls it: while 2, failed on 1."""

from __future__ import annotations

import pytest

from clb_support import create_listener, listener, make_pki, trusting_context
from conftest import REGION
from l7_support import peer_certificate_cn
from provider_support import provider_clients, typed_write
from services_support import service_checked, service_refused, typed_call

pytestmark = pytest.mark.postgres

DESCRIBE_TAGS_LIMIT = 20


def provider_tags(tag, lb_id: str) -> dict[str, str]:
    """TagService.DescribeResourceTags: pages of DESCRIBE_TAGS_LIMIT until a short page."""
    found, offset, count = {}, 0, DESCRIBE_TAGS_LIMIT
    while count == DESCRIBE_TAGS_LIMIT:
        page = typed_call(tag, "DescribeResourceTagsByResourceIds", ServiceType="clb", ResourcePrefix="clb",
                          ResourceRegion=REGION, ResourceIds=[lb_id], Limit=DESCRIBE_TAGS_LIMIT, Offset=offset)
        count = len(page.Tags)
        found.update({row.TagKey: row.TagValue for row in page.Tags if row.ResourceId == lb_id})
        offset += count
    return found


def read_instance(clb, tag, vpc, lb_id: str) -> tuple[object, dict[str, str]]:
    """resourceTencentCloudClbInstanceRead: the fields it dereferences are never null."""
    (instance,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet
    for value in (instance.LoadBalancerType, instance.LoadBalancerName, instance.TargetRegionInfo.Region,
                  instance.TargetRegionInfo.VpcId, instance.ProjectId, instance.SlaType, instance.Forward,
                  instance.LoadBalancerPassToTarget, instance.NetworkAttributes.InternetChargeType):
        assert value is not None
    if instance.LoadBalancerType == "INTERNAL":
        addresses = typed_call(vpc, "DescribeAddresses", Filters=[{"Name": "instance-id", "Values": [lb_id]}])
        assert addresses.AddressSet == []
    return instance, provider_tags(tag, lb_id)


@pytest.fixture
def provider(any_store_server):
    """The provider's clients: clb, and tag, vpc, ssl and sts on the same endpoint."""
    return provider_clients(any_store_server.url)


@pytest.mark.parametrize("network_type", ["OPEN", "INTERNAL"])
def test_clb_instance_provider_sequence_create_read_update_delete(provider, network_type):
    clb, tag, vpc, sts = provider.clb, provider.tag, provider.vpc, provider.sts
    assert typed_call(sts, "GetCallerIdentity").AccountId
    name = f"tf-{network_type.lower()}"
    assert all(lb.LoadBalancerName != name
               for lb in typed_call(clb, "DescribeLoadBalancers", LoadBalancerName=name).LoadBalancerSet)

    created = typed_write(clb, "CreateLoadBalancer", LoadBalancerType=network_type, LoadBalancerName=name,
                          ProjectId=0, Tags=[{"TagKey": "env", "TagValue": "test"}], LoadBalancerPassToTarget=True)
    (lb_id,) = created["LoadBalancerIds"]
    typed_write(clb, "ModifyLoadBalancerAttributes", LoadBalancerId=lb_id, LoadBalancerPassToTarget=True,
                DeleteProtect=False)
    instance, tags = read_instance(clb, tag, vpc, lb_id)
    assert (instance.LoadBalancerType, instance.TargetRegionInfo.Region, tags) == (network_type, REGION, {"env": "test"})

    typed_write(clb, "ModifyLoadBalancerSla", LoadBalancerSla=[{"LoadBalancerId": lb_id, "SlaType": "clb.c3.small"}])
    typed_write(clb, "ModifyLoadBalancersProject", LoadBalancerIds=[lb_id], ProjectId=1234)
    typed_call(tag, "ModifyResourceTags", Resource=f"qcs::clb:{REGION}:uin/:clb/{lb_id}",
               ReplaceTags=[{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "web"}])
    instance, tags = read_instance(clb, tag, vpc, lb_id)
    assert (instance.SlaType, instance.ProjectId, tags) == ("clb.c3.small", 1234, {"env": "prod", "team": "web"})

    typed_write(clb, "DeleteLoadBalancer", LoadBalancerIds=[lb_id])
    service_refused(clb, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]}, "InvalidParameter.LBIdNotFound")
    assert typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet == []
    assert provider_tags(tag, lb_id) == {}


def test_clb_instance_delete_protect_on_refuses_delete_and_keeps_instance(provider):
    clb, tag, vpc = provider.clb, provider.tag, provider.vpc
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="protected",
                           Tags=[{"TagKey": "env", "TagValue": "test"}])["LoadBalancerIds"]
    typed_write(clb, "ModifyLoadBalancerAttributes", LoadBalancerId=lb_id, DeleteProtect=True)

    service_refused(clb, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]}, "FailedOperation")

    instance, tags = read_instance(clb, tag, vpc, lb_id)
    assert (instance.IsDDos, tags) == (False, {"env": "test"})


def test_clb_listener_provider_read_dereferences_are_not_null(provider):
    clb = provider.clb
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="lsn")["LoadBalancerIds"]
    for protocol, port in (("TCP", 9701), ("HTTP", 9702), ("UDP", 9703)):
        (listener_id,) = create_listener(clb, lb_id, protocol, [port])
        found = listener(clb, lb_id, listener_id)
        assert found["Protocol"] == protocol and found["SniSwitch"] is not None
        assert found["AttrFlags"] is not None
        if found.get("HealthCheck") is not None:
            assert found["HealthCheck"]["HealthSwitch"] is not None
    assert service_checked(provider.sts, "GetCallerIdentity")["AccountId"]


def test_clb_listener_provider_sequence_checks_certificate_type_in_ssl_then_serves_tls(provider, named_backends):
    clb, ssl, sts = provider.clb, provider.ssl, provider.sts
    pem, target = make_pki().rsa, named_backends("tls-target", end=b"\n")
    cert_id = typed_call(ssl, "UploadCertificate", CertificatePublicKey=pem.cert, CertificatePrivateKey=pem.key,
                         Alias="tf").CertificateId
    ca_id = typed_call(ssl, "UploadCertificate", CertificatePublicKey=make_pki().ca.cert,
                       CertificateType="CA").CertificateId
    (lb_id,) = typed_write(clb, "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="tls")["LoadBalancerIds"]

    assert typed_call(ssl, "DescribeCertificateDetail", CertificateId=cert_id).CertificateType == "SVR"
    assert typed_call(ssl, "DescribeCertificateDetail", CertificateId=ca_id).CertificateType == "CA"
    typed_write(clb, "CreateListener", LoadBalancerId=lb_id, Ports=[9721], Protocol="TCP_SSL", ListenerNames=["tf"],
                Certificate={"SSLMode": "UNIDIRECTIONAL", "CertId": cert_id})
    (found,) = typed_call(clb, "DescribeListeners", LoadBalancerId=lb_id, Port=9721, Protocol="TCP_SSL").Listeners
    typed_write(clb, "RegisterTargets", LoadBalancerId=lb_id, ListenerId=found.ListenerId,
                Targets=[{"EniIp": "127.0.0.1", "Port": target.port}])

    assert (found.Certificate.CertId, found.SniSwitch, found.HealthCheck.HealthSwitch) == (cert_id, 0, 1)
    (vip,) = typed_call(clb, "DescribeLoadBalancers", LoadBalancerIds=[lb_id]).LoadBalancerSet[0].LoadBalancerVips
    assert peer_certificate_cn(vip, 9721, None, trusting_context(check_hostname=False)) == "rsa.example.com"
    service_refused(ssl, "DeleteCertificate", {"CertificateId": cert_id}, "FailedOperation.DeleteResourceFailed")
    assert service_checked(sts, "GetCallerIdentity")["Type"] == "RootAccount"
