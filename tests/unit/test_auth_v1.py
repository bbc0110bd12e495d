"""Signature verification against requests built by the official Python SDK's own signing code.

Requests come from ``ClbClient._build_req_inter`` (what ``_call`` does before sending), so
these tests fail if our reading of the wire format drifts from the real client. Cases no
Python client produces (Node's Host-derived scope service, Go's skipped empty values,
extra signed headers) are hand-signed with the SDK's ``Sign`` primitives.
"""

from __future__ import annotations

import pytest
from tencentcloud.common.sign import Sign

from openclb import errors
from openclb.api.auth import (
    NonceReplayGuard,
    check_token,
    is_tc3,
    verify_v1,
)
from auth_support import (
    SECRET_ID, SECRET_KEY, TOKEN, ACCOUNT, TOKEN_ACCOUNT, NOW, LISTENER_PARAMS, lookup, sdk_client, sdk_request, v1_params, assert_discloses_no_secret,
)


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
