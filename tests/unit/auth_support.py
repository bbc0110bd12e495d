"""Signing helpers shared by the auth unit tests: the official SDK builds each request, the
verifiers check it (no sockets)."""

from __future__ import annotations

import hashlib
from unittest import mock
from urllib.parse import parse_qsl

from tencentcloud.clb.v20180317.clb_client import ClbClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign

from openclb import errors
from openclb.api.auth import (
    Account,
    Tc3Request,
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
