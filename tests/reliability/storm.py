"""A write storm against a real ``openclb serve``, broken by kill -9 or a database outage.

``WriteStorm`` sends signed CreateListener calls in a loop from one thread, each on a fresh
port, and remembers every call the server acknowledged (answered with ListenerIds). While it
runs, the caller kills the server (``kill -9``) and starts it again, or cuts the database off
for a while. ``Verdict.of`` then counts, through the official SDK:
- lost: an acknowledged listener that is not there afterwards (its task did not fail);
- stuck: an acknowledged task still running (Status 2) after a settle deadline;
- locked: a CLB that refuses the next write with ``FailedOperation.ResourceInOperating``.
Used by ``tests/reliability/test_kill_and_outage.py`` (a few rounds) and by the benchmark area
``durability`` (the full rounds, figures in RESULTS.md).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

SETTLE_SECONDS = 20.0


@dataclass
class Acknowledged:
    request_id: str
    listener_id: str


@dataclass
class WriteStorm:
    """CreateListener in a loop on one CLB; ``acknowledged`` holds what the server answered."""

    client: object
    lb_id: str
    first_port: int
    acknowledged: list[Acknowledged] = field(default_factory=list)
    attempts: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="write-storm")
        self._port = self.first_port

    def start(self) -> WriteStorm:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._port += 1
            self.attempts += 1
            try:
                response = self.client.call_json("CreateListener", {
                    "LoadBalancerId": self.lb_id, "Ports": [self._port], "Protocol": "TCP",
                    "HealthCheck": {"HealthSwitch": 0}})["Response"]
            except (TencentCloudSDKException, OSError):
                self._stop.wait(0.02)
                continue
            self.acknowledged.append(Acknowledged(response["RequestId"], response["ListenerIds"][0]))


@dataclass(frozen=True)
class Verdict:
    acknowledged: int
    lost: int
    failed: int
    stuck: int
    locked: int
    messages: tuple[str, ...] = ()

    @classmethod
    def of(cls, client, lb_ids: list[str], acknowledged: list[Acknowledged]) -> Verdict:
        statuses, messages = _settled_statuses(client, [a.request_id for a in acknowledged])
        present = set()
        for lb_id in lb_ids:
            listeners = client.call_json("DescribeListeners", {"LoadBalancerId": lb_id})["Response"]["Listeners"]
            present |= {listener["ListenerId"] for listener in listeners}
        failed = sum(1 for a in acknowledged if statuses.get(a.request_id) == 1)
        lost = sum(1 for a in acknowledged if statuses.get(a.request_id) != 1 and a.listener_id not in present)
        stuck = sum(1 for a in acknowledged if statuses.get(a.request_id) == 2)
        return cls(len(acknowledged), lost, failed, stuck, sum(_locked(client, lb_id) for lb_id in lb_ids),
                   tuple(sorted(set(messages))))


def _settled_statuses(client, task_ids: list[str]) -> tuple[dict[str, int], list[str]]:
    """Each task's Status once settled (2 if still running at the deadline), and the failures' messages."""
    statuses: dict[str, int] = {}
    messages: list[str] = []
    deadline = time.monotonic() + SETTLE_SECONDS
    pending = list(task_ids)
    while pending and time.monotonic() < deadline:
        still = []
        for task_id in pending:
            try:
                answer = client.call_json("DescribeTaskStatus", {"TaskId": task_id})["Response"]
            except TencentCloudSDKException:
                answer = {"Status": 2}
            status = statuses[task_id] = answer["Status"]
            if status == 1:
                messages.append(answer["Message"])
            if status == 2:
                still.append(task_id)
        pending = still
        if pending:
            time.sleep(0.1)
    return statuses, messages


def _locked(client, lb_id: str) -> bool:
    """A CLB is locked when a harmless write on it is refused as in operation for a while."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        try:
            client.call_json("ModifyLoadBalancerAttributes", {"LoadBalancerId": lb_id, "LoadBalancerName": "storm"})
            return False
        except TencentCloudSDKException as exc:
            if exc.code != "FailedOperation.ResourceInOperating":
                raise
            time.sleep(0.1)
    return True
