"""The openclb server under test, run as its own process, and the SDK calls that configure it.

The server is ``python -m openclb serve`` from the same interpreter as the benchmark (so the
venv's uvloop is used, as the CLI does when it is importable), with its own data dir and VIP
pool, credentials from OPENCLB_SECRET_ID/KEY and every rate limit raised. It is configured
only through the official Python SDK, as a user would.

``SignedRequest`` is a request signed by the SDK's own TC3 code *before* it is timed: TC3 has
no nonce and a five-minute validity, so one signed request may be replayed by a load
generator (wrk, or ``http.client`` for latency series) without signing in the timed path.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from dataclasses import dataclass

from tencentcloud.clb.v20180317 import clb_client
from tencentcloud.common import credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from benchmarks.harness import Bench, Service, free_port, wait_until

SECRET_ID = "AKIDopenclbBENCHMARK0000000000000"
SECRET_KEY = "openclbBenchmarkSecretKey00000000"
REGION = "ap-guangzhou"
RATE_LIMIT = 1_000_000
TASK_TIMEOUT = 60.0


class OpenclbServer:
    """``openclb serve`` in its own process; ``restart()`` keeps the data dir."""

    def __init__(self, bench: Bench, name: str, vip_pool: str, log_level: str = "WARNING",
                 workers: int = 1, metrics_port: int | None = None, engine: str = "embedded") -> None:
        self.bench = bench
        self.engine = engine
        self.workers = workers
        self.metrics_port = metrics_port
        self.name = name
        self.vip_pool = vip_pool
        self.data_dir = bench.workdir / f"{name}-data"
        self.port = free_port()
        self.log_level = log_level
        self.service: Service | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.service is not None
        return self.service.pid

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "openclb", "serve", "--listen", f"127.0.0.1:{self.port}",
            "--data-dir", str(self.data_dir), "--vip-pool", self.vip_pool,
            "--rate-limit", f"*={RATE_LIMIT}", "--log-level", self.log_level,
            # Explicit: the CLI's default is one worker per core; the benchmarks compare like with like.
            "--workers", str(self.workers), "--engine", self.engine,
            "--metrics-listen", f"127.0.0.1:{self.metrics_port}" if self.metrics_port else "off",
            "--engine", self.engine,
        ]

    def spawn(self) -> Service:
        """Start the process without waiting for it (``wait_ready`` does)."""
        self.service = self.bench.spawn(
            self.name, self.argv(), extra_env={"OPENCLB_SECRET_ID": SECRET_ID, "OPENCLB_SECRET_KEY": SECRET_KEY}
        )
        return self.service

    def ready(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def wait_ready(self, timeout: float = 120) -> None:
        assert self.service is not None
        if not wait_until(lambda: self.ready() or not self.service.alive(), timeout, 0.01) or not self.service.alive():
            raise RuntimeError(f"openclb {self.name} did not start: {self.service.log_tail()}")

    def start(self) -> OpenclbServer:
        self.spawn()
        self.wait_ready()
        return self

    def stop(self) -> float:
        """SIGTERM and wait; returns the seconds the graceful stop took."""
        return self.service.stop(timeout=60) if self.service else 0.0

    def client(self) -> clb_client.ClbClient:
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=self.url, reqMethod="POST", reqTimeout=120))
        return clb_client.ClbClient(credential.Credential(SECRET_ID, SECRET_KEY), REGION, profile)


# -- configuration through the SDK -------------------------------------------------------


def call(client: clb_client.ClbClient, action: str, params: dict) -> dict:
    return client.call_json(action, params)["Response"]


def wait_task(client: clb_client.ClbClient, task_id: str, timeout: float = TASK_TIMEOUT) -> None:
    """Wait for a task to succeed; raise with its message if it fails or outlasts ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        status = call(client, "DescribeTaskStatus", {"TaskId": task_id})
        if status["Status"] == 0:
            return
        if status["Status"] == 1:
            raise RuntimeError(f"task {task_id} failed: {status.get('Message')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"task {task_id} still running after {timeout:g}s")
        time.sleep(0.02)


def create_clb(client: clb_client.ClbClient, name: str) -> tuple[str, str]:
    """A new OPEN CLB; returns (LoadBalancerId, VIP)."""
    created = call(client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "LoadBalancerName": name})
    wait_task(client, created["RequestId"])
    lb_id = created["LoadBalancerIds"][0]
    described = call(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})
    return lb_id, described["LoadBalancerSet"][0]["LoadBalancerVips"][0]


def create_listeners(
    client: clb_client.ClbClient, lb_id: str, protocol: str, ports: list[int], health: dict | None = None
) -> list[str]:
    params = {"LoadBalancerId": lb_id, "Protocol": protocol, "Ports": ports}
    if health is not None:
        params["HealthCheck"] = health
    created = call(client, "CreateListener", params)
    wait_task(client, created["RequestId"])
    return created["ListenerIds"]


def register_targets(
    client: clb_client.ClbClient, lb_id: str, listener_id: str, targets: list[tuple[str, int]]
) -> None:
    response = call(client, "RegisterTargets", {
        "LoadBalancerId": lb_id, "ListenerId": listener_id,
        "Targets": [{"EniIp": ip, "Port": port} for ip, port in targets],
    })
    wait_task(client, response["RequestId"])


HEALTH_OFF = {"HealthSwitch": 0}
HEALTH_TCP_5S = {"HealthSwitch": 1, "TimeOut": 2, "IntervalTime": 5, "HealthNum": 3, "UnHealthNum": 3}


# -- pre-signed requests -----------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """One API request signed by the SDK's TC3 code, ready to be replayed verbatim."""

    action: str
    headers: dict[str, str]
    body: bytes

    def wrk_lua(self) -> str:
        """wrk setup that sends this request on every connection (Host included, verbatim)."""
        lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(self.body.decode())}"]
        lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in self.headers.items()]
        return "\n".join(lines) + "\n"

    def send(self, conn: http.client.HTTPConnection) -> dict:
        """Send on a kept-alive connection; return the parsed ``Response``."""
        conn.request("POST", "/", body=self.body, headers=self.headers)
        return json.loads(conn.getresponse().read())["Response"]


def presign(client: clb_client.ClbClient, action: str, params: dict) -> SignedRequest:
    request = RequestInternal(client._get_endpoint(), "POST", client._requestPath, header={})
    client._build_req_inter(action, params, request)
    return SignedRequest(action, dict(request.header), request.data.encode())


def check_ok(response: dict, what: str) -> dict:
    if "Error" in response:
        raise RuntimeError(f"{what} failed: {response['Error']}")
    return response
