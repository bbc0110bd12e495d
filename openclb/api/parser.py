"""HTTP request → the call it carries: common parameters, raw parameters, how it is signed.

The official clients send one of three shapes (digest §1): TC3 POST with a JSON body and the
common parameters in ``X-TC-*`` headers; TC3 GET (or form POST) with flattened parameters;
and v1 (HmacSHA1/HmacSHA256) GET or form POST with every parameter, common ones included,
flattened. This module only takes the request apart; it never re-encodes the query or the
body, because signatures are computed over the raw bytes.

A TC3 call's common parameters are headers, so ``parse_tc3`` reads only those; its body is
parsed by ``tc3_params`` once the signature (over the body's hash) has verified, so nobody
without a key can make the server decode anything. A v1 call must be parsed to be verified;
``parse_v1`` is bounded instead.

What parsing may cost is bounded before it starts, because it runs on the event loop every
tenant and the data plane share (JSON decoding holds the loop for about 0.2 µs per value and
2 ms per MB of text; ``parse_qsl`` took 250 ms for 1 MB of short pairs):
- A JSON body holds at most ``JSON_BODY_LIMIT`` bytes (2 MiB: tighter than the 10 MB the docs
  allow TC3, and about twice the largest legal CLB request, 50 rules each uploading a
  certificate chain and key) and at most ``MAX_JSON_VALUES`` values, counted as separators
  and brackets before decoding (a legal BatchRegisterTargets with 500 targets has ~3,500).
  Nesting deeper than the interpreter decodes is ``InvalidRequest``, never a traceback.
- A form holds at most ``MAX_FORM_PARAMETERS`` pairs (500 flattened targets ≈ 3,000) and is
  split by ``str.split`` with percent-decoding only where needed, not by ``parse_qsl``.
Both are ``RequestSizeLimitExceeded`` when over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Mapping
from urllib.parse import unquote_plus

from openclb import errors

JSON_BODY_LIMIT = 2 * 1024 * 1024
FORM_BODY_LIMIT = 1024 * 1024
GET_QUERY_LIMIT = 32 * 1024
MAX_JSON_VALUES = 20_000
MAX_FORM_PARAMETERS = 5_000

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
    """JSON bodies 2 MiB, forms 1 MB (the documented v1 cap); GET carries no body."""
    if method == "GET":
        return GET_QUERY_LIMIT
    return FORM_BODY_LIMIT if content_type_of(headers) == FORM_CONTENT_TYPE else JSON_BODY_LIMIT


def check_query_size(query: str) -> None:
    if len(query.encode()) > GET_QUERY_LIMIT:
        raise errors.RequestSizeLimitExceeded("The GET request exceeds the 32 KB limit.")


def _unquoted(text: str) -> str:
    if "%" not in text and "+" not in text:
        return text
    try:
        return unquote_plus(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise errors.InvalidRequest("The request parameters are not valid form encoding.") from exc


def _parse_form(data: str) -> dict[str, str]:
    """``k=v&...`` as ``parse_qsl(keep_blank_values=True)`` reads it; a repeated key is refused."""
    if data.count("&") >= MAX_FORM_PARAMETERS:
        raise errors.RequestSizeLimitExceeded(
            f"The request carries more than {MAX_FORM_PARAMETERS} parameters."
        )
    params: dict[str, str] = {}
    for pair in data.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key = _unquoted(key)
        if key in params:
            raise errors.InvalidParameter(f"The parameter `{key}` is given more than once.")
        params[key] = _unquoted(value)
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
    if body.count(b",") + body.count(b"[") + body.count(b"{") > MAX_JSON_VALUES:
        raise errors.RequestSizeLimitExceeded(f"The request body holds more than {MAX_JSON_VALUES} values.")
    try:
        value = json.loads(_decode_body(body))
    except RecursionError as exc:
        raise errors.InvalidRequest("The request body is nested too deeply.") from exc
    except ValueError as exc:
        raise errors.InvalidRequest("The request body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise errors.InvalidRequest("The request body must be a JSON object.")
    return value


def parse_tc3(raw: RawHttpRequest) -> ApiCall:
    """TC3: the common parameters, from X-TC-* headers; the body is left for ``tc3_params``."""
    headers = raw.headers
    return ApiCall(
        kind=SignatureKind.TC3,
        action=headers.get("x-tc-action", ""),
        version=headers.get("x-tc-version", ""),
        region=headers.get("x-tc-region", ""),
        language=headers.get("x-tc-language", ""),
        token=headers.get("x-tc-token") or None,
    )


def tc3_params(raw: RawHttpRequest, call: ApiCall) -> ApiCall:
    """``call`` with its parameters, from the JSON body or the form (query or body)."""
    content_type = content_type_of(raw.headers)
    if raw.method == "POST" and content_type == JSON_CONTENT_TYPE:
        return replace(call, json_params=_json_params(raw.body))
    if raw.method == "GET" or content_type == FORM_CONTENT_TYPE:
        return replace(call, flat_params=_flat_params(raw))
    raise errors.InvalidRequest(
        f"Content-Type {content_type or '(none)'} is not supported; use {JSON_CONTENT_TYPE} or {FORM_CONTENT_TYPE}."
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
    """The call's common parameters (and, for v1, every parameter); TC3 params come later."""
    if raw.method == "GET":
        check_query_size(raw.query)
    return parse_tc3(raw) if is_tc3_request(raw.headers) else parse_v1(raw)


def carries_credentials(raw: RawHttpRequest) -> bool:
    """False for a call that cannot be signed at all: a POST that is neither TC3 nor a v1 form."""
    if is_tc3_request(raw.headers) or raw.method == "GET":
        return True
    return content_type_of(raw.headers) == FORM_CONTENT_TYPE
