"""HTTP request → the call it carries: common parameters, raw parameters, how it is signed.

The official clients send one of three shapes (digest §1): TC3 POST with a JSON body and the
common parameters in ``X-TC-*`` headers; TC3 GET (or form POST) with flattened parameters;
and v1 (HmacSHA1/HmacSHA256) GET or form POST with every parameter, common ones included,
flattened. This module only takes the request apart; it never re-encodes the query or the
body, because signatures are computed over the raw bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Mapping
from urllib.parse import parse_qsl

from openclb import errors

TC3_POST_BODY_LIMIT = 10 * 1024 * 1024
V1_POST_BODY_LIMIT = 1024 * 1024
GET_QUERY_LIMIT = 32 * 1024

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"

V1_COMMON_PARAMETERS = frozenset(
    {
        "Action", "Version", "Region", "Timestamp", "Nonce", "SecretId", "Signature",
        "SignatureMethod", "Token", "Language", "RequestClient",
    }
)


class SignatureKind(StrEnum):
    TC3 = "TC3-HMAC-SHA256"
    V1 = "v1"


@dataclass(frozen=True)
class RawHttpRequest:
    """What the gateway read off the wire, untouched."""

    method: str
    host: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    peer: str = ""


@dataclass(frozen=True)
class ApiCall:
    """One API call: common parameters plus the action's own, still untyped.

    ``json_params`` is set for a JSON body; ``flat_params`` for flattened ``k=v`` forms.
    ``signed_params`` is every v1 parameter (common ones included) as the signature covers them.
    """

    kind: SignatureKind
    action: str
    version: str
    region: str
    language: str
    token: str | None
    json_params: dict[str, Any] | None = None
    flat_params: dict[str, str] = field(default_factory=dict)
    signed_params: dict[str, str] = field(default_factory=dict)


def content_type_of(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_tc3_request(headers: Mapping[str, str]) -> bool:
    """A TC3 call announces itself by an Authorization header or X-TC-* common headers."""
    return "authorization" in headers or "x-tc-action" in headers


def body_limit_for(method: str, headers: Mapping[str, str]) -> int:
    """The documented caps: TC3 POST 10 MB, v1 POST 1 MB (GET carries no body)."""
    if method == "GET":
        return GET_QUERY_LIMIT
    return TC3_POST_BODY_LIMIT if is_tc3_request(headers) else V1_POST_BODY_LIMIT


def check_query_size(query: str) -> None:
    if len(query.encode()) > GET_QUERY_LIMIT:
        raise errors.RequestSizeLimitExceeded("The GET request exceeds the 32 KB limit.")


def _parse_form(data: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(data, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise errors.InvalidRequest("The request parameters are not valid form encoding.") from exc
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise errors.InvalidParameter(f"The parameter `{key}` is given more than once.")
        params[key] = value
    return params


def _decode_body(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidRequest("The request body is not valid UTF-8.") from exc


def _flat_params(raw: RawHttpRequest) -> dict[str, str]:
    if raw.method == "GET":
        return _parse_form(raw.query)
    if content_type_of(raw.headers) != FORM_CONTENT_TYPE:
        raise errors.InvalidRequest(f"Content-Type must be {FORM_CONTENT_TYPE} for this request.")
    return _parse_form(_decode_body(raw.body))


def _json_params(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(_decode_body(body))
    except ValueError as exc:
        raise errors.InvalidRequest("The request body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise errors.InvalidRequest("The request body must be a JSON object.")
    return value


def parse_tc3(raw: RawHttpRequest) -> ApiCall:
    """TC3: common parameters from X-TC-* headers; parameters from the JSON body or the form."""
    headers = raw.headers
    content_type = content_type_of(headers)
    json_params = None
    flat: dict[str, str] = {}
    if raw.method == "POST" and content_type == JSON_CONTENT_TYPE:
        json_params = _json_params(raw.body)
    elif raw.method == "GET" or content_type == FORM_CONTENT_TYPE:
        flat = _flat_params(raw)
    else:
        raise errors.InvalidRequest(
            f"Content-Type {content_type or '(none)'} is not supported; use {JSON_CONTENT_TYPE} or {FORM_CONTENT_TYPE}."
        )
    return ApiCall(
        kind=SignatureKind.TC3,
        action=headers.get("x-tc-action", ""),
        version=headers.get("x-tc-version", ""),
        region=headers.get("x-tc-region", ""),
        language=headers.get("x-tc-language", ""),
        token=headers.get("x-tc-token") or None,
        json_params=json_params,
        flat_params=flat,
    )


def parse_v1(raw: RawHttpRequest) -> ApiCall:
    """v1: every parameter, common ones included, in the query (GET) or the form body (POST)."""
    signed = _flat_params(raw)
    return ApiCall(
        kind=SignatureKind.V1,
        action=signed.get("Action", ""),
        version=signed.get("Version", ""),
        region=signed.get("Region", ""),
        language=signed.get("Language", ""),
        token=signed.get("Token") or None,
        flat_params={k: v for k, v in signed.items() if k not in V1_COMMON_PARAMETERS},
        signed_params=signed,
    )


def parse_call(raw: RawHttpRequest) -> ApiCall:
    if raw.method == "GET":
        check_query_size(raw.query)
    return parse_tc3(raw) if is_tc3_request(raw.headers) else parse_v1(raw)
