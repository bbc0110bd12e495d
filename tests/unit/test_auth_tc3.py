"""Signature verification against requests built by the official Python SDK's own signing code.

Requests come from ``ClbClient._build_req_inter`` (what ``_call`` does before sending), so
these tests fail if our reading of the wire format drifts from the real client. Cases no
Python client produces (Node's Host-derived scope service, Go's skipped empty values,
extra signed headers) are hand-signed with the SDK's ``Sign`` primitives.
"""

from __future__ import annotations

import json

import pytest

from openclb import errors
from openclb.api.auth import (
    Tc3Request,
    check_token,
    verify_tc3,
)
from auth_support import (
    SECRET_ID, TOKEN, ACCOUNT, TOKEN_ACCOUNT, NOW, LISTENER_PARAMS, lookup, sdk_client, sdk_request, tc3_from, hand_signed_tc3, with_header, assert_discloses_no_secret,
)


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
    [("cvm.tencentcloudapi.com", "cvm"), ("http://cdn.example.test:8080", "cdn"), ("CVM.example.test", "CVM"),
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
