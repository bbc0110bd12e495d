"""Restart: after kill -9 every listener is bound again and every unfinished task finishes.

The server runs as a real ``openclb serve`` subprocess, so the kill is a real SIGKILL with no
chance to clean up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (
    REGION, SECRET_ID, SECRET_KEY, drop_pg_schema, free_port, pg_schema_url, sdk_client, unique_vip_pool,
)
from openclb.domain.models import Listener, ProvisioningState, Scope, Task, TaskKind, TaskStatus
from openclb.resources.listeners.queries import add_listeners
from openclb.store.store import Store
from clb_support import accepts_tcp, create_clb_with_vip as create_clb, task_status

OPENCLB = str(Path(sys.executable).with_name("openclb"))


class ServeProcess:
    def __init__(self, data_dir: Path, store_url: str, vip_pool: str) -> None:
        self.port = free_port()
        self.args = [
            OPENCLB, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(data_dir),
            "--vip-pool", vip_pool, "--rate-limit", "DescribeTaskStatus=1000",
        ] + (["--store", store_url] if store_url else [])
        self.env = {**os.environ, "OPENCLB_SECRET_ID": SECRET_ID, "OPENCLB_SECRET_KEY": SECRET_KEY}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.process.stdout.readline()
        assert self.url in line, line

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture(params=["sqlite", "postgresql"])
def serve_process(request, tmp_path):
    schema = None
    store_url = ""
    if request.param == "postgresql":
        store_url, schema = pg_schema_url()
    process = ServeProcess(tmp_path / "data", store_url, unique_vip_pool())
    yield process
    process.stop()
    if schema:
        drop_pg_schema(schema)


def test_create_listener_after_kill_9_restart_listeners_bound_again(serve_process):
    serve_process.start()
    client = sdk_client(serve_process.url)
    lb_id, vip = create_clb(client)
    response = client.call_json("CreateListener", {"LoadBalancerId": lb_id, "Ports": [7901, 7902], "Protocol": "TCP"})
    assert task_status(client, response["Response"]["RequestId"]) == 0
    before = client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})["Response"]["Listeners"]

    serve_process.kill()
    assert not accepts_tcp(vip, 7901)
    serve_process.start()

    assert accepts_tcp(vip, 7901) and accepts_tcp(vip, 7902)
    after = sdk_client(serve_process.url).call_json("DescribeListeners", {"LoadBalancerId": lb_id})
    assert after["Response"]["Listeners"] == before


def test_create_listener_task_unfinished_at_crash_finishes_after_restart(serve_process):
    serve_process.start()
    client = sdk_client(serve_process.url)
    lb_id, vip = create_clb(client)
    serve_process.kill()

    store_url = serve_process.args[serve_process.args.index("--store") + 1] if "--store" in serve_process.args else (
        f"sqlite:///{(Path(serve_process.args[5]) / 'openclb.db').resolve()}"
    )
    store = Store(store_url)
    lb = store.get_load_balancer_any(lb_id)
    task = Task("crash-task-0001", lb.app_id, REGION, TaskKind.RECONCILE_LISTENERS, (lb_id,), TaskStatus.RUNNING,
                "2026-01-01 00:00:00.000000")
    listener = Listener("lbl-crashed1", lb.app_id, REGION, lb_id, "TCP", 7903, 0, "crashed",
                        ProvisioningState.PENDING_CREATE, "2026-01-01 00:00:00.000000", {}, task.id)
    add_listeners(store, Scope(lb.app_id, REGION), lb_id, [listener], task, quota=50)
    store.close()

    serve_process.start()
    client = sdk_client(serve_process.url)
    assert task_status(client, task.id) == 0
    assert accepts_tcp(vip, 7903)
    (described,) = client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})["Response"]["Listeners"]
    assert described["ListenerId"] == "lbl-crashed1"
