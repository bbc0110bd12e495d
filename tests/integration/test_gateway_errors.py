"""Every common error of the front door, produced by a real client sending the offending request.

Where an official client can send the request (an expired timestamp, a wrong key, an unknown
action or version, an oversized body) the Python SDK sends it and must raise
TencentCloudSDKException with the documented code. Only what no client sends is hand-signed
with the SDK's own signing primitives (gateway_support). Every answer, raw or through the
SDK, is HTTP 200 with Content-Type exactly ``application/json`` and a UUID4 RequestId.
"""

from __future__ import annotations

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
import requests
from tencentcloud.clb.v20180317 import clb_client, models
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from conftest import REGION, SECRET_ID, SECRET_KEY, sdk_client
from gateway_support import (
    Tc3Call,
    api_log_records,
    assert_envelope,
    assert_uuid4,
    error_code,
    proxied_client,
    sdk_raises,
    v1_signed_params,
)
from openclb.api import accounts, spec
from openclb.obs.logs import JsonFormatter
from openclb.resources import build_handlers

MB = 1024 * 1024


def describe(client, params=None):
    return lambda: client.call_json("DescribeLoadBalancers", params or {})


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_any_action_other_http_method_answers_unsupported_protocol(server, method):
    response = requests.request(method, f"{server.url}/", data=b"Action=DescribeLoadBalancers", timeout=10)

    assert error_code(response) == "UnsupportedProtocol"


@pytest.mark.parametrize(
    ("sign_method", "req_method", "size"),
    [
        ("TC3-HMAC-SHA256", "POST", 10 * MB + 1),
        ("TC3-HMAC-SHA256", "POST", 2 * MB + 1),
        ("HmacSHA1", "POST", 1 * MB + 1),
        ("HmacSHA256", "POST", 1 * MB + 1),
        ("TC3-HMAC-SHA256", "GET", 32 * 1024 + 1),
        ("HmacSHA256", "GET", 32 * 1024 + 1),
    ],
)
def test_describe_load_balancers_oversized_request_raises_request_size_limit_exceeded(
    server, sign_method, req_method, size
):
    client = sdk_client(server.url, sign_method, req_method)

    sdk_raises("RequestSizeLimitExceeded", describe(client, {"LoadBalancerName": "x" * size}))
    # Same keep-alive connection: answered once the refused body has been drained.
    assert describe(client)()["Response"]["TotalCount"] == 0


@pytest.mark.parametrize(
    ("sign_method", "req_method", "size"),
    [
        ("TC3-HMAC-SHA256", "POST", 2 * MB - 4096),
        ("HmacSHA1", "POST", MB - 4096),
        ("TC3-HMAC-SHA256", "GET", 20 * 1024),
        ("HmacSHA1", "GET", 30 * 1024),
    ],
)
def test_describe_load_balancers_request_under_its_size_limit_succeeds(server, sign_method, req_method, size):
    """GETs over aiohttp's default 8 KB request line still reach the API."""
    client = sdk_client(server.url, sign_method, req_method)

    response = describe(client, {"LoadBalancerName": "x" * size})()

    assert response["Response"]["TotalCount"] == 0


@pytest.mark.parametrize("sign_method", ["TC3-HMAC-SHA256", "HmacSHA1"])
@pytest.mark.parametrize("skew", [-400, 400])
def test_describe_load_balancers_clock_skew_over_five_minutes_raises_signature_expire(server, sign_method, skew):
    client = sdk_client(server.url, sign_method)
    with mock.patch("time.time", return_value=time.time() + skew):
        sdk_raises("AuthFailure.SignatureExpire", describe(client))


@pytest.mark.parametrize("sign_method", ["TC3-HMAC-SHA256", "HmacSHA1", "HmacSHA256"])
@pytest.mark.parametrize("req_method", ["POST", "GET"])
def test_describe_load_balancers_wrong_secret_key_raises_signature_failure(server, sign_method, req_method):
    client = sdk_client(server.url, sign_method, req_method, secret_key="not-the-key")

    error = sdk_raises("AuthFailure.SignatureFailure", describe(client))

    assert "not-the-key" not in error.message


@pytest.mark.parametrize("sign_method", ["TC3-HMAC-SHA256", "HmacSHA1"])
def test_describe_load_balancers_unknown_secret_id_raises_secret_id_not_found(server, sign_method):
    client = sdk_client(server.url, sign_method, secret_id="AKIDnobodyHasThisKey000000000000")

    sdk_raises("AuthFailure.SecretIdNotFound", describe(client))


@pytest.mark.parametrize(
    "authorization",
    [
        "TC3-HMAC-SHA256 garbage",
        "HMAC-SHA1 Credential={id}/{date}/clb/tc3_request, SignedHeaders=content-type;host, Signature={zero}",
        "TC3-HMAC-SHA256 Credential={id}/clb/tc3_request, SignedHeaders=content-type;host, Signature={zero}",
        "TC3-HMAC-SHA256 Credential={id}/{date}/clb/tc3_request, SignedHeaders=content-type, Signature={zero}",
        "TC3-HMAC-SHA256 Credential={id}/{date}/clb/tc3_request, SignedHeaders=content-type;host, Signature=xyz",
        "TC3-HMAC-SHA256 Credential={id}/1999-01-01/clb/tc3_request, SignedHeaders=content-type;host, Signature={zero}",
        "TC3-HMAC-SHA256 Credential={id}/{date}/cvm/tc3_request, SignedHeaders=content-type;host, Signature={zero}",
    ],
)
def test_describe_load_balancers_malformed_authorization_answers_invalid_authorization(server, authorization):
    date = time.strftime("%Y-%m-%d", time.gmtime())
    header = authorization.format(id=SECRET_ID, date=date, zero="0" * 64)

    call = Tc3Call("DescribeLoadBalancers", {}, headers={"Authorization": header})

    assert error_code(call.send(server.url)) == "AuthFailure.InvalidAuthorization"


def test_describe_load_balancers_tc3_headers_without_authorization_answers_invalid_authorization(server):
    headers = {"X-TC-Action": "DescribeLoadBalancers", "X-TC-Version": "2018-03-17", "X-TC-Region": REGION}
    response = requests.post(f"{server.url}/", data=b"{}", headers={**headers, "Content-Type": "application/json"})

    assert error_code(response) == "AuthFailure.InvalidAuthorization"


@pytest.mark.parametrize("req_method", ["GET", "POST"])
def test_describe_load_balancers_identical_v1_request_twice_refuses_the_replay(server, req_method):
    client = sdk_client(server.url, "HmacSHA256", req_method)
    now = time.time()
    with mock.patch("time.time", return_value=now), mock.patch("random.randint", return_value=424242):
        first = describe(client)()
        error = sdk_raises("AuthFailure.SignatureFailure", describe(client))
    fresh_nonce = describe(client)()

    assert first["Response"]["TotalCount"] == 0
    assert "replayed" in error.message
    assert fresh_nonce["Response"]["TotalCount"] == 0


def test_describe_load_balancers_replayed_v1_get_by_hand_refused_raw(server):
    host = server.url.removeprefix("http://")
    params = v1_signed_params("GET", host, "DescribeLoadBalancers", {"Limit": 1}, nonce=987654321)

    first = requests.get(f"{server.url}/", params=params, timeout=10)
    second = requests.get(f"{server.url}/", params=params, timeout=10)

    assert error_code(first) is None
    assert error_code(second) == "AuthFailure.SignatureFailure"


@pytest.mark.parametrize("sign_method", ["TC3-HMAC-SHA256", "HmacSHA1"])
def test_unknown_action_raises_invalid_action(server, sign_method):
    client = sdk_client(server.url, sign_method)

    error = sdk_raises("InvalidAction", lambda: client.call_json("DescribeNothingAtAll", {}))

    assert "DescribeNothingAtAll" in error.message


@pytest.mark.parametrize("sign_method", ["TC3-HMAC-SHA256", "HmacSHA256"])
def test_describe_load_balancers_other_api_version_raises_no_such_version(server, sign_method):
    profile = ClientProfile(signMethod=sign_method, httpProfile=HttpProfile(endpoint=server.url))
    client = CommonClient("clb", "2017-01-01", credential.Credential(SECRET_ID, SECRET_KEY), REGION, profile)

    error = sdk_raises("NoSuchVersion", lambda: client.call_json("DescribeLoadBalancers", {}))

    assert "2017-01-01" in error.message


def test_describe_load_balancers_hand_signed_other_version_answers_no_such_version(server):
    assert error_code(Tc3Call("DescribeLoadBalancers", {}, version="2017-01-01").send(server.url)) == "NoSuchVersion"


@pytest.mark.parametrize("sign_method", ["TC3-HMAC-SHA256", "HmacSHA1"])
def test_describe_load_balancers_unknown_region_raises_unsupported_region(server, sign_method):
    client = sdk_client(server.url, sign_method, region="xx-nowhere-9")

    sdk_raises("UnsupportedRegion", describe(client))


@pytest.fixture
def no_proxy_bypass(monkeypatch):
    """The SDK reaches openclb as its HTTP proxy: no NO_PROXY rule may send it elsewhere."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("sign_method", "req_method"), [("TC3-HMAC-SHA256", "POST"), ("HmacSHA1", "GET")])
def test_describe_load_balancers_finance_region_via_public_host_raises_unsupported_region(
    server, no_proxy_bypass, sign_method, req_method
):
    client = proxied_client(server.url, "clb.tencentcloudapi.com", "ap-shanghai-fsi", sign_method, req_method)

    error = sdk_raises("UnsupportedRegion", describe(client))

    assert "clb.ap-shanghai-fsi.tencentcloudapi.com" in error.message


@pytest.mark.parametrize(("sign_method", "req_method"), [("TC3-HMAC-SHA256", "POST"), ("HmacSHA1", "GET")])
def test_describe_load_balancers_finance_region_via_own_or_local_host_succeeds(
    server, no_proxy_bypass, sign_method, req_method
):
    fsi_host = "clb.ap-shanghai-fsi.tencentcloudapi.com"
    own_host = proxied_client(server.url, fsi_host, "ap-shanghai-fsi", sign_method, req_method)
    public_other_region = proxied_client(server.url, "clb.tencentcloudapi.com", REGION, sign_method, req_method)
    local = sdk_client(server.url, sign_method, req_method, region="ap-shanghai-fsi")

    for client in (own_host, public_other_region, local):
        assert describe(client)()["Response"]["TotalCount"] == 0


def test_describe_load_balancers_hand_signed_finance_hosts_answer_by_host(server):
    public = Tc3Call("DescribeLoadBalancers", {}, host="clb.tencentcloudapi.com", region="ap-shenzhen-fsi")
    own = Tc3Call("DescribeLoadBalancers", {}, host="clb.ap-shenzhen-fsi.tencentcloudapi.com", region="ap-shenzhen-fsi")

    assert error_code(public.send(server.url)) == "UnsupportedRegion"
    assert error_code(own.send(server.url)) is None


@pytest.mark.parametrize("sign_method", ["TC3-HMAC-SHA256", "HmacSHA1"])
def test_describe_load_balancers_unknown_language_raises_invalid_parameter_value(server, sign_method):
    profile = ClientProfile(signMethod=sign_method, httpProfile=HttpProfile(endpoint=server.url))
    profile.language = "fr-FR"  # the SDK's constructor refuses it; the wire does not
    client = clb_client.ClbClient(credential.Credential(SECRET_ID, SECRET_KEY), REGION, profile)

    error = sdk_raises("InvalidParameterValue", describe(client))

    assert "Language" in error.message


def test_describe_load_balancers_english_language_succeeds(server):
    profile = ClientProfile(language="en-US", httpProfile=HttpProfile(endpoint=server.url))
    client = clb_client.ClbClient(credential.Credential(SECRET_ID, SECRET_KEY), REGION, profile)

    assert client.DescribeLoadBalancers(models.DescribeLoadBalancersRequest()).TotalCount == 0


@pytest.fixture
def token_server(server_factory, tmp_path):
    """A server whose accounts file holds a key that must be used with the token ``session-token-1``."""
    data_dir = tmp_path / "token-data"
    accounts.add_account(
        data_dir / "accounts.json", "AKIDwithToken0000000000000000000", "tokenKey", token="session-token-1"
    )
    return server_factory(data_dir=data_dir)


@pytest.mark.parametrize("sign_method", ["TC3-HMAC-SHA256", "HmacSHA256"])
def test_describe_load_balancers_token_for_account_without_one_raises_token_failure(token_server, sign_method):
    client = sdk_client(token_server.url, sign_method, token="session-token-1")

    sdk_raises("AuthFailure.TokenFailure", describe(client))


@pytest.mark.parametrize("sign_method", ["TC3-HMAC-SHA256", "HmacSHA256"])
def test_describe_load_balancers_token_of_the_account_succeeds_and_wrong_one_fails(token_server, sign_method):
    def client(token):
        return sdk_client(token_server.url, sign_method, secret_id="AKIDwithToken0000000000000000000",
                          secret_key="tokenKey", token=token)

    assert describe(client("session-token-1"))()["Response"]["TotalCount"] == 0
    sdk_raises("AuthFailure.TokenFailure", describe(client("session-token-2")))


@pytest.mark.parametrize(("sign_method", "req_method"), [("TC3-HMAC-SHA256", "POST"), ("HmacSHA1", "GET")])
def test_describe_listeners_without_load_balancer_id_raises_missing_parameter(server, sign_method, req_method):
    client = sdk_client(server.url, sign_method, req_method)

    error = sdk_raises("MissingParameter", lambda: client.DescribeListeners(models.DescribeListenersRequest()))

    assert "`LoadBalancerId`" in error.message


@pytest.mark.parametrize(("sign_method", "req_method"), [("TC3-HMAC-SHA256", "POST"), ("HmacSHA1", "GET")])
def test_describe_load_balancers_unknown_parameter_raises_unknown_parameter(server, sign_method, req_method):
    client = sdk_client(server.url, sign_method, req_method)

    error = sdk_raises("UnknownParameter", describe(client, {"LoadBalancerColour": "blue"}))

    assert "`LoadBalancerColour`" in error.message


@pytest.mark.parametrize(("sign_method", "req_method"), [("TC3-HMAC-SHA256", "POST"), ("HmacSHA256", "POST")])
def test_describe_load_balancers_wrong_type_raises_invalid_parameter(server, sign_method, req_method):
    client = sdk_client(server.url, sign_method, req_method)
    request = models.DescribeLoadBalancersRequest()
    request.Limit = "twenty"

    error = sdk_raises("InvalidParameter", lambda: client.DescribeLoadBalancers(request))

    assert "`Limit`" in error.message


def test_describe_load_balancers_json_list_for_object_raises_invalid_parameter(server):
    client = sdk_client(server.url)

    error = sdk_raises("InvalidParameter", describe(client, {"LoadBalancerIds": "lb-00000000"}))

    assert "`LoadBalancerIds`" in error.message


def _unimplemented_actions_without_required_parameters() -> list[str]:
    implemented = set(build_handlers(None)["clb"])
    return sorted(
        action for action in spec.ACTION_NAMES - implemented if not spec.input_shape(action).required_members
    )


def test_spec_actions_without_handler_raise_unsupported_operation(server):
    client = sdk_client(server.url)
    for action in _unimplemented_actions_without_required_parameters():
        error = sdk_raises("UnsupportedOperation", lambda: client.call_json(action, {}))
        assert action in error.message


def test_describe_load_balancers_burst_over_rate_limit_is_refused_then_recovers(server_factory, tmp_path):
    data_dir = tmp_path / "limited-data"
    other = accounts.add_account(data_dir / "accounts.json", "AKIDotherAccount0000000000000000", "otherKey")
    server = server_factory(rate_limit_default=20, data_dir=data_dir)
    clients = [sdk_client(server.url) for _ in range(25)]

    def call(client):
        try:
            client.call_json("DescribeLoadBalancers", {})
            return "Success"
        except TencentCloudSDKException as error:
            assert_uuid4(error.requestId)
            return error.code

    with ThreadPoolExecutor(25) as pool:
        outcomes = list(pool.map(call, clients))
    other_action = sdk_client(server.url).call_json("DescribeQuota", {})
    other_account = describe(sdk_client(server.url, secret_id=other.secret_id, secret_key="otherKey"))()
    time.sleep(1.05)
    after_pause = [call(clients[0]) for _ in range(20)]

    assert set(outcomes) == {"Success", "RequestLimitExceeded"}, outcomes
    assert outcomes.count("Success") <= 24
    assert "QuotaSet" in other_action["Response"]
    assert other_account["Response"]["TotalCount"] == 0
    assert after_pause == ["Success"] * 20


def test_api_call_any_outcome_logs_one_structured_line_without_secrets(server_factory, tmp_path):
    data_dir = tmp_path / "log-data"
    accounts.add_account(data_dir / "accounts.json", "AKIDlogToken00000000000000000000", "logKey", token="tok-secret-1")
    server = server_factory(data_dir=data_dir)
    host = server.url.removeprefix("http://")
    v1_params = v1_signed_params("GET", host, "DescribeLoadBalancers", {"Limit": 2}, nonce=5551212)

    with api_log_records() as records:
        ok = sdk_client(server.url).call_json("DescribeLoadBalancers", {})
        with_token = sdk_client(server.url, "HmacSHA1", secret_id="AKIDlogToken00000000000000000000",
                                secret_key="logKey", token="tok-secret-1").call_json("DescribeQuota", {})
        failed = sdk_raises("AuthFailure.SignatureFailure", describe(sdk_client(server.url, secret_key="wrong-key-9")))
        v1_raw = assert_envelope(requests.get(f"{server.url}/", params=v1_params, timeout=10))

    request_ids = [
        ok["Response"]["RequestId"], with_token["Response"]["RequestId"], failed.requestId, v1_raw["RequestId"]
    ]
    lines = [r for r in records if r.getMessage() == "api call"]
    assert [r.request_id for r in lines] == request_ids
    assert [r.action for r in lines] == [
        "DescribeLoadBalancers", "DescribeQuota", "DescribeLoadBalancers", "DescribeLoadBalancers"
    ]
    assert [r.code for r in lines] == ["Success", "Success", "AuthFailure.SignatureFailure", "Success"]
    assert lines[0].account == accounts.DEFAULT_APP_ID and lines[2].account is None
    assert all(isinstance(r.duration_ms, float) and r.duration_ms >= 0 for r in lines)
    formatter = JsonFormatter()
    for record in records:
        text = formatter.format(record)
        json.loads(text)
        for secret in (SECRET_KEY, "logKey", "wrong-key-9", "tok-secret-1", v1_params["Signature"]):
            assert secret not in text


def test_any_action_unsigned_garbage_answers_envelope_without_internal_error(server):
    """Raw requests no client would send still get the envelope, never an HTML or text page."""
    answers = [
        requests.post(f"{server.url}/", data=b"\xff\xfe\x00garbage", timeout=10),
        requests.post(f"{server.url}/", data=b"{not json", headers={"Content-Type": "application/json",
                                                                    "Authorization": "x"}, timeout=10),
        requests.get(f"{server.url}/?%zz=%%&Action", timeout=10),
        requests.get(f"{server.url}/", timeout=10),
        requests.post(f"{server.url}/", data=gzip.compress(b"Action=DescribeLoadBalancers"),
                      headers={"Content-Encoding": "gzip"}, timeout=10),
        requests.post(f"{server.url}/", data=b"\xad\x92bad", headers={"Content-Encoding": "deflate"}, timeout=10),
        requests.put(f"{server.url}/", data=b"\xad\x92bad", headers={"Content-Encoding": "deflate"}, timeout=10),
    ]

    codes = [error_code(answer) for answer in answers]

    assert None not in codes and "InternalError" not in codes


def test_describe_load_balancers_lone_surrogate_or_latin1_text_is_echoed_escaped(server):
    """Text that cannot be UTF-8 (a ``\\ud800`` JSON escape, a Latin-1 header) is echoed as ``\\u`` escapes."""
    surrogate_key = Tc3Call("DescribeLoadBalancers", body=b'{"Bad\\ud800Key": 1}')
    latin1_region = Tc3Call("DescribeLoadBalancers", {}, region="ap-\xe9")

    surrogate_answer = surrogate_key.send(server.url)
    latin1_answer = latin1_region.send(server.url)

    assert error_code(surrogate_answer) == "UnknownParameter"
    assert "Bad\ud800Key" in surrogate_answer.json()["Response"]["Error"]["Message"]
    assert error_code(latin1_answer) == "UnsupportedRegion"
