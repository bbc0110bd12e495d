"""Helpers for the front-door end-to-end tests: envelope checks, requests signed by hand, ``openclb serve``.

Hand-signed requests exist only for what no official client will send (a Host header other
than the endpoint it connects to, a broken Authorization header, a method other than GET or
POST). They are signed with the Python SDK's own ``Sign`` primitives, over exactly the bytes
``requests`` puts on the wire, so a refusal can only come from the server's rules.
``ServeProcess`` is ``openclb serve`` as a real child process, started as a user starts it,
killed with a real SIGKILL and started again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import resource
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from tencentcloud.clb.v20180317 import clb_client
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign

from backends import free_port
from conftest import REGION, SECRET_ID, SECRET_KEY, unique_vip_pool
from openclb import errors

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
OPENCLB = str(VENV_BIN / "openclb")
API_VERSION = "2018-03-17"

DOCUMENTED_CODES = frozenset(
    value.code
    for value in vars(errors).values()
    if isinstance(value, type) and issubclass(value, errors.ApiError) and value is not errors.ApiError
)


def assert_uuid4(text: str) -> None:
    parsed = uuid.UUID(text)
    assert parsed.version == 4 and str(parsed) == text.lower(), text


def assert_envelope(response: requests.Response) -> dict[str, Any]:
    """HTTP 200, Content-Type exactly ``application/json``, ``{"Response": {..., "RequestId": uuid4}}``."""
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.headers.get("Content-Type") == "application/json", response.headers
    body = response.json()
    assert set(body) == {"Response"}, body
    inner = body["Response"]
    assert_uuid4(inner["RequestId"])
    if "Error" in inner:
        assert set(inner) == {"Error", "RequestId"}, inner
        assert set(inner["Error"]) == {"Code", "Message"}, inner
        assert isinstance(inner["Error"]["Message"], str) and inner["Error"]["Message"]
    return inner


def error_code(response: requests.Response) -> str | None:
    """The envelope's error code, or None on success (after the envelope checks)."""
    inner = assert_envelope(response)
    return inner["Error"]["Code"] if "Error" in inner else None


def sdk_raises(code: str, call: Callable[[], Any]) -> TencentCloudSDKException:
    """Run an SDK call that must fail with ``code``; the error carries a UUID4 RequestId."""
    with pytest.raises(TencentCloudSDKException) as caught:
        call()
    error = caught.value
    assert error.code == code, (error.code, error.message)
    assert_uuid4(error.requestId)
    return error


def proxied_client(
    server_url: str,
    endpoint: str,
    region: str = REGION,
    sign_method: str = "TC3-HMAC-SHA256",
    req_method: str = "POST",
) -> clb_client.ClbClient:
    """The official SDK aimed at ``endpoint`` (e.g. ``clb.tencentcloudapi.com``), reaching openclb
    as its HTTP proxy: the request carries ``Host: endpoint`` exactly as it would on the Internet."""
    http_profile = HttpProfile(endpoint=endpoint, protocol="http", reqMethod=req_method, proxy=server_url)
    profile = ClientProfile(signMethod=sign_method, httpProfile=http_profile)
    return clb_client.ClbClient(credential.Credential(SECRET_ID, SECRET_KEY), region, profile)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as the SDKs flatten them: ``A.0.B=v``."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, list):
            flat.update(flatten({str(index): item for index, item in enumerate(value)}, name + "."))
        else:
            flat[name] = str(value)
    return flat


@dataclass
class Tc3Call:
    """One TC3-HMAC-SHA256 call, signed by hand; change a field to make it wrong on purpose."""

    action: str
    params: Mapping[str, Any] | None = None
    body: bytes | None = None
    method: str = "POST"
    host: str | None = None
    secret_id: str = SECRET_ID
    secret_key: str = SECRET_KEY
    region: str | None = REGION
    version: str = API_VERSION
    timestamp: int | None = None
    content_type: str | None = None
    service: str = "clb"
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, server_url: str, session: requests.Session | None = None) -> requests.Response:
        host = self.host or server_url.removeprefix("http://")
        timestamp = int(time.time()) if self.timestamp is None else self.timestamp
        query = ""
        if self.method == "GET":
            query = urlencode(flatten(self.params or {}))
            payload = b""
            content_type = self.content_type or "application/x-www-form-urlencoded"
        else:
            payload = self.body if self.body is not None else json.dumps(self.params or {}).encode()
            content_type = self.content_type or "application/json"
        headers = {
            "Content-Type": content_type,
            "Host": host,
            "X-TC-Action": self.action,
            "X-TC-Version": self.version,
            "X-TC-Timestamp": str(timestamp),
        }
        if self.region is not None:
            headers["X-TC-Region"] = self.region
        headers.update(self.headers)
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        canonical_request = "\n".join(
            (
                self.method,
                "/",
                query,
                f"content-type:{content_type}\nhost:{host}\n",
                "content-type;host",
                hashlib.sha256(payload).hexdigest(),
            )
        )
        scope = f"{date}/{self.service}/tc3_request"
        string_to_sign = "\n".join(
            ("TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical_request.encode()).hexdigest())
        )
        signature = Sign.sign_tc3(self.secret_key, date, self.service, string_to_sign)
        headers.setdefault(
            "Authorization",
            f"TC3-HMAC-SHA256 Credential={self.secret_id}/{scope}, "
            f"SignedHeaders=content-type;host, Signature={signature}",
        )
        url = f"{server_url}/" + (f"?{query}" if query else "")
        sender = session or requests
        data = payload if self.method != "GET" else None
        return sender.request(self.method, url, data=data, headers=headers, timeout=30)


def v1_signed_params(
    method: str,
    host: str,
    action: str,
    params: Mapping[str, Any] | None = None,
    *,
    secret_id: str = SECRET_ID,
    secret_key: str = SECRET_KEY,
    sign_method: str = "HmacSHA256",
    nonce: int = 1,
    timestamp: int | None = None,
    region: str = REGION,
    version: str = API_VERSION,
) -> dict[str, str]:
    """Every parameter of a v1 call, ``Signature`` included, as the documented rule computes it."""
    signed = {
        **flatten(params or {}),
        "Action": action,
        "Version": version,
        "Region": region,
        "Nonce": str(nonce),
        "Timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "SecretId": secret_id,
        "SignatureMethod": sign_method,
    }
    string_to_sign = f"{method}{host}/?" + "&".join(f"{key}={signed[key]}" for key in sorted(signed))
    signed["Signature"] = Sign.sign(secret_key, string_to_sign, sign_method)
    return signed


@contextmanager
def api_log_records(name: str = "openclb.api") -> Iterator[list[logging.LogRecord]]:
    """Every record the ``name`` logger (``openclb.api``) emits meanwhile, whatever the logging set-up."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(name)
    handler = Collect(logging.DEBUG)
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: no OPENCLB_* and no proxies, its own HOME."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OPENCLB_") and key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env["HOME"] = str(home)
    env.update(extra)
    return env


class ServeProcess:
    """``openclb serve`` as a child process, started (and started again) with the same arguments.

``binary`` is the ``openclb`` command to run (default: the dev venv's).

    ``start`` waits for the start-up banner, up to its last line (``list keys:``), and keeps it
    in ``banner``; the child's stderr is appended to ``log_path``. ``kill`` is a real SIGKILL,
    with no chance to clean up; ``stop`` a SIGTERM that waits for the exit. With
    ``open_files``, the child runs under that RLIMIT_NOFILE (soft and hard).
    """

    LAST_BANNER_LINE = "list keys:"

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, open_files: int | None = None,
                 binary: str = OPENCLB, prefix: tuple[str, ...] = ()) -> None:
        self.binary = binary
        self.prefix = prefix  # e.g. ("ip", "netns", "exec", NAME): the child runs inside a namespace
        self.args = args
        self.env = env
        self.log_path = log_path
        self.open_files = open_files
        self.process: subprocess.Popen | None = None
        self.banner: list[str] = []

    def start(self) -> ServeProcess:
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [*self.prefix, self.binary, "serve", *self.args], stdout=subprocess.PIPE, stderr=log_file, env=self.env, text=True,
                preexec_fn=None if self.open_files is None else self._limit_open_files,
            )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.process.stdout, lines), daemon=True).start()
        self.banner = self._read_banner(lines, deadline=time.monotonic() + 30)
        return self

    def _limit_open_files(self) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    @staticmethod
    def _pump(stdout, lines: queue.Queue[str | None]) -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def _read_banner(self, lines: queue.Queue[str | None], deadline: float) -> list[str]:
        banner: list[str] = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            banner.append(line)
            if line.strip().startswith(self.LAST_BANNER_LINE):
                return banner
        self.stop()
        raise AssertionError(f"openclb serve did not start: {banner}\n{self.log_path.read_text(errors='replace')}")

    @property
    def url(self) -> str:
        prefix = "openclb serving the CLB API at "
        return next(line[len(prefix):].strip() for line in self.banner if line.startswith(prefix))

    def banner_value(self, name: str) -> str | None:
        prefix = f"{name}="
        return next((line.strip()[len(prefix):] for line in self.banner if line.strip().startswith(prefix)), None)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
        return lines

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def serve_on_own_port(tmp_path: Path, *extra: str, store_url: str = "", open_files: int | None = None) -> ServeProcess:
    """A ServeProcess, not started yet, that every start serves at the same URL and data dir.

    The data dir is ``tmp_path / "data"``; the key is the test key, from the environment.
    """
    args = [
        "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "data"), "--vip-pool", unique_vip_pool(),
        "--rate-limit", "DescribeTaskStatus=1000", *(["--store", store_url] if store_url else []),
        "--workers", "1", *extra,  # one data-plane process unless the test asks (serve's default: one per core)
    ]
    env = clean_env(tmp_path, OPENCLB_SECRET_ID=SECRET_ID, OPENCLB_SECRET_KEY=SECRET_KEY)
    return ServeProcess(args, env, tmp_path / "serve.log", open_files)
