"""Results and errors → the Tencent Cloud API 3.0 envelope, always HTTP 200.

The Python SDK recognises an error only when Content-Type is exactly ``application/json``
(digest §1.5, gotcha 1): aiohttp would append ``; charset=utf-8`` if asked to set a JSON
content type, so the header is set by hand on raw bytes.

Bodies are UTF-8 JSON with non-ASCII text as is; an envelope holding a lone surrogate (echoed
from a ``\\ud800`` escape in a JSON body, or from a header that was not UTF-8) cannot be UTF-8,
so that one is written with ``\\u`` escapes instead of failing.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from openclb.errors import ApiError

RESPONSE_HEADERS = {"Content-Type": "application/json"}
# Envelopes are trees built per call: no cycle to look for, so the encoder skips the check.
_UTF8_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False)
_ASCII_JSON = json.JSONEncoder(check_circular=False)


def success_body(result: dict[str, Any], request_id: str) -> bytes:
    return _encoded({"Response": {**result, "RequestId": request_id}})


def error_body(error: ApiError, request_id: str) -> bytes:
    return _encoded({"Response": {"Error": {"Code": error.code, "Message": error.message}, "RequestId": request_id}})


def _encoded(envelope: dict[str, Any]) -> bytes:
    try:
        return _UTF8_JSON.encode(envelope).encode()
    except UnicodeEncodeError:
        return _ASCII_JSON.encode(envelope).encode()


def http_response(body: bytes) -> web.Response:
    return web.Response(body=body, status=200, headers=RESPONSE_HEADERS)
