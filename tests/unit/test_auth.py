"""Signature verification against requests built by the official Python SDK's own signing code.

Requests come from ``ClbClient._build_req_inter`` (what ``_call`` does before sending), so
these tests fail if our reading of the wire format drifts from the real client. Cases no
Python client produces (Node's Host-derived scope service, Go's skipped empty values,
extra signed headers) are hand-signed with the SDK's ``Sign`` primitives.
"""

from __future__ import annotations

import hashlib
import json
from unittest import mock
from urllib.parse import parse_qsl

import pytest
from tencentcloud.clb.v20180317.clb_client import ClbClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign

from openclb import errors
from openclb.api.auth import (
    Account,
    NonceReplayGuard,
    Tc3Request,
    check_token,
    is_tc3,
    verify_tc3,
    verify_v1,
)

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA"
TOKEN = "sts-token-0123456789"
ACCOUNT = Account(SECRET_ID, SECRET_KEY, 1250000001, "100000000001")
TOKEN_ACCOUNT = Account("AKIDwithtoken", "token-account-key", 1250000002, "100000000002", TOKEN)
NOW = 1_760_000_000.0  # 2025-10-09T08:53:20Z
DESCRIBE_PARAMS = {"LoadBalancerIds": ["lb-abc123"], "Limit": 20}
LISTENER_PARAMS = {
    "LoadBalancerId": "lb-abc123",
    "Ports": [80, 81],
    "Protocol": "TCP",
    "ListenerNames": ["web front", "ünïcode"],
    "HealthCheck": {"HealthSwitch": 1, "TimeOut": 2, "CheckType": "TCP"},
    "SessionExpireTime": 0,
    "SniSwitch": 0,
}


def lookup(secret_id: str) -> Account | None:
    return {a.secret_id: a for a in (ACCOUNT, TOKEN_ACCOUNT)}.get(secret_id)


def sdk_client(
    sign_method: str = "TC3-HMAC-SHA256",
    endpoint: str = "127.0.0.1:8080",
    req_method: str = "POST",
    secret_id: str = SECRET_ID,
    secret_key: str = SECRET_KEY,
    token: str | None = None,
    unsigned_payload: bool = False,
) -> ClbClient:
    profile = ClientProfile(signMethod=sign_method, httpProfile=HttpProfile(endpoint=endpoint, reqMethod=req_method))
    profile.unsignedPayload = unsigned_payload
    return ClbClient(Credential(secret_id, secret_key, token), "ap-guangzhou", profile)


def sdk_request(client: ClbClient, action: str = "DescribeLoadBalancers", params=None, at: float = NOW):
    """What ``AbstractClient._call`` builds right before it hands the request to ``requests``."""
    req = RequestInternal(client._get_endpoint(), client.profile.httpProfile.reqMethod, client._requestPath, header={})
    with mock.patch("time.time", return_value=at):
        client._build_req_inter(action, DESCRIBE_PARAMS if params is None else params, req)
    return req


def tc3_from(req: RequestInternal) -> Tc3Request:
    headers = {name.lower(): value for name, value in req.header.items()}
    data = req.data.encode() if isinstance(req.data, str) else req.data
    if req.method == "GET":
        return Tc3Request("GET", req.header["Host"], req.data, headers, b"")
    return Tc3Request(req.method, req.header["Host"], "", headers, data)


def v1_params(req: RequestInternal) -> dict[str, str]:
    return dict(parse_qsl(req.data, keep_blank_values=True))


def hand_signed_tc3(
    *,
    method: str = "POST",
    host: str = "127.0.0.1:8080",
    query: str = "",
    body: bytes = b"{}",
    extra_headers: dict[str, str] | None = None,
    signed_headers: tuple[str, ...] = ("content-type", "host"),
    service: str = "clb",
    timestamp: int = int(NOW),
    date: str | None = None,
    signed_host: str | None = None,
) -> Tc3Request:
    """A TC3 request signed the way the Node/Go SDKs or a hand-written client would."""
    headers = {"content-type": "application/json", "x-tc-timestamp": str(timestamp), **(extra_headers or {})}
    date = date or "2025-10-09"
    values = {**headers, "host": signed_host or host}
    canonical_headers = "".join(f"{name}:{values[name]}\n" for name in signed_headers)
    canonical_request = "\n".join(
        (method, "/", query, canonical_headers, ";".join(signed_headers), hashlib.sha256(body).hexdigest())
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        ("TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical_request.encode()).hexdigest())
    )
    signature = Sign.sign_tc3(SECRET_KEY, date, service, string_to_sign)
    headers["authorization"] = (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, "
        f"SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )
    return Tc3Request(method, host, query, headers, body)


def with_header(request: Tc3Request, name: str, value: str | None) -> Tc3Request:
    headers = {k: v for k, v in request.headers.items() if k != name}
    if value is not None:
        headers[name] = value
    return Tc3Request(request.method, request.host, request.query, headers, request.body)


def assert_discloses_no_secret(exc: errors.ApiError, signature: str = "") -> None:
    assert SECRET_KEY not in exc.message
    assert TOKEN not in exc.message
    if signature:
        assert signature not in exc.message


# --- TC3-HMAC-SHA256 -------------------------------------------------------------------------


def test_verify_tc3_sdk_post_json_returns_account():
    req = sdk_request(sdk_client(), "CreateListener", LISTENER_PARAMS)
    assert req.header["Content-Type"] == "application/json"
    assert verify_tc3(tc3_from(req), lookup, NOW) == ACCOUNT


def test_verify_tc3_sdk_get_query_returns_account():
    req = sdk_request(sdk_client(req_method="GET"), "CreateListener", LISTENER_PARAMS)
    request = tc3_from(req)
    assert "Ports.1=81" in request.query
    assert verify_tc3(request, lookup, NOW) == ACCOUNT


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8080", "https://clb.example.test", "clb.example.test:9443"])
def test_verify_tc3_sdk_endpoint_with_scheme_or_port_returns_account(endpoint):
    req = sdk_request(sdk_client(endpoint=endpoint))
    assert req.header["Host"] == endpoint
    assert verify_tc3(tc3_from(req), lookup, NOW) == ACCOUNT


def test_verify_tc3_sdk_uppercase_host_returns_account():
    req = sdk_request(sdk_client(endpoint="CLB.Example.TEST:8080"))
    assert verify_tc3(tc3_from(req), lookup, NOW) == ACCOUNT


def test_verify_tc3_host_signed_lowercase_received_uppercase_returns_account():
    request = hand_signed_tc3(host="CLB.Example.TEST", signed_host="clb.example.test")
    assert verify_tc3(request, lookup, NOW) == ACCOUNT


def test_verify_tc3_sdk_unsigned_payload_returns_account():
    req = sdk_request(sdk_client(unsigned_payload=True))
    assert req.header["X-TC-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert verify_tc3(tc3_from(req), lookup, NOW) == ACCOUNT


def test_verify_tc3_node_style_service_from_host_returns_account():
    request = hand_signed_tc3(host="127.0.0.1:8080", service="127")
    assert verify_tc3(request, lookup, NOW) == ACCOUNT


def test_verify_tc3_node_style_service_with_scheme_in_ip_host_returns_account():
    request = hand_signed_tc3(host="http://127.0.0.1:8080", service="127")
    assert verify_tc3(request, lookup, NOW) == ACCOUNT


def test_verify_tc3_node_style_service_of_single_label_host_returns_account():
    request = hand_signed_tc3(host="localhost:9180", service="localhost")
    assert verify_tc3(request, lookup, NOW) == ACCOUNT


@pytest.mark.parametrize(
    ("host", "service"),
    [("cvm.tencentcloudapi.com", "cvm"), ("http://tag.example.test:8080", "tag"), ("CVM.example.test", "CVM"),
     ("127.0.0.1:8080", "cvm")],
)
def test_verify_tc3_scope_service_openclb_does_not_serve_raises_invalid_authorization(host, service):
    request = hand_signed_tc3(host=host, service=service)
    with pytest.raises(errors.AuthFailureInvalidAuthorization) as caught:
        verify_tc3(request, lookup, NOW)
    assert "`Service` in Credential not valid" in caught.value.message


def test_verify_tc3_extra_signed_header_x_tc_action_returns_account():
    request = hand_signed_tc3(
        extra_headers={"x-tc-action": "DescribeLoadBalancers"}, signed_headers=("content-type", "host", "x-tc-action")
    )
    assert verify_tc3(request, lookup, NOW) == ACCOUNT


def test_verify_tc3_tampered_signed_header_raises_signature_failure():
    request = hand_signed_tc3(
        extra_headers={"x-tc-action": "DescribeLoadBalancers"}, signed_headers=("content-type", "host", "x-tc-action")
    )
    with pytest.raises(errors.AuthFailureSignatureFailure):
        verify_tc3(with_header(request, "x-tc-action", "DeleteLoadBalancer"), lookup, NOW)


def test_verify_tc3_signed_header_absent_raises_invalid_authorization():
    request = hand_signed_tc3(
        extra_headers={"x-tc-action": "DescribeLoadBalancers"}, signed_headers=("content-type", "host", "x-tc-action")
    )
    with pytest.raises(errors.AuthFailureInvalidAuthorization):
        verify_tc3(with_header(request, "x-tc-action", None), lookup, NOW)


def test_verify_tc3_sdk_with_token_returns_account_and_token_checks():
    client = sdk_client(secret_id=TOKEN_ACCOUNT.secret_id, secret_key=TOKEN_ACCOUNT.secret_key, token=TOKEN)
    request = tc3_from(sdk_request(client))
    account = verify_tc3(request, lookup, NOW)
    assert account == TOKEN_ACCOUNT
    check_token(account, request.headers["x-tc-token"])


_GOOD_SIGNATURE = "a" * 64
_MALFORMED_AUTHORIZATIONS = {
    "empty": "",
    "wrong_algorithm": f"TC3-HMAC-SHA1 Credential={SECRET_ID}/2025-10-09/clb/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={_GOOD_SIGNATURE}",
    "no_fields": "TC3-HMAC-SHA256",
    "missing_signature": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2025-10-09/clb/tc3_request, "
    "SignedHeaders=content-type;host",
    "duplicate_field": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2025-10-09/clb/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={_GOOD_SIGNATURE}, Signature={_GOOD_SIGNATURE}",
    "unknown_field": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2025-10-09/clb/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={_GOOD_SIGNATURE}, Region=ap-guangzhou",
    "credential_three_parts": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2025-10-09/clb, "
    f"SignedHeaders=content-type;host, Signature={_GOOD_SIGNATURE}",
    "credential_wrong_terminator": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2025-10-09/clb/aws4_request, "
    f"SignedHeaders=content-type;host, Signature={_GOOD_SIGNATURE}",
    "credential_empty_id": "TC3-HMAC-SHA256 Credential=/2025-10-09/clb/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={_GOOD_SIGNATURE}",
    "credential_bad_date": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/20251009/clb/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={_GOOD_SIGNATURE}",
    "signed_headers_without_host": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2025-10-09/clb/tc3_request, "
    f"SignedHeaders=content-type, Signature={_GOOD_SIGNATURE}",
    "signed_headers_empty_name": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2025-10-09/clb/tc3_request, "
    f"SignedHeaders=content-type;;host, Signature={_GOOD_SIGNATURE}",
    "signature_not_hex": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2025-10-09/clb/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={'z' * 64}",
    "signature_too_short": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2025-10-09/clb/tc3_request, "
    f"SignedHeaders=content-type;host, Signature={'a' * 63}",
}


@pytest.mark.parametrize("authorization", _MALFORMED_AUTHORIZATIONS.values(), ids=_MALFORMED_AUTHORIZATIONS.keys())
def test_verify_tc3_malformed_authorization_raises_invalid_authorization(authorization):
    request = with_header(hand_signed_tc3(), "authorization", authorization)
    with pytest.raises(errors.AuthFailureInvalidAuthorization) as caught:
        verify_tc3(request, lookup, NOW)
    assert caught.value.code == "AuthFailure.InvalidAuthorization"


@pytest.mark.parametrize("skew", [-301, 301])
def test_verify_tc3_timestamp_off_by_more_than_five_minutes_raises_signature_expire(skew):
    req = sdk_request(sdk_client(), at=NOW + skew)
    with pytest.raises(errors.AuthFailureSignatureExpire):
        verify_tc3(tc3_from(req), lookup, NOW)


@pytest.mark.parametrize("skew", [-300, 300])
def test_verify_tc3_timestamp_at_window_edge_returns_account(skew):
    req = sdk_request(sdk_client(), at=NOW + skew)
    assert verify_tc3(tc3_from(req), lookup, NOW) == ACCOUNT


def test_verify_tc3_missing_timestamp_raises_missing_parameter():
    request = with_header(tc3_from(sdk_request(sdk_client())), "x-tc-timestamp", None)
    with pytest.raises(errors.MissingParameter) as caught:
        verify_tc3(request, lookup, NOW)
    assert caught.value.message == "The request is missing a required parameter `Timestamp`."


@pytest.mark.parametrize("value", ["", "abc", "1.5e9", "-1760000000", "0x68e77d80"])
def test_verify_tc3_non_integer_timestamp_raises_invalid_authorization(value):
    request = with_header(tc3_from(sdk_request(sdk_client())), "x-tc-timestamp", value)
    with pytest.raises(errors.AuthFailureInvalidAuthorization):
        verify_tc3(request, lookup, NOW)


def test_verify_tc3_unknown_secret_id_raises_secret_id_not_found():
    req = sdk_request(sdk_client(secret_id="AKIDunknown"))
    with pytest.raises(errors.AuthFailureSecretIdNotFound):
        verify_tc3(tc3_from(req), lookup, NOW)


def test_verify_tc3_expired_and_unknown_id_reports_expiry_first():
    req = sdk_request(sdk_client(secret_id="AKIDunknown"), at=NOW - 3600)
    with pytest.raises(errors.AuthFailureSignatureExpire):
        verify_tc3(tc3_from(req), lookup, NOW)


def test_verify_tc3_wrong_secret_key_raises_signature_failure():
    req = sdk_request(sdk_client(secret_key="not-the-key"))
    with pytest.raises(errors.AuthFailureSignatureFailure) as caught:
        verify_tc3(tc3_from(req), lookup, NOW)
    assert_discloses_no_secret(caught.value, req.header["Authorization"].rsplit("=", 1)[1])


def test_verify_tc3_tampered_body_raises_signature_failure():
    request = tc3_from(sdk_request(sdk_client(), "CreateListener", LISTENER_PARAMS))
    body = json.loads(request.body)
    body["Ports"] = [22]
    tampered = Tc3Request(request.method, request.host, request.query, request.headers, json.dumps(body).encode())
    with pytest.raises(errors.AuthFailureSignatureFailure):
        verify_tc3(tampered, lookup, NOW)


def test_verify_tc3_tampered_query_raises_signature_failure():
    request = tc3_from(sdk_request(sdk_client(req_method="GET"), "CreateListener", LISTENER_PARAMS))
    tampered = Tc3Request("GET", request.host, request.query.replace("Ports.1=81", "Ports.1=22"), request.headers, b"")
    assert tampered.query != request.query
    with pytest.raises(errors.AuthFailureSignatureFailure):
        verify_tc3(tampered, lookup, NOW)


def test_verify_tc3_reordered_query_raises_signature_failure():
    request = tc3_from(sdk_request(sdk_client(req_method="GET"), "CreateListener", LISTENER_PARAMS))
    reordered = "&".join(sorted(request.query.split("&")))
    assert reordered != request.query
    with pytest.raises(errors.AuthFailureSignatureFailure):
        verify_tc3(Tc3Request("GET", request.host, reordered, request.headers, b""), lookup, NOW)


def test_verify_tc3_other_host_raises_signature_failure():
    request = tc3_from(sdk_request(sdk_client(endpoint="127.0.0.1:8080")))
    moved = Tc3Request(request.method, "127.0.0.1:9090", request.query, request.headers, request.body)
    with pytest.raises(errors.AuthFailureSignatureFailure):
        verify_tc3(moved, lookup, NOW)


def test_verify_tc3_wrong_service_in_scope_raises_invalid_authorization():
    request = hand_signed_tc3(host="clb.example.test", service="cvm")
    with pytest.raises(errors.AuthFailureInvalidAuthorization) as caught:
        verify_tc3(request, lookup, NOW)
    assert "`Service` in Credential not valid" in caught.value.message


def test_verify_tc3_wrong_date_in_scope_raises_invalid_authorization():
    request = hand_signed_tc3(date="2025-10-08")
    with pytest.raises(errors.AuthFailureInvalidAuthorization) as caught:
        verify_tc3(request, lookup, NOW)
    assert "`Date` in Credential not valid" in caught.value.message


def test_verify_tc3_date_uses_utc_across_midnight_returns_account():
    just_after_midnight = 1_760_054_410  # 2025-10-10T00:00:10Z
    request = hand_signed_tc3(timestamp=just_after_midnight, date="2025-10-10")
    assert verify_tc3(request, lookup, just_after_midnight + 20) == ACCOUNT


# --- v1: HmacSHA1 / HmacSHA256 ---------------------------------------------------------------


@pytest.mark.parametrize("sign_method", ["HmacSHA1", "HmacSHA256"])
@pytest.mark.parametrize("req_method", ["GET", "POST"])
def test_verify_v1_sdk_request_returns_account(sign_method, req_method):
    client = sdk_client(sign_method=sign_method, req_method=req_method)
    params = v1_params(sdk_request(client, "CreateListener", LISTENER_PARAMS))
    assert params["SignatureMethod"] == sign_method
    account = verify_v1(req_method, client._get_endpoint(), params, lookup, NOW, NonceReplayGuard())
    assert account == ACCOUNT


def test_verify_v1_sdk_endpoint_with_scheme_returns_account():
    client = sdk_client(sign_method="HmacSHA256", endpoint="http://127.0.0.1:8080")
    params = v1_params(sdk_request(client))
    assert verify_v1("POST", "http://127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard()) == ACCOUNT


def test_verify_v1_host_signed_lowercase_received_uppercase_returns_account():
    client = sdk_client(sign_method="HmacSHA256", endpoint="clb.example.test")
    params = v1_params(sdk_request(client))
    assert verify_v1("POST", "CLB.Example.Test", params, lookup, NOW, NonceReplayGuard()) == ACCOUNT


def test_verify_v1_sdk_underscore_keys_signed_with_dots_returns_account():
    client = sdk_client(sign_method="HmacSHA1")
    params = v1_params(sdk_request(client, "DescribeLoadBalancers", {"Filter_Name": "x", "Limit": 1}))
    assert "Filter_Name" in params
    assert verify_v1("POST", client._get_endpoint(), params, lookup, NOW, NonceReplayGuard()) == ACCOUNT


def test_verify_v1_sdk_empty_value_signed_returns_account():
    client = sdk_client(sign_method="HmacSHA256")
    params = v1_params(sdk_request(client, "DescribeLoadBalancers", {"LoadBalancerName": "", "Limit": 1}))
    assert params["LoadBalancerName"] == ""
    assert verify_v1("POST", client._get_endpoint(), params, lookup, NOW, NonceReplayGuard()) == ACCOUNT


def _go_style_v1(params: dict[str, str], host: str = "127.0.0.1:8080", method: str = "POST") -> dict[str, str]:
    """Go's ``getStringToSign`` leaves out parameters whose value is empty."""
    signed = {k: v for k, v in params.items() if v != ""}
    string_to_sign = f"{method}{host}/?" + "&".join(f"{k}={signed[k]}" for k in sorted(signed))
    return {**params, "Signature": Sign.sign(SECRET_KEY, string_to_sign, params["SignatureMethod"])}


def _v1_common(**extra: str) -> dict[str, str]:
    return {
        "Action": "DescribeLoadBalancers",
        "Version": "2018-03-17",
        "Region": "ap-guangzhou",
        "Nonce": "4821",
        "Timestamp": str(int(NOW)),
        "SecretId": SECRET_ID,
        "SignatureMethod": "HmacSHA256",
        **extra,
    }


def test_verify_v1_go_style_empty_values_skipped_returns_account():
    params = _go_style_v1(_v1_common(LoadBalancerName="", Limit="1"))
    assert verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard()) == ACCOUNT


def test_verify_v1_go_style_empty_value_tampered_raises_signature_failure():
    params = _go_style_v1(_v1_common(LoadBalancerName="", Limit="1"))
    params["Limit"] = "100"
    with pytest.raises(errors.AuthFailureSignatureFailure):
        verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard())


def test_verify_v1_absent_signature_method_means_hmac_sha1_returns_account():
    common = _v1_common(SignatureMethod="HmacSHA1")
    params = _go_style_v1(common)
    del params["SignatureMethod"]
    string_to_sign = "POST127.0.0.1:8080/?" + "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "Signature")
    params["Signature"] = Sign.sign(SECRET_KEY, string_to_sign, "HmacSHA1")
    assert verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard()) == ACCOUNT


@pytest.mark.parametrize("name", ["SecretId", "Signature", "Nonce", "Timestamp"])
def test_verify_v1_missing_required_parameter_raises_missing_parameter(name):
    params = v1_params(sdk_request(sdk_client(sign_method="HmacSHA256")))
    del params[name]
    with pytest.raises(errors.MissingParameter) as caught:
        verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard())
    assert caught.value.message == f"The request is missing a required parameter `{name}`."


@pytest.mark.parametrize("method", ["HmacMD5", "TC3-HMAC-SHA256", "hmacsha1"])
def test_verify_v1_unsupported_signature_method_raises_invalid_parameter_value(method):
    params = v1_params(sdk_request(sdk_client(sign_method="HmacSHA256")))
    params["SignatureMethod"] = method
    with pytest.raises(errors.InvalidParameterValue):
        verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard())


@pytest.mark.parametrize(("name", "value"), [("Nonce", "abc"), ("Nonce", "-5"), ("Timestamp", "soon")])
def test_verify_v1_non_integer_nonce_or_timestamp_raises_invalid_parameter_value(name, value):
    params = v1_params(sdk_request(sdk_client(sign_method="HmacSHA256")))
    params[name] = value
    with pytest.raises(errors.InvalidParameterValue) as caught:
        verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard())
    assert f"`{name}`" in caught.value.message


@pytest.mark.parametrize("skew", [-301, 301])
def test_verify_v1_timestamp_off_by_more_than_five_minutes_raises_signature_expire(skew):
    params = v1_params(sdk_request(sdk_client(sign_method="HmacSHA1"), at=NOW + skew))
    with pytest.raises(errors.AuthFailureSignatureExpire):
        verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard())


def test_verify_v1_unknown_secret_id_raises_secret_id_not_found():
    params = v1_params(sdk_request(sdk_client(sign_method="HmacSHA1", secret_id="AKIDunknown")))
    with pytest.raises(errors.AuthFailureSecretIdNotFound):
        verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard())


def test_verify_v1_tampered_parameter_raises_signature_failure():
    params = v1_params(sdk_request(sdk_client(sign_method="HmacSHA256"), "CreateListener", LISTENER_PARAMS))
    params["Ports.0"] = "22"
    with pytest.raises(errors.AuthFailureSignatureFailure) as caught:
        verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard())
    assert_discloses_no_secret(caught.value, params["Signature"])


def test_verify_v1_other_method_raises_signature_failure():
    params = v1_params(sdk_request(sdk_client(sign_method="HmacSHA256", req_method="GET")))
    with pytest.raises(errors.AuthFailureSignatureFailure):
        verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, NonceReplayGuard())


def test_verify_v1_replayed_nonce_raises_signature_failure():
    guard = NonceReplayGuard()
    params = v1_params(sdk_request(sdk_client(sign_method="HmacSHA256")))
    verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, guard)
    with pytest.raises(errors.AuthFailureSignatureFailure) as caught:
        verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW + 5, guard)
    assert caught.value.message == "The request has been replayed: this Nonce and Timestamp were already used."


def test_verify_v1_failed_signature_does_not_remember_nonce():
    guard = NonceReplayGuard()
    params = v1_params(sdk_request(sdk_client(sign_method="HmacSHA256")))
    forged = {**params, "Signature": "AAAA"}
    with pytest.raises(errors.AuthFailureSignatureFailure):
        verify_v1("POST", "127.0.0.1:8080", forged, lookup, NOW, guard)
    assert len(guard) == 0
    assert verify_v1("POST", "127.0.0.1:8080", params, lookup, NOW, guard) == ACCOUNT


# --- replay guard, tokens, helpers ---------------------------------------------------------


def test_nonce_replay_guard_same_nonce_other_key_or_timestamp_accepted():
    guard = NonceReplayGuard()
    guard.check_and_remember("AKID1", "7", 1000, 1000.0)
    guard.check_and_remember("AKID2", "7", 1000, 1000.0)
    guard.check_and_remember("AKID1", "7", 1001, 1001.0)
    assert len(guard) == 3


def test_nonce_replay_guard_entry_expires_after_window():
    guard = NonceReplayGuard(window_seconds=300)
    guard.check_and_remember("AKID1", "7", 1000, 1000.0)
    with pytest.raises(errors.AuthFailureSignatureFailure):
        guard.check_and_remember("AKID1", "7", 1000, 1300.0)
    guard.check_and_remember("AKID1", "8", 1301, 1301.0)
    assert len(guard) == 1


def test_nonce_replay_guard_at_capacity_drops_soonest_expiring():
    guard = NonceReplayGuard(max_entries=3)
    for nonce, timestamp in (("a", 1010), ("b", 1000), ("c", 1020), ("d", 1030)):
        guard.check_and_remember("AKID1", nonce, timestamp, 1000.0)
    assert len(guard) == 3
    guard.check_and_remember("AKID1", "b", 1000, 1000.0)
    with pytest.raises(errors.AuthFailureSignatureFailure):
        guard.check_and_remember("AKID1", "d", 1030, 1000.0)


def test_check_token_absent_token_for_key_without_token_accepted():
    check_token(ACCOUNT, None)
    check_token(ACCOUNT, "")


@pytest.mark.parametrize("token", [None, ""])
def test_check_token_absent_token_for_key_with_token_raises_token_failure(token):
    with pytest.raises(errors.AuthFailureTokenFailure):
        check_token(TOKEN_ACCOUNT, token)


def test_check_token_matching_token_accepted():
    check_token(TOKEN_ACCOUNT, TOKEN)


@pytest.mark.parametrize(("account", "token"), [(ACCOUNT, TOKEN), (TOKEN_ACCOUNT, "other-token"), (TOKEN_ACCOUNT, "ü")])
def test_check_token_unexpected_or_wrong_token_raises_token_failure(account, token):
    with pytest.raises(errors.AuthFailureTokenFailure) as caught:
        check_token(account, token)
    assert_discloses_no_secret(caught.value)


def test_is_tc3_sdk_headers_true_v1_and_other_schemes_false():
    tc3_headers = {k.lower(): v for k, v in sdk_request(sdk_client()).header.items()}
    assert is_tc3(tc3_headers)
    assert not is_tc3({k.lower(): v for k, v in sdk_request(sdk_client(sign_method="HmacSHA1")).header.items()})
    assert not is_tc3({"authorization": "Bearer abc"})


def test_account_repr_hides_secret_key_and_token():
    text = repr(TOKEN_ACCOUNT)
    assert TOKEN_ACCOUNT.secret_key not in text
    assert TOKEN not in text
