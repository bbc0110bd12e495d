"""Results and errors → the Tencent Cloud API 3.0 envelope, always HTTP 200.

The Python SDK recognises an error only when Content-Type is exactly ``application/json``
(digest §1.5, gotcha 1): aiohttp would append ``; charset=utf-8`` if asked to set a JSON
content type, so the header is set by hand on raw bytes.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from openclb.api.errors import ApiError

RESPONSE_HEADERS = {"Content-Type": "application/json"}


def success_body(result: dict[str, Any], request_id: str) -> bytes:
    return json.dumps({"Response": {**result, "RequestId": request_id}}, ensure_ascii=False).encode()


def error_body(error: ApiError, request_id: str) -> bytes:
    envelope = {"Response": {"Error": {"Code": error.code, "Message": error.message}, "RequestId": request_id}}
    return json.dumps(envelope, ensure_ascii=False).encode()


def http_response(body: bytes) -> web.Response:
    return web.Response(body=body, status=200, headers=RESPONSE_HEADERS)
