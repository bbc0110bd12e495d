"""CLS access logs: log sets and topics through the official SDK, and the lines real traffic writes.

A CLB bound with SetLoadBalancerClsLog has every request (HTTP) and connection (TCP, UDP) of its
listeners written as one JSON line into ``<data-dir>/logs/<logset>/<topic>.log``; unbinding
stops the lines. Refusals leave the log sets, topics and the CLB as they were.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
from tencentcloud.clb.v20180317 import models

from admin_support import admin, admin_client, export_text, import_state
from backends import first_bytes
from clb_support import (
    checked, create_clb_with_vip, create_listener, create_rules, listener_with_targets, refused, register,
    trusting_context, typed, upload, wait_for, write,
)
from conftest import sdk_client
from h3_support import DOMAIN as H3_DOMAIN, h3_request
from l7_support import assert_served_by_test_engine, connect, request, send

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

HTTP_PORT = 8090
TCP_PORT = 8091


def logset_and_topic(client, name: str = "clb-topic") -> tuple[str, str]:
    logset_id = checked(client, "CreateClsLogSet", {"LogsetName": "clb_logset"})["LogsetId"]
    topic_id = checked(client, "CreateTopic", {"TopicName": name, "PartitionCount": 3})["TopicId"]
    return logset_id, topic_id


def log_lines(server, logset_id: str, topic_id: str) -> list[dict]:
    path = Path(server.server.settings.data_dir) / "logs" / logset_id / f"{topic_id}.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def bind(client, lb_id: str, logset_id: str, topic_id: str) -> None:
    write(client, "SetLoadBalancerClsLog", {"LoadBalancerId": lb_id, "LogSetId": logset_id, "LogTopicId": topic_id})


def logged_listener(server, client, backend, protocol: str, port: int, domain: str,
                    **listener_fields) -> tuple[str, str, str, str]:
    """A CLB whose one listener has one rule (``domain`` at /) on ``backend``, bound to a new log set
    and topic: (its VIP, its id, the log set, the topic). On the HAProxy pass HAProxy serves it."""
    logset_id, topic_id = logset_and_topic(client)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, protocol, [port], **listener_fields)
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": domain, "Url": "/"}])
    register(client, lb_id, listener_id, [backend.port], location_id)
    bind(client, lb_id, logset_id, topic_id)
    assert_served_by_test_engine(server, listener_id)
    return vip, lb_id, logset_id, topic_id


def test_create_cls_log_set_typed_model_and_describe_cls_log_set_show_it(server, client):
    assert typed("DescribeClsLogSet", checked(client, "DescribeClsLogSet", {})).LogsetId == ""
    created = client.CreateClsLogSet(models.CreateClsLogSetRequest())
    health = checked(client, "CreateClsLogSet", {"LogsetName": "clb_health", "LogsetType": "HEALTH"})["LogsetId"]
    described = client.DescribeClsLogSet(models.DescribeClsLogSetRequest())
    assert (described.LogsetId, described.HealthLogsetId) == (created.LogsetId, health)


def test_create_cls_log_set_second_of_a_type_limit_exceeded_nothing_changes(server, client):
    checked(client, "CreateClsLogSet", {})
    before = checked(client, "DescribeClsLogSet", {})
    refused(client, "CreateClsLogSet", {"LogsetName": "another"}, "LimitExceeded")
    refused(client, "CreateClsLogSet", {"LogsetType": "AUDIT"}, "InvalidParameterValue")
    after = checked(client, "DescribeClsLogSet", {})
    assert (after["LogsetId"], after["HealthLogsetId"]) == (before["LogsetId"], before["HealthLogsetId"])


def test_create_topic_typed_model_and_refusals(server, client):
    refused(client, "CreateTopic", {"TopicName": "orphan"}, "FailedOperation")
    checked(client, "CreateClsLogSet", {})
    request_model = models.CreateTopicRequest()
    request_model.TopicName = "clb-topic"
    assert client.CreateTopic(request_model).TopicId
    refused(client, "CreateTopic", {"TopicName": "clb-topic"}, "InvalidParameterValue.Duplicate")
    refused(client, "CreateTopic", {"TopicName": "more", "PartitionCount": 11}, "InvalidParameterValue.Range")
    refused(client, "CreateTopic", {"TopicName": "cold", "StorageType": "frozen"}, "InvalidParameterValue")
    refused(client, "CreateTopic", {"TopicName": "health", "TopicType": "HEALTH"}, "FailedOperation")


def test_set_load_balancer_cls_log_http_requests_written_with_clb_fields(server, client, http_backends):
    backend = http_backends.start("logged")
    logset_id, topic_id = logset_and_topic(client)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [HTTP_PORT])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "www.logged.test", "Url": "/shop"}])
    register(client, lb_id, listener_id, [backend.port], location_id)
    request_model = models.SetLoadBalancerClsLogRequest()
    request_model.LoadBalancerId, request_model.LogSetId, request_model.LogTopicId = lb_id, logset_id, topic_id
    client.SetLoadBalancerClsLog(request_model)
    wait_for(lambda: checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})
             ["LoadBalancerSet"][0]["LogTopicId"] == topic_id, 5)

    assert_served_by_test_engine(server, listener_id)

    assert request(vip, HTTP_PORT, "/shop?item=1", host="www.logged.test",
                   headers={"User-Agent": "openclb-test", "Referer": "http://ref.test/"}).status == 200
    assert request(vip, HTTP_PORT, "/elsewhere", host="www.logged.test").status == 404
    hostile = 'x","status":1,"a":"\\\t\xe9'
    assert request(vip, HTTP_PORT, "/shop", host="www.logged.test", headers={"User-Agent": hostile}).status == 200
    wait_for(lambda: len(log_lines(server, logset_id, topic_id)) == 3, 5)
    served, unrouted, escaped = log_lines(server, logset_id, topic_id)
    assert served["request"] == "GET /shop?item=1 HTTP/1.1" and served["uri"] == "/shop"
    assert (served["status"], served["upstream_status"]) == (200, "200")
    assert (served["server_addr"], served["server_port"], served["protocol_type"]) == (vip, HTTP_PORT, "HTTP")
    assert served["remote_addr"] == "127.0.0.1" and served["remote_port"] > 0
    assert served["upstream_addr"] == f"127.0.0.1:{backend.port}"
    assert (served["http_host"], served["http_user_agent"], served["http_referer"]) == (
        "www.logged.test", "openclb-test", "http://ref.test/")
    assert served["server_name"] == "www.logged.test"
    assert served["request_length"] > 0 and served["bytes_sent"] > 0 and served["request_time"] >= 0
    assert time.strptime(served["time_local"], "%d/%b/%Y:%H:%M:%S %z")
    assert (unrouted["status"], unrouted["upstream_status"], unrouted["upstream_addr"]) == (404, "-", "-")
    assert unrouted["upstream_response_time"] == "-" and unrouted["server_name"] == ""
    assert (escaped["http_user_agent"], escaped["status"], escaped["http_referer"]) == (hostile, 200, "")


def test_set_load_balancer_cls_log_empty_ids_http_unbound_lines_stop(server, client, http_backends):
    backend = http_backends.start("http-unbound")
    vip, lb_id, logset_id, topic_id = logged_listener(server, client, backend, "HTTP", HTTP_PORT + 2,
                                                      "www.unbound.test")
    assert request(vip, HTTP_PORT + 2, "/", host="www.unbound.test").status == 200
    (line,) = wait_and_read(server, logset_id, topic_id, 1)
    assert (line["protocol_type"], line["server_port"], line["connection_requests"]) == ("HTTP", HTTP_PORT + 2, 1)

    bind(client, lb_id, "", "")
    assert request(vip, HTTP_PORT + 2, "/", host="www.unbound.test").status == 200
    time.sleep(0.6)
    assert len(log_lines(server, logset_id, topic_id)) == 1


def test_set_load_balancer_cls_log_empty_ids_unbind_and_lines_stop(server, client, named_backends):
    backend = named_backends("tcp-logged")
    logset_id, topic_id = logset_and_topic(client)
    lb_id, vip, _ = listener_with_targets(client, "TCP", TCP_PORT, [{"EniIp": "127.0.0.1", "Port": backend.port}])
    bind(client, lb_id, logset_id, topic_id)
    assert first_bytes(vip, TCP_PORT) == b"tcp-logged"
    (line,) = wait_and_read(server, logset_id, topic_id, 1)
    assert (line["protocol_type"], line["server_addr"], line["server_port"]) == ("TCP", vip, TCP_PORT)
    assert line["upstream_addr"] == f"127.0.0.1:{backend.port}" and line["bytes_sent"] >= len(b"tcp-logged")

    bind(client, lb_id, "", "")
    described = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]
    assert (described["LogSetId"], described["LogTopicId"]) == ("", "")
    assert first_bytes(vip, TCP_PORT) == b"tcp-logged"
    time.sleep(0.6)
    assert len(log_lines(server, logset_id, topic_id)) == 1


def test_set_load_balancer_cls_log_udp_flow_written_when_it_ends(server, client):
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    logset_id, topic_id = logset_and_topic(client)
    lb_id, vip, listener_id = listener_with_targets(
        client, "UDP", TCP_PORT, [{"EniIp": "127.0.0.1", "Port": echo.getsockname()[1]}])
    bind(client, lb_id, logset_id, topic_id)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"ping", (vip, TCP_PORT))
        data, peer = echo.recvfrom(64)
        echo.sendto(b"pong!", peer)
        udp.settimeout(2)
        assert udp.recv(64) == b"pong!"
        write(client, "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id})
    echo.close()
    (line,) = wait_and_read(server, logset_id, topic_id, 1)
    assert (line["protocol_type"], line["request_length"], line["bytes_sent"]) == ("UDP", 4, 5)


def test_set_load_balancer_cls_log_refusals_change_nothing(server, client):
    logset_id, topic_id = logset_and_topic(client)
    lb_id, _ = create_clb_with_vip(client)
    refused(client, "SetLoadBalancerClsLog", {"LoadBalancerId": "lb-00000000", "LogSetId": logset_id,
                                              "LogTopicId": topic_id}, "InvalidParameter.LBIdNotFound", lb_id=lb_id)
    refused(client, "SetLoadBalancerClsLog", {"LoadBalancerId": lb_id, "LogSetId": logset_id, "LogTopicId": ""},
            "InvalidParameter")
    refused(client, "SetLoadBalancerClsLog", {"LoadBalancerId": lb_id, "LogSetId": logset_id,
                                              "LogTopicId": "f43636fe-06fc-417b-9349-da4bc8a03745"},
            "InvalidParameterValue")
    refused(client, "SetLoadBalancerClsLog", {"LoadBalancerId": lb_id, "LogSetId": logset_id,
                                              "LogTopicId": topic_id, "LogType": "HEALTH"}, "InvalidParameterValue")


def test_reset_state_clears_log_sets_and_import_brings_them_back(server, client):
    admin_api = admin_client(server.url)
    logset_id, topic_id = logset_and_topic(client)
    text = export_text(admin_api)
    assert {o["Id"] for o in json.loads(text)["AccountObjects"]} == {logset_id, topic_id}
    admin(admin_api, "ResetState")
    assert checked(client, "DescribeClsLogSet", {})["LogsetId"] == ""
    import_state(admin_api, client, text)
    assert checked(client, "DescribeClsLogSet", {})["LogsetId"] == logset_id


def wait_and_read(server, logset_id: str, topic_id: str, count: int) -> list[dict]:
    wait_for(lambda: len(log_lines(server, logset_id, topic_id)) >= count, 5)
    return log_lines(server, logset_id, topic_id)


def test_set_load_balancer_cls_log_https_request_line_carries_tls_version_and_sni(server, client, http_backends):
    backend = http_backends.start("tls-logged")
    vip, _, logset_id, topic_id = logged_listener(server, client, backend, "HTTPS", HTTP_PORT + 10,
                                                  "rsa.example.com", Certificate=upload("rsa"))
    reply = request(vip, HTTP_PORT + 10, "/", host="rsa.example.com", tls=trusting_context(),
                    server_name="rsa.example.com")
    assert reply.status == 200
    (line,) = wait_and_read(server, logset_id, topic_id, 1)
    assert line["protocol_type"] == "HTTPS" and line["ssl_protocol"].startswith("TLSv1")
    assert line["ssl_server_name"] == "rsa.example.com" and line["ssl_cipher"]


def test_create_load_balancer_access_log_topic_id_starts_bound_and_unknown_refused(server, client, named_backends):
    backend = named_backends("born-logged")
    logset_id, topic_id = logset_and_topic(client)
    lb_id, vip = create_clb_with_vip(client, AccessLogTopicId=topic_id)
    described = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]
    assert (described["LogSetId"], described["LogTopicId"]) == (logset_id, topic_id)
    (listener_id,) = create_listener(client, lb_id, "TCP", [TCP_PORT + 1], HealthCheck={"HealthSwitch": 0})
    write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                      "Targets": [{"EniIp": "127.0.0.1", "Port": backend.port}]})
    assert first_bytes(vip, TCP_PORT + 1) == b"born-logged"
    assert wait_and_read(server, logset_id, topic_id, 1)[0]["server_port"] == TCP_PORT + 1
    refused(client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "AccessLogTopicId": "no-such-topic"},
            "InvalidParameterValue", lb_id=lb_id)


def test_set_load_balancer_cls_log_haproxy_and_embedded_lines_agree_field_by_field(server, client, http_backends):
    """The same request to a listener HAProxy serves and to one the embedded engine keeps
    (H2cSwitch) writes the same fields with the same values, but for the listener's own
    port, the client's port and the times taken."""
    backend = http_backends.start("both-engines")
    logset_id, topic_id = logset_and_topic(client)
    lb_id, vip = create_clb_with_vip(client)
    ports = {"haproxy": HTTP_PORT + 3, "embedded": HTTP_PORT + 4}
    dead_port = closed_port()
    for engine, port in ports.items():
        (listener_id,) = create_listener(client, lb_id, "HTTP", [port], H2cSwitch=engine == "embedded")
        location_id, dead_id = create_rules(client, lb_id, listener_id, [{"Domain": "www.both.test", "Url": "/a"},
                                                                          {"Domain": "www.both.test", "Url": "/dead"}])
        register(client, lb_id, listener_id, [backend.port], location_id)
        register(client, lb_id, listener_id, [dead_port], dead_id)
        if engine == "haproxy":
            assert_served_by_test_engine(server, listener_id)
    bind(client, lb_id, logset_id, topic_id)
    headers = {"User-Agent": 'agent "\\\xe9', "Referer": "http://ref.test/?a=1"}
    for port in ports.values():
        assert request(vip, port, "/a%20b/c?d=\"e\"", host="www.both.test", headers=headers).status == 200
        assert request(vip, port, "/elsewhere", host="www.both.test").status == 404
        assert request(vip, port, "/a/post", host="www.both.test", method="POST", body=b"x" * 300).status == 200
        assert request(vip, port, "/dead", host="www.both.test").status == 502
    lines = wait_and_read(server, logset_id, topic_id, 8)
    by_port = {port: [line for line in lines if line["server_port"] == port] for port in ports.values()}
    own = {"server_port", "remote_port", "request_time", "upstream_response_time", "time_local", "bytes_sent"}
    for haproxy_line, embedded_line in zip(by_port[ports["haproxy"]], by_port[ports["embedded"]], strict=True):
        assert set(haproxy_line) == set(embedded_line)
        assert {k: v for k, v in haproxy_line.items() if k not in own} == {
            k: v for k, v in embedded_line.items() if k not in own}
        assert {k: type(v) for k, v in haproxy_line.items()} == {k: type(v) for k, v in embedded_line.items()}


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_set_load_balancer_cls_log_http2_and_http3_requests_written_as_http11_lines(server, client, http_backends):
    """Streams are requests too: an h2c request, an HTTP/3 one and a local 404 over HTTP/2 each
    write the HTTP/1.1 line's fields, with their protocol version."""
    backend = http_backends.start("streams-logged")
    logset_id, topic_id = logset_and_topic(client)
    lb_id, vip = create_clb_with_vip(client)
    (h2c_id,) = create_listener(client, lb_id, "HTTP", [HTTP_PORT + 20], H2cSwitch=True)
    (quic_id,) = create_listener(client, lb_id, "HTTPS", [HTTP_PORT + 21], Certificate=upload("rsa"))
    for listener_id, rule in ((h2c_id, {"Domain": "h2.logged.test", "Url": "/h2"}),
                              (quic_id, {"Domain": H3_DOMAIN, "Url": "/", "Quic": True})):
        (location_id,) = create_rules(client, lb_id, listener_id, [rule])
        register(client, lb_id, listener_id, [backend.port], location_id)
    bind(client, lb_id, logset_id, topic_id)

    for path in ("/h2?x=1", "/nowhere"):
        subprocess.run(["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge", "-o", "/dev/null",
                        "-H", "Host: h2.logged.test", "-A", "openclb-h2", f"http://{vip}:{HTTP_PORT + 20}{path}"],
                       check=True, timeout=20)
    assert h3_request(vip, HTTP_PORT + 21, "/h3", headers=[(b"user-agent", b"openclb-h3")]).status == 200

    lines = {line["request"]: line for line in wait_and_read(server, logset_id, topic_id, 3)}
    h2 = lines["GET /h2?x=1 HTTP/2.0"]
    assert (h2["status"], h2["upstream_status"], h2["http_host"], h2["http_user_agent"]) == (
        200, "200", "h2.logged.test", "openclb-h2")
    assert (h2["server_port"], h2["upstream_addr"], h2["protocol_type"]) == (
        HTTP_PORT + 20, f"127.0.0.1:{backend.port}", "HTTP")
    assert lines["GET /nowhere HTTP/2.0"]["status"] == 404
    h3 = lines["GET /h3 HTTP/3.0"]
    assert (h3["status"], h3["protocol_type"], h3["ssl_protocol"], h3["ssl_server_name"]) == (
        200, "HTTPS", "TLSv1.3", H3_DOMAIN)
    assert h3["http_user_agent"] == "openclb-h3" and h3["bytes_sent"] > 0


def test_set_load_balancer_cls_log_haproxy_reload_midway_and_long_head_each_written_once(server_factory,
                                                                                          http_backends):
    """HAProxy's ring closes when a reload stops the old worker: a request that worker finishes
    still writes its line (by UDP), and so does a line too long for a ring frame (escaped client
    text past 16 KiB), once each; a long head that fits stays on the ring; a keep-alive
    connection's requests are counted."""
    server = server_factory(engine="haproxy")  # the ring and its UDP side path are the HAProxy engine's
    client = sdk_client(server.url)
    backend = http_backends.start("reloaded")
    vip, lb_id, logset_id, topic_id = logged_listener(server, client, backend, "HTTP", HTTP_PORT + 5,
                                                      "www.reload.test")
    kept = connect(vip, HTTP_PORT + 5)
    assert [send(kept, path, host="www.reload.test").status for path in ("/before", "/kept")] == [200, 200]
    kept.close()
    long_agent, huge_agent = "a" * 1500, "\xe9" * 2048
    assert request(vip, HTTP_PORT + 5, "/long", host="www.reload.test",
                   headers={"User-Agent": long_agent}).status == 200
    assert request(vip, HTTP_PORT + 5, "/huge", host="www.reload.test",
                   headers={"User-Agent": huge_agent, "Referer": huge_agent}).status == 200
    workers = haproxy_workers(server)
    midway = socket.create_connection((vip, HTTP_PORT + 5), timeout=5)
    midway.sendall(b"GET /midway HTTP/1.1\r\nHost: www.reload.test\r\n")
    (other_id,) = create_listener(client, lb_id, "HTTP", [HTTP_PORT + 6])
    assert_served_by_test_engine(server, other_id)
    wait_for(lambda: haproxy_workers(server) - workers, 10)
    midway.sendall(b"\r\n")
    assert midway.recv(65536).startswith(b"HTTP/1.1 200")
    midway.close()
    assert request(vip, HTTP_PORT + 5, "/after", host="www.reload.test").status == 200
    wait_and_read(server, logset_id, topic_id, 6)
    time.sleep(0.3)
    lines = log_lines(server, logset_id, topic_id)
    assert sorted(line["uri"] for line in lines) == ["/after", "/before", "/huge", "/kept", "/long", "/midway"]
    (huge_line,) = [line for line in lines if line["uri"] == "/huge"]
    assert huge_line["http_user_agent"] == huge_line["http_referer"] == huge_agent
    assert [line["connection_requests"] for line in lines if line["uri"] in ("/before", "/kept")] == [1, 2]
    (long_line,) = [line for line in lines if line["uri"] == "/long"]
    assert long_line["http_user_agent"] == long_agent and long_line["status"] == 200
    assert all(line["upstream_addr"] == f"127.0.0.1:{backend.port}" and line["request_time"] >= 0 for line in lines)


def haproxy_workers(server) -> set[int]:
    """The pids of the HAProxy master's workers (a reload forks a new one; the old one drains)."""
    pid_file = Path(server.server.settings.data_dir) / "haproxy" / "haproxy.pid"
    master = int(pid_file.read_text().split()[0])
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}
