"""Several services on one endpoint: tag, vpc, ssl and sts beside CLB, told apart by Version, TC3 scope and Host.

Through the official SDK clients of each service (typed models and ``call_json``), TC3 and v1
signatures, direct and with the Host the Terraform provider sends (``sts.tencentcloudapi.com``).
"""

from __future__ import annotations

import pytest
import requests

from clb_support import checked
from conftest import SECRET_ID, SECRET_KEY, sdk_client
from gateway_support import Tc3Call, error_code, v1_signed_params
from openclb.api.accounts import DEFAULT_OWNER_UIN
from services_support import service_checked, service_client, service_refused, typed_call

SIGNATURES = [("TC3-HMAC-SHA256", "POST"), ("HmacSHA256", "POST"), ("HmacSHA1", "GET"), ("TC3-HMAC-SHA256", "GET")]


@pytest.mark.parametrize(("sign_method", "req_method"), SIGNATURES)
def test_get_caller_identity_any_signature_returns_account_uin(server, sign_method, req_method):
    client = service_client(server.url, "sts", sign_method, req_method)

    identity = service_checked(client, "GetCallerIdentity")

    assert identity["AccountId"] == identity["UserId"] == identity["PrincipalId"] == DEFAULT_OWNER_UIN
    assert identity["Arn"] == f"qcs::cam::uin/{DEFAULT_OWNER_UIN}:uin/{DEFAULT_OWNER_UIN}"
    assert identity["Type"] == "RootAccount"


def test_get_caller_identity_typed_model_through_provider_host_returns_uin(server):
    client = service_client(server.url, "sts", proxy_host="sts.tencentcloudapi.com")

    response = typed_call(client, "GetCallerIdentity")

    assert response.AccountId == DEFAULT_OWNER_UIN


def test_get_caller_identity_without_region_succeeds(server):
    response = Tc3Call("GetCallerIdentity", {}, version="2018-08-13", service="sts", region=None).send(server.url)

    assert error_code(response) is None


@pytest.mark.parametrize(("sign_method", "req_method"), SIGNATURES)
def test_describe_addresses_any_signature_returns_empty_set(server, sign_method, req_method):
    client = service_client(server.url, "vpc", sign_method, req_method)

    answer = service_checked(client, "DescribeAddresses", {"Filters": [{"Name": "address-status", "Values": ["BIND"]}]})

    assert (answer["TotalCount"], answer["AddressSet"]) == (0, [])


def test_describe_addresses_typed_model_with_ids_returns_empty_set(server):
    client = service_client(server.url, "vpc", proxy_host="vpc.tencentcloudapi.com")

    response = typed_call(client, "DescribeAddresses", AddressIds=["eip-abcd1234"], Limit=100)

    assert (response.TotalCount, response.AddressSet) == (0, [])


@pytest.mark.parametrize(("params", "code"), [
    ({"Filters": [{"Name": "color", "Values": ["red"]}]}, "InvalidParameter.FilterInvalidKey"),
    ({"Filters": [{"Name": "address-status", "Values": ["GONE"]}]}, "InvalidParameterValue"),
    ({"AddressIds": ["eip-abcd1234"], "Filters": [{"Name": "address-id", "Values": ["eip-abcd1235"]}]},
     "InvalidParameter.Coexist"),
    ({"AddressIds": ["lb-abcd1234"]}, "InvalidParameterValue.AddressIdMalformed"),
    ({"Limit": 101}, "InvalidParameterValue.Range"),
    ({"Offset": -1}, "InvalidParameterValue.Range"),
    ({"Colour": "red"}, "UnknownParameter"),
])
def test_describe_addresses_bad_parameter_answers_documented_code(server, params, code):
    service_refused(service_client(server.url, "vpc"), "DescribeAddresses", params, code)


def test_describe_addresses_without_region_answers_missing_parameter(server):
    response = Tc3Call("DescribeAddresses", {}, version="2017-03-12", service="vpc", region=None).send(server.url)

    assert error_code(response) == "MissingParameter"


@pytest.mark.parametrize(("service", "action"), [("vpc", "DescribeVpcs"), ("ssl", "ApplyCertificate"),
                                                 ("sts", "AssumeRole"), ("tag", "CreateTag")])
def test_unserved_action_of_neighbour_answers_unsupported_operation_by_name(server, service, action):
    message = service_refused(service_client(server.url, service), action, {}, "UnsupportedOperation")

    assert action in message


@pytest.mark.parametrize("service", ["vpc", "ssl", "sts", "tag"])
def test_unknown_action_of_neighbour_answers_invalid_action(server, service):
    service_refused(service_client(server.url, service), "DescribeNothingAtAll", {}, "InvalidAction")


@pytest.mark.parametrize(("scope", "version", "action"), [
    ("tag", "2017-03-12", "DescribeAddresses"), ("vpc", "2018-08-13", "GetCallerIdentity"),
    ("clb", "2018-08-13", "GetCallerIdentity"), ("sts", "2018-03-17", "DescribeLoadBalancers"),
])
def test_scope_naming_another_served_service_answers_invalid_authorization(server, scope, version, action):
    response = Tc3Call(action, {}, version=version, service=scope).send(server.url)

    assert error_code(response) == "AuthFailure.InvalidAuthorization"
    assert "`Service` in Credential not valid" in response.json()["Response"]["Error"]["Message"]


@pytest.mark.parametrize("scope", ["cvm", "cam", "cdn"])
def test_scope_naming_unserved_service_answers_invalid_authorization(server, scope):
    response = Tc3Call("GetCallerIdentity", {}, version="2018-08-13", service=scope,
                       host=f"{scope}.tencentcloudapi.com").send(server.url)

    assert error_code(response) == "AuthFailure.InvalidAuthorization"


def test_get_caller_identity_v1_host_of_sts_succeeds(server):
    host = "sts.example.test"
    params = v1_signed_params("POST", host, "GetCallerIdentity", version="2018-08-13")

    response = requests.post(f"{server.url}/", data=params, headers={"Host": host}, timeout=30)

    assert error_code(response) is None
    assert response.json()["Response"]["AccountId"] == DEFAULT_OWNER_UIN


def test_get_caller_identity_v1_host_of_tag_answers_invalid_action(server):
    host = "tag.example.test"
    params = v1_signed_params("POST", host, "GetCallerIdentity", version="2018-08-13")

    response = requests.post(f"{server.url}/", data=params, headers={"Host": host}, timeout=30)

    assert error_code(response) == "InvalidAction"


def test_unknown_version_answers_no_such_version_naming_served_versions(server):
    response = Tc3Call("DescribeAddresses", {}, version="2016-01-01", service="vpc").send(server.url)

    assert error_code(response) == "NoSuchVersion"
    assert "vpc 2017-03-12" in response.json()["Response"]["Error"]["Message"]


def test_clb_beside_neighbours_on_one_port_still_answers(server):
    clb = sdk_client(server.url)
    sts = service_client(server.url, "sts")

    assert checked(clb, "DescribeLoadBalancers", {})["TotalCount"] == 0
    assert service_checked(sts, "GetCallerIdentity")["AccountId"] == DEFAULT_OWNER_UIN


def test_get_caller_identity_unknown_key_answers_secret_id_not_found(server):
    client = service_client(server.url, "sts", secret_id="AKIDunknown", secret_key=SECRET_KEY)

    service_refused(client, "GetCallerIdentity", {}, "AuthFailure.SecretIdNotFound")
    assert SECRET_ID != "AKIDunknown"
