"""A small client of a running openclb: TC3-signed calls with the standard library only.

For ``openclb state|faults --endpoint`` and the pytest plugin (``openclb.testing``), so neither
needs the Tencent Cloud SDK. ``call`` signs a POST with a JSON body exactly as the official SDKs
do (TC3-HMAC-SHA256, headers ``content-type;host``), for the admin service (``openclb``, its
version) by default, or for CLB (``service="clb"``). An error answer raises ``ApiCallError``
carrying the code, the message and the RequestId.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from openclb.api import admin

CLB_VERSION = "2018-03-17"
DEFAULT_REGION = "ap-guangzhou"


class ApiCallError(Exception):
    def __init__(self, code: str, message: str, request_id: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


class Client:
    def __init__(self, endpoint: str, secret_id: str, secret_key: str, region: str = DEFAULT_REGION,
                 token: str | None = None, timeout: float = 60.0) -> None:
        self.endpoint = endpoint if "://" in endpoint else f"http://{endpoint}"
        self.host = urlsplit(self.endpoint).netloc
        self.secret_id = secret_id
        self._secret_key = secret_key
        self.region = region
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Client({self.endpoint!r}, {self.secret_id!r})"

    def call(self, action: str, params: dict[str, Any] | None = None, service: str = admin.SERVICE) -> dict[str, Any]:
        """The ``Response`` object of one call (RequestId included); ApiCallError on an error answer."""
        version = admin.VERSION if service == admin.SERVICE else CLB_VERSION
        payload = json.dumps(params or {}).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json", "Host": self.host, "X-TC-Action": action,
            "X-TC-Version": version, "X-TC-Timestamp": str(timestamp), "X-TC-Region": self.region,
            "Authorization": self._authorization(service, timestamp, payload),
        }
        if self._token:
            headers["X-TC-Token"] = self._token
        request = urllib.request.Request(self.endpoint + "/", data=payload, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:
            response = json.loads(answer.read())["Response"]
        if "Error" in response:
            error = response["Error"]
            raise ApiCallError(error["Code"], error["Message"], response.get("RequestId", ""))
        return response

    def clb(self, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(action, params, service="clb")

    def wait_for_task(self, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """DescribeTaskStatus until the task leaves Status 2 (or ``timeout`` passes): its last answer."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.clb("DescribeTaskStatus", {"TaskId": task_id})
            if status["Status"] != 2 or time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    def _authorization(self, service: str, timestamp: int, payload: bytes) -> str:
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        canonical = "\n".join(("POST", "/", "", f"content-type:application/json\nhost:{self.host}\n",
                               "content-type;host", hashlib.sha256(payload).hexdigest()))
        scope = f"{date}/{service}/tc3_request"
        to_sign = "\n".join(("TC3-HMAC-SHA256", str(timestamp), scope,
                             hashlib.sha256(canonical.encode()).hexdigest()))
        key = ("TC3" + self._secret_key).encode()
        for part in (date, service, "tc3_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return (f"TC3-HMAC-SHA256 Credential={self.secret_id}/{scope}, SignedHeaders=content-type;host, "
                f"Signature={signature}")
