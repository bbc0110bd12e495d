"""An openclb inside the test process: ``start_openclb`` and the ``OpenClbServer`` handle it yields.

For any test framework (the pytest plugin, ``openclb.testing``, is built on it):
``with start_openclb(tmp_dir) as server: ...`` starts a server on its own event-loop thread: a
free port on 127.0.0.1, the data dir given, a new key pair, fault injection on (``--faults``), a
high rate limit, no metrics; on exit it stops and every port is closed. ``options`` are
``openclb.config.Settings`` fields and win over these defaults.

The handle has ``endpoint``, ``secret_id``, ``secret_key``, ``region``, ``env``, and helpers over
the admin API: ``reset``, ``export_state``, ``import_state``, ``inject_fault``, ``faults``,
``clear_faults``; ``clb_client()`` builds the official SDK's ClbClient when
tencentcloud-sdk-python-clb is installed. Every server of one process shares one master key, so
a snapshot exported from one imports into another with its private keys sealed. Each server
takes its CLB VIPs from its own random /24 of 127.128.0.0/9, so servers of parallel test
processes do not collide on listener addresses.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openclb.api.accounts import generate_account
from openclb.app import OpenClb
from openclb.client import ApiCallError, Client
from openclb.config import Settings

REGION = "ap-guangzhou"
_MASTER_KEY = base64.b64encode(os.urandom(32)).decode()
_POOLS: set[str] = set()
_RANDOM = random.SystemRandom()


def _vip_pool() -> str:
    while True:
        pool = f"127.{_RANDOM.randint(128, 255)}.{_RANDOM.randint(0, 255)}.0/24"
        if pool not in _POOLS:
            _POOLS.add(pool)
            return pool


@dataclass
class OpenClbServer:
    """A running openclb: where it answers, the key to sign with, and admin helpers."""

    endpoint: str
    secret_id: str
    secret_key: str = field(repr=False)
    data_dir: Path
    region: str = REGION
    server: OpenClb | None = field(default=None, repr=False)

    @property
    def admin(self) -> Client:
        return Client(self.endpoint, self.secret_id, self.secret_key, self.region)

    @property
    def env(self) -> dict[str, str]:
        """For code under test that reads its settings from the environment."""
        return {"OPENCLB_ENDPOINT": self.endpoint, "TENCENTCLOUD_SECRET_ID": self.secret_id,
                "TENCENTCLOUD_SECRET_KEY": self.secret_key, "TENCENTCLOUD_REGION": self.region}

    def clb_client(self):
        """The official SDK's ClbClient aimed at this server (needs tencentcloud-sdk-python-clb)."""
        from tencentcloud.clb.v20180317 import clb_client
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile

        profile = ClientProfile(httpProfile=HttpProfile(endpoint=self.endpoint))
        return clb_client.ClbClient(credential.Credential(self.secret_id, self.secret_key), self.region, profile)

    def reset(self, all_accounts: bool = False) -> list[str]:
        """Remove every resource of the account (of every account); the ids of the CLBs removed."""
        return self.admin.call("ResetState", {"AllAccounts": all_accounts})["LoadBalancerIds"]

    def export_state(self, include_private_keys: bool = False) -> dict[str, Any]:
        return json.loads(self.admin.call("ExportState", {"IncludePrivateKeys": include_private_keys})["State"])

    def import_state(self, document: dict[str, Any] | str, replace: bool = False, timeout: float = 60) -> list[str]:
        """Import and wait until the data plane serves it; the CLB ids. ApiCallError if the task fails."""
        text = document if isinstance(document, str) else json.dumps(document)
        answer = self.admin.call("ImportState", {"State": text, "Replace": replace})
        status = self.admin.wait_for_task(answer["TaskId"], timeout)
        if status["Status"] != 0:
            raise ApiCallError("FailedOperation", status.get("Message") or "the import is still running",
                               answer["TaskId"])
        return answer["LoadBalancerIds"]

    def inject_fault(self, kind: str, **params: Any) -> str:
        """InjectFault(Kind=kind, **params), e.g. ``inject_fault("ApiError", Action="CreateListener",
        Code="RequestLimitExceeded", Count=2)``; returns the FaultId."""
        return self.admin.call("InjectFault", {"Kind": kind, **params})["FaultId"]

    def faults(self) -> list[dict[str, Any]]:
        return self.admin.call("DescribeFaults")["Faults"]

    def clear_faults(self, *fault_ids: str) -> list[str]:
        return self.admin.call("ClearFaults", {"FaultIds": list(fault_ids)} if fault_ids else {})["FaultIds"]


@contextlib.contextmanager
def start_openclb(data_dir: Path, **options: Any) -> Iterator[OpenClbServer]:
    """An openclb on its own event-loop thread, stopped on exit; ``options`` are Settings fields."""
    account = generate_account()
    settings = Settings(**{
        "listen_host": "127.0.0.1", "listen_port": 0, "data_dir": Path(data_dir), "env_secret_id": account.secret_id,
        "env_secret_key": account.secret_key, "master_key": _MASTER_KEY, "vip_pool": _vip_pool(),
        "rate_limit_default": 10_000, "metrics_port": None, "drain_seconds": 0.0, "fault_injection": True,
        **options,
    })
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True, name="openclb-server")
    thread.start()
    server = OpenClb(settings)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(60)
        yield OpenClbServer(server.endpoint_url, settings.env_secret_id or "", settings.env_secret_key or "",
                            settings.data_dir, server=server)
    finally:
        if getattr(server, "worker", None) is not None:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
