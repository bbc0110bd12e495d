"""A sample test suite for code that manages Tencent Cloud CLBs, run against openclb.

This is what a project writes to test its own CLB code: the fixtures come from openclb's
pytest plugin (`openclb_server`: a fresh server per test; `openclb_session_server`: one per
session, reset between tests), the client is the official SDK aimed at the server, and faults
are injected where the code must cope with them. Nothing here knows openclb's internals.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from tencentcloud.clb.v20180317 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException


# The "application code" under test --------------------------------------------------------------


def wait_for_task(client, request_id: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        request = models.DescribeTaskStatusRequest()
        request.TaskId = request_id
        status = client.DescribeTaskStatus(request).Status
        if status != 2 or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def create_tcp_service(client, name: str, port: int, backend: tuple[str, int], retries: int = 5) -> tuple[str, str]:
    """A CLB with one TCP listener forwarding to ``backend``: its id and its VIP.

    Retries calls the API throttles, as production code must.
    """

    def call(method, request):
        for attempt in range(retries):
            try:
                return method(request)
            except TencentCloudSDKException as error:
                if error.code != "RequestLimitExceeded" or attempt == retries - 1:
                    raise
                time.sleep(0.05)

    create = models.CreateLoadBalancerRequest()
    create.LoadBalancerType, create.LoadBalancerName = "OPEN", name
    created = call(client.CreateLoadBalancer, create)
    assert wait_for_task(client, created.RequestId) == 0
    lb_id = created.LoadBalancerIds[0]
    listener = models.CreateListenerRequest()
    listener.LoadBalancerId, listener.Protocol, listener.Ports = lb_id, "TCP", [port]
    listener_id = call(client.CreateListener, listener).ListenerIds[0]
    target = models.Target()
    target.EniIp, target.Port = backend
    register = models.RegisterTargetsRequest()
    register.LoadBalancerId, register.ListenerId, register.Targets = lb_id, listener_id, [target]
    assert wait_for_task(client, call(client.RegisterTargets, register).RequestId) == 0
    describe = models.DescribeLoadBalancersRequest()
    describe.LoadBalancerIds = [lb_id]
    return lb_id, client.DescribeLoadBalancers(describe).LoadBalancerSet[0].LoadBalancerVips[0]


# The tests ----------------------------------------------------------------------------------------


@pytest.fixture
def backend():
    """A TCP server that greets every connection."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"hello from the backend")

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()
    server.close()


def greeting(vip: str, port: int) -> bytes:
    with socket.create_connection((vip, port), timeout=5) as connection:
        return connection.recv(100)


def test_create_tcp_service_traffic_reaches_backend(openclb_server, backend):
    lb_id, vip = create_tcp_service(openclb_server.clb_client(), "web", 8080, backend)

    assert lb_id.startswith("lb-")
    assert greeting(vip, 8080) == b"hello from the backend"


def test_create_tcp_service_throttled_twice_retried_and_created(openclb_server, backend):
    openclb_server.inject_fault("ApiError", Action="CreateListener", Code="RequestLimitExceeded", Count=2)

    lb_id, vip = create_tcp_service(openclb_server.clb_client(), "retried", 8081, backend)

    (fault,) = openclb_server.faults()
    assert fault["Hits"] == 2
    assert greeting(vip, 8081) == b"hello from the backend"


@pytest.fixture
def clean_server(openclb_session_server):
    """The session's server, emptied after each test (milliseconds, every port closed)."""
    yield openclb_session_server
    openclb_session_server.reset()


def test_import_state_snapshot_after_reset_serves_again(clean_server, backend):
    client = clean_server.clb_client()
    lb_id, vip = create_tcp_service(client, "snapshotted", 8082, backend)
    snapshot = clean_server.export_state()

    clean_server.reset()
    with pytest.raises(OSError):
        greeting(vip, 8082)
    restored = clean_server.import_state(snapshot)

    assert restored == [lb_id]
    assert greeting(vip, 8082) == b"hello from the backend"
