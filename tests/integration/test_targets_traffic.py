"""Targets through the official SDK, checked with real traffic through the listener's VIP."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter

import pytest
from tencentcloud.clb.v20180317 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from backends import first_bytes
from clb_support import create_clb_with_vip as create_clb, listener_with_targets, task_status, write
from conftest import sdk_client

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def test_register_targets_wrr_weights_10_and_30_split_one_to_three(server, client, named_backends):
    light, heavy = named_backends("light"), named_backends("heavy")
    _, vip, _ = listener_with_targets(client, "TCP", 8101, [
        {"EniIp": "127.0.0.1", "Port": light.port, "Weight": 10},
        {"EniIp": "127.0.0.1", "Port": heavy.port, "Weight": 30},
    ])
    seen = Counter(first_bytes(vip, 8101) for _ in range(80))
    assert seen == {b"heavy": 60, b"light": 20}


def test_modify_target_weight_zero_gets_no_new_connections(server, client, named_backends):
    kept, drained = named_backends("kept"), named_backends("drained")
    lb_id, vip, listener_id = listener_with_targets(client, "TCP", 8102, [
        {"EniIp": "127.0.0.1", "Port": kept.port}, {"EniIp": "127.0.0.1", "Port": drained.port},
    ])
    response = client.call_json("ModifyTargetWeight", {
        "LoadBalancerId": lb_id, "ListenerId": listener_id, "Weight": 0,
        "Targets": [{"EniIp": "127.0.0.1", "Port": drained.port}]})
    assert task_status(client, response["Response"]["RequestId"]) == 0
    assert {first_bytes(vip, 8102) for _ in range(20)} == {b"kept"}
    described = client.call_json("DescribeTargets", {"LoadBalancerId": lb_id})["Response"]["Listeners"][0]
    assert {t["Port"]: t["Weight"] for t in described["Targets"]} == {kept.port: 10, drained.port: 0}


def test_deregister_targets_established_connection_survives(server, client, named_backends):
    first, second = named_backends("first"), named_backends("second")
    lb_id, vip, listener_id = listener_with_targets(client, "TCP", 8103, [{"EniIp": "127.0.0.1", "Port": first.port}])
    with socket.create_connection((vip, 8103), timeout=2) as established:
        assert established.recv(16) == b"first"
        for action, port in (("RegisterTargets", second.port), ("DeregisterTargets", first.port)):
            response = client.call_json(action, {
                "LoadBalancerId": lb_id, "ListenerId": listener_id,
                "Targets": [{"EniIp": "127.0.0.1", "Port": port}]})
            assert task_status(client, response["Response"]["RequestId"]) == 0
        established.sendall(b"still here")
        assert established.recv(64) == b"still here"
    assert first_bytes(vip, 8103) == b"second"


def test_deregister_targets_rst_on_established_connection_cut_new_ones_go_on(server, client, named_backends):
    first, second = named_backends("first"), named_backends("second")
    lb_id, vip, listener_id = listener_with_targets(client, "TCP", 8105, [
        {"EniIp": "127.0.0.1", "Port": first.port}, {"EniIp": "127.0.0.1", "Port": second.port}],
        DeregisterTargetRst=True, HealthCheck={"HealthSwitch": 0}, Scheduler="LEAST_CONN")
    with socket.create_connection((vip, 8105), timeout=5) as established:
        gone, kept = (first, second) if established.recv(16) == b"first" else (second, first)
        write(client, "DeregisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                            "Targets": [{"EniIp": "127.0.0.1", "Port": gone.port}]})
        try:
            established.sendall(b"still here?")
            cut = established.recv(64) in (b"", b"bye\n")
        except OSError:
            cut = True
        assert cut
    assert first_bytes(vip, 8105) == kept.name.encode()


def test_create_listener_least_conn_new_connection_goes_to_idle_target(server, client, named_backends):
    busy, idle = named_backends("busy"), named_backends("idle")
    _, vip, _ = listener_with_targets(client, "TCP", 8104, [
        {"EniIp": "127.0.0.1", "Port": busy.port}, {"EniIp": "127.0.0.1", "Port": idle.port},
    ], Scheduler="LEAST_CONN")
    held = socket.create_connection((vip, 8104), timeout=2)
    holder = held.recv(16)
    try:
        for _ in range(3):
            other = first_bytes(vip, 8104)
            time.sleep(0.2)
            assert other != holder
    finally:
        held.close()


def test_register_targets_udp_replies_reach_each_client(server, client):
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        echo.settimeout(0.2)
        while not stop.is_set():
            try:
                data, peer = echo.recvfrom(2048)
            except OSError:
                continue
            echo.sendto(b"echo:" + data, peer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        _, vip, _ = listener_with_targets(client, "UDP", 8105, [{"EniIp": "127.0.0.1", "Port": echo.getsockname()[1]}])
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        for index, sock in enumerate(clients):
            sock.settimeout(2)
            sock.sendto(f"c{index}".encode(), (vip, 8105))
        assert [sock.recvfrom(64)[0] for sock in clients] == [b"echo:c0", b"echo:c1"]
        for sock in clients:
            sock.close()
    finally:
        stop.set()
        echo.close()


def test_register_targets_instance_id_without_mapping_is_refused(server, client):
    lb_id, _ = create_clb(client)
    (listener_id,) = client.call_json(
        "CreateListener", {"LoadBalancerId": lb_id, "Ports": [8106], "Protocol": "TCP"})["Response"]["ListenerIds"]
    with pytest.raises(TencentCloudSDKException) as refused:
        client.call_json("RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                             "Targets": [{"InstanceId": "ins-abcdefgh", "Port": 80}]})
    assert refused.value.code == "InvalidParameter"
    assert "instances.json" in refused.value.message
    assert client.call_json("DescribeTargets", {"LoadBalancerId": lb_id})["Response"]["Listeners"][0]["Targets"] == []


def test_register_targets_instance_id_with_mapping_routes_to_its_address(server_factory, tmp_path, named_backends):
    target = named_backends("mapped")
    running = server_factory(instance_addresses={"ins-mapped01": "127.0.0.1"})
    client = sdk_client(running.url)
    _, vip, _ = listener_with_targets(client, "TCP", 8107, [{"InstanceId": "ins-mapped01", "Port": target.port}])
    assert first_bytes(vip, 8107) == b"mapped"


def test_register_targets_duplicate_target_is_refused(server, client):
    lb_id, _ = create_clb(client)
    (listener_id,) = client.call_json(
        "CreateListener", {"LoadBalancerId": lb_id, "Ports": [8108], "Protocol": "TCP"})["Response"]["ListenerIds"]
    with pytest.raises(TencentCloudSDKException) as refused:
        client.call_json("RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Targets": [
            {"EniIp": "127.0.0.1", "Port": 80}, {"EniIp": "127.0.0.1", "Port": 80}]})
    assert refused.value.code == "InvalidParameterValue.Duplicate"


def test_batch_register_targets_unknown_listener_reported_in_fail_set(server, client, named_backends):
    target = named_backends("batch")
    lb_id, vip = create_clb(client)
    (listener_id,) = client.call_json(
        "CreateListener", {"LoadBalancerId": lb_id, "Ports": [8109], "Protocol": "TCP"})["Response"]["ListenerIds"]
    request = models.BatchRegisterTargetsRequest()
    request.from_json_string(json.dumps({"LoadBalancerId": lb_id, "Targets": [
        {"ListenerId": listener_id, "Port": target.port, "EniIp": "127.0.0.1"},
        {"ListenerId": "lbl-missing0", "Port": 80, "EniIp": "127.0.0.1"},
    ]}))
    response = client.BatchRegisterTargets(request)
    assert response.FailListenerIdSet == ["lbl-missing0"]
    time.sleep(0.05)
    assert first_bytes(vip, 8109) == b"batch"


def test_modify_target_port_moves_traffic_to_new_port(server, client, named_backends):
    old, new = named_backends("old"), named_backends("new")
    lb_id, vip, listener_id = listener_with_targets(client, "TCP", 8110, [{"EniIp": "127.0.0.1", "Port": old.port}])
    response = client.call_json("ModifyTargetPort", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                     "NewPort": new.port, "Targets": [{"EniIp": "127.0.0.1", "Port": old.port}]})
    assert task_status(client, response["Response"]["RequestId"]) == 0
    assert first_bytes(vip, 8110) == b"new"
