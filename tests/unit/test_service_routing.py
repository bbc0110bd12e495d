"""Which service a call is for (api/routing.py): Version first, then the TC3 scope, the Host, the action."""

from __future__ import annotations

import pytest

from openclb import errors
from openclb.api import admin, parser, routing


def call(action: str, version: str, region: str = "ap-guangzhou", kind=parser.SignatureKind.V1) -> parser.ApiCall:
    return parser.ApiCall(kind, action, version, region, "", None)


@pytest.mark.parametrize(("action", "version", "service"), [
    ("DescribeLoadBalancers", "2018-03-17", "clb"),
    ("DescribeAddresses", "2017-03-12", "vpc"),
    ("DescribeCertificates", "2019-12-05", "ssl"),
    ("GetCallerIdentity", "2018-08-13", "sts"),
    ("GetTagKeys", "2018-08-13", "tag"),
    ("ExportState", admin.VERSION, "openclb"),
])
def test_resolve_service_by_version_and_action_returns_service(action, version, service):
    assert routing.resolve_service(call(action, version), "127.0.0.1:9180", None) == service


@pytest.mark.parametrize(("host", "signed_for", "service"), [
    ("tag.example.test", None, "tag"), ("sts.example.test", None, "sts"),
    ("127.0.0.1", "tag", "tag"), ("sts.example.test", "tag", "tag"),
])
def test_resolve_service_shared_version_scope_then_host_decide(host, signed_for, service):
    action = "GetCallerIdentity" if service == "sts" else "GetTagKeys"
    assert routing.resolve_service(call(action, "2018-08-13"), host, signed_for) == service


def test_resolve_service_host_naming_the_other_service_of_the_version_answers_invalid_action():
    with pytest.raises(errors.InvalidAction):
        routing.resolve_service(call("GetCallerIdentity", "2018-08-13"), "tag.example.test", None)


@pytest.mark.parametrize(("service", "region"), [("sts", ""), ("tag", ""), ("ssl", "")])
def test_resolve_service_region_optional_services_accept_no_region(service, region):
    action = {"sts": "GetCallerIdentity", "tag": "GetTagKeys", "ssl": "DescribeCertificates"}[service]
    version = {"sts": "2018-08-13", "tag": "2018-08-13", "ssl": "2019-12-05"}[service]
    assert routing.resolve_service(call(action, version, region), f"{service}.example.test", None) == service


@pytest.mark.parametrize(("action", "version", "region", "error"), [
    ("DescribeAddresses", "2017-03-12", "", errors.MissingParameter),
    ("GetCallerIdentity", "2018-08-13", "mars-north-1", errors.UnsupportedRegion),
    ("DescribeAddresses", "2011-01-01", "ap-guangzhou", errors.NoSuchVersion),
    ("DescribeNothing", "2017-03-12", "ap-guangzhou", errors.InvalidAction),
    ("", "", "ap-guangzhou", errors.MissingParameter),
])
def test_resolve_service_bad_common_parameter_raises_documented_error(action, version, region, error):
    with pytest.raises(error):
        routing.resolve_service(call(action, version, region), "127.0.0.1", None)


def test_check_scope_tc3_naming_another_served_service_raises_invalid_authorization():
    tc3 = call("DescribeAddresses", "2017-03-12", kind=parser.SignatureKind.TC3)
    with pytest.raises(errors.AuthFailureInvalidAuthorization):
        routing.check_scope(tc3, "vpc", "tag")
    routing.check_scope(tc3, "vpc", "vpc")
    routing.check_scope(tc3, "vpc", "127")
