"""CreateListener / ModifyListener / DeleteListener rules through the official Python SDK.

Every refusal is checked for its exact error code and for leaving DescribeListeners and
DescribeLoadBalancers unchanged (``clb_support.refused``); every accepted write must end with
DescribeTaskStatus Status 0 and read back exactly through DescribeListeners. Responses are
checked against the spec and parsed into the SDK's typed models (``clb_support.checked``).

The refusal tables share one server per module (a refusal changes nothing, and the snapshot
check proves it), which keeps this file fast; tests that change state get their own server.
"""

from __future__ import annotations

import json

import pytest
from tencentcloud.clb.v20180317 import models

from clb_support import checked, create_clb, create_listener, listener, listeners, refused, task_status, upload
from conftest import make_settings, sdk_client, start_server
from openclb.config import Quotas

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

TCP_PORT, UDP_PORT, RANGE = 7080, 7053, (8100, 8105)
FREE = 9001


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One CLB holding TCP:7080, UDP:7053 and TCP:8100-8105, for refusals only."""
    running = start_server(make_settings(tmp_path_factory.mktemp("rules")))
    client = sdk_client(running.url)
    lb_id = create_clb(client)
    create_listener(client, lb_id, "TCP", [TCP_PORT])
    create_listener(client, lb_id, "UDP", [UDP_PORT])
    create_listener(client, lb_id, "TCP", [RANGE[0]], EndPort=RANGE[1])
    yield client, lb_id
    running.stop()


CHECK_CUSTOM = {"CheckType": "CUSTOM", "ContextType": "TEXT", "SendContext": "ping", "RecvContext": "pong"}

CREATE_REFUSALS = [
    # Ports
    ("port-zero", "TCP", [0], {}, "InvalidParameterValue.Range"),
    ("port-65536", "TCP", [65536], {}, "InvalidParameterValue.Range"),
    ("one-bad-port-creates-none", "TCP", [FREE, 70000, FREE + 1], {}, "InvalidParameterValue.Range"),
    ("duplicate-port", "TCP", [FREE, FREE], {}, "InvalidParameterValue.Duplicate"),
    ("no-port", "TCP", [], {}, "InvalidParameterValue"),
    # Port spaces: TCP/TCP_SSL/HTTP/HTTPS share one, UDP/QUIC another; ranges take every port
    ("http-on-tcp-port", "HTTP", [TCP_PORT], {}, "InvalidParameter.PortCheckFailed"),
    ("https-on-tcp-port", "HTTPS", [TCP_PORT], {"SniSwitch": 1}, "InvalidParameter.PortCheckFailed"),
    ("tcp-ssl-on-tcp-port", "TCP_SSL", [TCP_PORT], {"Certificate": "cert"}, "InvalidParameter.PortCheckFailed"),
    ("tcp-on-tcp-port", "TCP", [TCP_PORT], {}, "InvalidParameter.PortCheckFailed"),
    ("free-and-taken-creates-none", "TCP", [FREE, TCP_PORT], {}, "InvalidParameter.PortCheckFailed"),
    ("udp-on-udp-port", "UDP", [UDP_PORT], {}, "InvalidParameter.PortCheckFailed"),
    ("quic-on-udp-port", "QUIC", [UDP_PORT], {}, "InvalidParameter.PortCheckFailed"),
    ("tcp-inside-range", "TCP", [RANGE[0] + 3], {}, "InvalidParameter.PortCheckFailed"),
    ("http-at-range-end", "HTTP", [RANGE[1]], {}, "InvalidParameter.PortCheckFailed"),
    ("range-overlapping-range", "TCP", [RANGE[0] - 3], {"EndPort": RANGE[0]}, "InvalidParameter.PortCheckFailed"),
    ("range-covering-listener", "TCP", [TCP_PORT - 2], {"EndPort": TCP_PORT + 2}, "InvalidParameter.PortCheckFailed"),
    ("udp-range-covering-udp", "UDP", [UDP_PORT - 1], {"EndPort": UDP_PORT + 1}, "InvalidParameter.PortCheckFailed"),
    # Protocol
    ("protocol-unknown", "SCTP", [FREE], {}, "InvalidParameterValue"),
    ("protocol-lower-case", "tcp", [FREE], {}, "InvalidParameterValue"),
    # ListenerNames
    ("names-fewer-than-ports", "TCP", [FREE, FREE + 1], {"ListenerNames": ["a"]}, "InvalidParameterValue"),
    ("names-more-than-ports", "TCP", [FREE], {"ListenerNames": ["a", "b"]}, "InvalidParameterValue"),
    ("name-81-chars", "TCP", [FREE], {"ListenerNames": ["n" * 81]}, "InvalidParameterValue.Length"),
    ("name-empty", "TCP", [FREE], {"ListenerNames": [""]}, "InvalidParameterValue.Length"),
    ("name-emoji", "TCP", [FREE], {"ListenerNames": ["web\U0001F600"]}, "InvalidParameterValue"),
    ("name-rare-cjk", "TCP", [FREE], {"ListenerNames": ["\U00020000"]}, "InvalidParameterValue"),
    ("name-control-char", "TCP", [FREE], {"ListenerNames": ["a\nb"]}, "InvalidParameterValue"),
    # SessionExpireTime
    ("session-29", "TCP", [FREE], {"SessionExpireTime": 29}, "InvalidParameterValue.Range"),
    ("session-3601", "UDP", [FREE], {"SessionExpireTime": 3601}, "InvalidParameterValue.Range"),
    ("session-on-http", "HTTP", [FREE], {"SessionExpireTime": 60}, "InvalidParameterValue"),
    ("session-on-quic", "QUIC", [FREE], {"SessionExpireTime": 60}, "InvalidParameterValue"),
    # Scheduler
    ("scheduler-ip-hash-on-create", "TCP", [FREE], {"Scheduler": "IP_HASH"}, "InvalidParameterValue"),
    ("scheduler-unknown", "TCP", [FREE], {"Scheduler": "RANDOM"}, "InvalidParameterValue"),
    ("scheduler-on-http", "HTTP", [FREE], {"Scheduler": "WRR"}, "InvalidParameterValue"),
    # SniSwitch
    ("sni-on-tcp", "TCP", [FREE], {"SniSwitch": 1}, "InvalidParameterValue"),
    ("sni-on-http", "HTTP", [FREE], {"SniSwitch": 0}, "InvalidParameterValue"),
    ("sni-2", "HTTPS", [FREE], {"SniSwitch": 2}, "InvalidParameterValue.Range"),
    # TargetType
    ("target-type-unknown", "TCP", [FREE], {"TargetType": "POLARIS"}, "InvalidParameterValue"),
    # SessionType
    ("session-type-unknown", "UDP", [FREE], {"SessionType": "STICKY"}, "InvalidParameterValue"),
    ("quic-cid-on-tcp", "TCP", [FREE], {"SessionType": "QUIC_CID"}, "InvalidParameterValue"),
    ("quic-cid-on-quic", "QUIC", [FREE], {"SessionType": "QUIC_CID"}, "InvalidParameterValue"),
    ("quic-cid-least-conn", "UDP", [FREE], {"SessionType": "QUIC_CID", "Scheduler": "LEAST_CONN"},
     "InvalidParameterValue"),
    # KeepaliveEnable
    ("keepalive-on-tcp", "TCP", [FREE], {"KeepaliveEnable": 1}, "InvalidParameterValue"),
    ("keepalive-2", "HTTP", [FREE], {"KeepaliveEnable": 2}, "InvalidParameterValue.Range"),
    # EndPort / FullEndPorts
    ("end-port-two-ports", "TCP", [FREE, FREE + 1], {"EndPort": FREE + 5}, "InvalidParameterValue"),
    ("end-port-equal", "TCP", [FREE], {"EndPort": FREE}, "InvalidParameterValue"),
    ("end-port-below", "TCP", [FREE], {"EndPort": FREE - 1}, "InvalidParameterValue"),
    ("end-port-65536", "TCP", [65530], {"EndPort": 65536}, "InvalidParameterValue.Range"),
    ("end-port-on-http", "HTTP", [FREE], {"EndPort": FREE + 2}, "InvalidParameterValue"),
    ("full-end-ports-two", "TCP", [FREE], {"FullEndPorts": [FREE + 2, FREE + 3]}, "InvalidParameterValue"),
    ("full-end-ports-and-end-port", "TCP", [FREE], {"FullEndPorts": [FREE + 2], "EndPort": FREE + 2},
     "InvalidParameterCombination"),
    ("full-end-ports-below-start", "TCP", [FREE], {"FullEndPorts": [FREE - 1]}, "InvalidParameterValue"),
    # Per-protocol switches
    ("deregister-rst-on-http", "HTTP", [FREE], {"DeregisterTargetRst": True}, "InvalidParameterValue"),
    ("deregister-rst-on-quic", "QUIC", [FREE], {"DeregisterTargetRst": True}, "InvalidParameterValue"),
    ("max-conn-zero", "TCP", [FREE], {"MaxConn": 0}, "InvalidParameterValue.Range"),
    ("max-cps-minus-2", "TCP", [FREE], {"MaxCps": -2}, "InvalidParameterValue.Range"),
    ("max-conn-on-http", "HTTP", [FREE], {"MaxConn": 100}, "InvalidParameterValue"),
    ("idle-9", "TCP", [FREE], {"IdleConnectTimeout": 9}, "InvalidParameterValue.Range"),
    ("idle-1981", "UDP", [FREE], {"IdleConnectTimeout": 1981}, "InvalidParameterValue.Range"),
    ("idle-on-http", "HTTP", [FREE], {"IdleConnectTimeout": 60}, "InvalidParameterValue"),
    ("idle-on-quic", "QUIC", [FREE], {"IdleConnectTimeout": 60}, "InvalidParameterValue"),
    ("proxy-protocol-on-udp", "UDP", [FREE], {"ProxyProtocol": True}, "InvalidParameterValue"),
    ("proxy-protocol-on-http", "HTTP", [FREE], {"ProxyProtocol": True}, "InvalidParameterValue"),
    ("h2c-on-https", "HTTPS", [FREE], {"H2cSwitch": True, "SniSwitch": 1}, "InvalidParameterValue"),
    ("ssl-close-on-tcp", "TCP", [FREE], {"SslCloseSwitch": True}, "InvalidParameterValue"),
    ("compress-unknown", "TCP", [FREE], {"DataCompressMode": "gzip"}, "InvalidParameterValue"),
    ("reschedule-on-tcp-ssl", "TCP_SSL", [FREE], {"RescheduleUnhealthy": True, "Certificate": "cert"},
     "InvalidParameterValue"),
    ("reschedule-on-http", "HTTP", [FREE], {"RescheduleTargetZeroWeight": True}, "InvalidParameterValue"),
    ("reschedule-start-3601", "TCP", [FREE], {"RescheduleStartTime": 3601}, "InvalidParameterValue.Range"),
    ("reschedule-interval-minus", "UDP", [FREE], {"RescheduleInterval": -1}, "InvalidParameterValue.Range"),
]


@pytest.mark.parametrize(
    "protocol, ports, extra, code", [case[1:] for case in CREATE_REFUSALS], ids=[case[0] for case in CREATE_REFUSALS]
)
def test_create_listener_invalid_field_refused_and_nothing_created(shared, protocol, ports, extra, code):
    client, lb_id = shared
    if extra.get("Certificate") == "cert":
        extra = {**extra, "Certificate": upload()}
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": protocol, "Ports": ports, **extra}, code)


HEALTH_REFUSALS = [
    ("timeout-1", "TCP", {"TimeOut": 1}, "InvalidParameterValue.Range"),
    ("timeout-61", "TCP", {"TimeOut": 61, "IntervalTime": 100}, "InvalidParameterValue.Range"),
    ("timeout-equals-interval", "TCP", {"TimeOut": 10, "IntervalTime": 10}, "InvalidParameterValue"),
    ("timeout-above-default-interval", "TCP", {"TimeOut": 6}, "InvalidParameterValue"),
    ("interval-1", "TCP", {"IntervalTime": 1}, "InvalidParameterValue.Range"),
    ("interval-301", "TCP", {"IntervalTime": 301}, "InvalidParameterValue.Range"),
    ("health-num-1", "TCP", {"HealthNum": 1}, "InvalidParameterValue.Range"),
    ("health-num-11", "UDP", {"HealthNum": 11}, "InvalidParameterValue.Range"),
    ("unhealth-num-1", "TCP", {"UnHealthNum": 1}, "InvalidParameterValue.Range"),
    ("unhealth-num-11", "UDP", {"UnHealthNum": 11}, "InvalidParameterValue.Range"),
    ("http-code-0", "TCP", {"HttpCode": 0}, "InvalidParameterValue.Range"),
    ("http-code-32", "TCP", {"HttpCode": 32}, "InvalidParameterValue.Range"),
    ("health-switch-2", "TCP", {"HealthSwitch": 2}, "InvalidParameterValue.Range"),
    ("check-port-0", "TCP", {"CheckPort": 0}, "InvalidParameterValue.Range"),
    ("check-port-65536", "UDP", {"CheckPort": 65536}, "InvalidParameterValue.Range"),
    ("source-ip-type-2", "TCP", {"SourceIpType": 2}, "InvalidParameterValue.Range"),
    ("check-type-ping-on-tcp", "TCP", {"CheckType": "PING"}, "InvalidParameterValue"),
    ("check-type-tcp-on-udp", "UDP", {"CheckType": "TCP"}, "InvalidParameterValue"),
    ("check-type-custom-on-quic", "QUIC", CHECK_CUSTOM, "InvalidParameterValue"),
    ("check-type-ping-on-quic", "QUIC", {"CheckType": "PING"}, "InvalidParameterValue"),
    ("check-type-grpc-on-tcp", "TCP", {"CheckType": "GRPC"}, "InvalidParameterValue"),
    ("http-check-without-domain", "TCP", {"CheckType": "HTTP", "HttpVersion": "HTTP/1.1"}, "MissingParameter"),
    ("http-check-without-version", "TCP", {"CheckType": "HTTP", "HttpCheckDomain": "a.example"}, "MissingParameter"),
    ("http-method-post", "TCP", {"HttpCheckMethod": "POST"}, "InvalidParameterValue"),
    ("http-version-2", "TCP", {"HttpVersion": "HTTP/2"}, "InvalidParameterValue"),
    ("custom-without-context-type", "TCP", {**CHECK_CUSTOM, "ContextType": None}, "MissingParameter"),
    ("custom-without-send", "UDP", {**CHECK_CUSTOM, "SendContext": None}, "MissingParameter"),
    ("custom-without-recv", "TCP", {**CHECK_CUSTOM, "RecvContext": None}, "MissingParameter"),
    ("custom-context-type-bin", "TCP", {**CHECK_CUSTOM, "ContextType": "BIN"}, "InvalidParameterValue"),
    ("custom-hex-odd-length", "TCP", {**CHECK_CUSTOM, "ContextType": "HEX", "SendContext": "ABC",
                                      "RecvContext": "00"}, "InvalidParameterValue"),
    ("custom-hex-not-hex", "UDP", {**CHECK_CUSTOM, "ContextType": "HEX", "SendContext": "0G",
                                   "RecvContext": "00"}, "InvalidParameterValue"),
    ("custom-send-501", "TCP", {**CHECK_CUSTOM, "SendContext": "x" * 501}, "InvalidParameterValue"),
    ("custom-recv-non-ascii", "TCP", {**CHECK_CUSTOM, "RecvContext": "p\u00f6ng"}, "InvalidParameterValue"),
    ("health-check-on-http", "HTTP", {"HealthSwitch": 1}, "InvalidParameterValue"),
]


@pytest.mark.parametrize(
    "protocol, health, code", [case[1:] for case in HEALTH_REFUSALS], ids=[case[0] for case in HEALTH_REFUSALS]
)
def test_create_listener_invalid_health_check_refused_and_nothing_created(shared, protocol, health, code):
    client, lb_id = shared
    health = {k: v for k, v in health.items() if v is not None}
    params = {"LoadBalancerId": lb_id, "Protocol": protocol, "Ports": [FREE], "HealthCheck": health}
    refused(client, "CreateListener", params, code)


def test_create_listener_refusal_names_the_field(shared):
    client, lb_id = shared
    message = refused(
        client, "CreateListener",
        {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [FREE], "HealthCheck": {"IntervalTime": 301}},
        "InvalidParameterValue.Range",
    )
    assert "HealthCheck.IntervalTime" in message


# Port spaces ---------------------------------------------------------------------------


@pytest.mark.parametrize("first, second", [("TCP", "UDP"), ("HTTP", "QUIC"), ("UDP", "HTTPS")])
def test_create_listener_same_port_other_port_space_both_created(any_store_server, first, second):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    extra = {"SniSwitch": 1} if second == "HTTPS" else {}
    ids = create_listener(client, lb_id, first, [7443]) + create_listener(client, lb_id, second, [7443], **extra)
    found = {(l["Protocol"], l["Port"]) for l in listeners(client, lb_id)}
    assert found == {(first, 7443), (second, 7443)}
    assert {l["ListenerId"] for l in listeners(client, lb_id)} == set(ids)


def test_create_listener_port_taken_in_one_class_refused_atomically(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    create_listener(client, lb_id, "TCP", [7080])
    create_listener(client, lb_id, "QUIC", [7443])
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "HTTP", "Ports": [7081, 7080]},
            "InvalidParameter.PortCheckFailed")
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "UDP", "Ports": [7443]},
            "InvalidParameter.PortCheckFailed")
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [7081, 7081]},
            "InvalidParameterValue.Duplicate")
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [7082, 0]},
            "InvalidParameterValue.Range")
    assert sorted(l["Port"] for l in listeners(client, lb_id)) == [7080, 7443]


def test_create_listener_port_range_takes_every_port_of_its_class(server, client):
    lb_id = create_clb(client)
    (range_id,) = create_listener(client, lb_id, "TCP", [8200], EndPort=8204, ListenerNames=["range"])
    described = listener(client, lb_id, range_id)
    assert (described["Port"], described["EndPort"], described["ListenerName"]) == (8200, 8204, "range")
    for port in (8200, 8202, 8204):
        refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "HTTP", "Ports": [port]},
                "InvalidParameter.PortCheckFailed")
    create_listener(client, lb_id, "UDP", [8202])
    create_listener(client, lb_id, "TCP", [8205])
    (full_id,) = create_listener(client, lb_id, "UDP", [8300], FullEndPorts=[8303])
    assert listener(client, lb_id, full_id)["EndPort"] == 8303
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "QUIC", "Ports": [8303]},
            "InvalidParameter.PortCheckFailed")


def test_create_listener_every_protocol_created_with_documented_defaults(server, client):
    lb_id = create_clb(client)
    cert = upload()
    ids = {
        "TCP": create_listener(client, lb_id, "TCP", [7001])[0],
        "UDP": create_listener(client, lb_id, "UDP", [7001])[0],
        "HTTP": create_listener(client, lb_id, "HTTP", [7002])[0],
        "HTTPS": create_listener(client, lb_id, "HTTPS", [7003], Certificate=cert)[0],
        "TCP_SSL": create_listener(client, lb_id, "TCP_SSL", [7004], Certificate=cert)[0],
        "QUIC": create_listener(client, lb_id, "QUIC", [7004])[0],
    }
    found = {l["Protocol"]: l for l in listeners(client, lb_id)}
    assert {p: l["ListenerId"] for p, l in found.items()} == ids
    checks = {p: (l["HealthCheck"] or {}).get("CheckType") for p, l in found.items()}
    assert checks == {"TCP": "TCP", "UDP": "PING", "TCP_SSL": "TCP", "QUIC": "TCP", "HTTP": None, "HTTPS": None}
    assert {p: l["IdleConnectTimeout"] for p, l in found.items() if p in ("TCP", "UDP")} == {"TCP": 900, "UDP": 300}
    for protocol in ("TCP", "UDP", "TCP_SSL", "QUIC"):
        health = found[protocol]["HealthCheck"]
        assert (health["HealthSwitch"], health["TimeOut"], health["IntervalTime"]) == (1, 2, 5)
        assert (health["HealthNum"], health["UnHealthNum"], found[protocol]["Scheduler"]) == (3, 3, "WRR")
    assert all(l["SniSwitch"] == 0 and l["EndPort"] == 0 and l["SessionType"] == "NORMAL" for l in found.values())
    assert found["HTTP"]["Rules"] == [] and found["TCP"]["Rules"] is None


def test_create_listener_names_at_limits_accepted(server, client):
    lb_id = create_clb(client)
    names = ["n" * 80, "x", "监听器-web_1 (prod)"]
    ids = create_listener(client, lb_id, "TCP", [7101, 7102, 7103], ListenerNames=names)
    assert [listener(client, lb_id, i)["ListenerName"] for i in ids] == names


# Accepted fields read back exactly ---------------------------------------------------------


TCP_FIELDS = {
    "ListenerNames": ["tcp-all"],
    "HealthCheck": {
        "HealthSwitch": 1, "TimeOut": 3, "IntervalTime": 10, "HealthNum": 4, "UnHealthNum": 5, "HttpCode": 6,
        "HttpCheckPath": "/healthz", "HttpCheckDomain": "app.example.com", "HttpCheckMethod": "GET",
        "CheckPort": 8080, "CheckType": "HTTP", "HttpVersion": "HTTP/1.1", "SourceIpType": 1,
    },
    "SessionExpireTime": 600, "Scheduler": "WRR", "TargetType": "TARGETGROUP", "SessionType": "NORMAL",
    "DeregisterTargetRst": True, "MaxConn": 1000, "MaxCps": 200, "IdleConnectTimeout": 120, "SnatEnable": True,
    "DataCompressMode": "compatibility", "RescheduleTargetZeroWeight": True, "RescheduleUnhealthy": True,
    "RescheduleExpandTarget": True, "RescheduleStartTime": 10, "RescheduleInterval": 30,
}
UDP_FIELDS = {
    "ListenerNames": ["udp-all"],
    "HealthCheck": {
        "HealthSwitch": 1, "TimeOut": 2, "IntervalTime": 3, "HealthNum": 2, "UnHealthNum": 10, "CheckPort": -1,
        "CheckType": "CUSTOM", "ContextType": "HEX", "SendContext": "0A1B", "RecvContext": "FF00",
    },
    "SessionExpireTime": 30, "Scheduler": "WRR", "TargetType": "NODE", "SessionType": "QUIC_CID",
    "DeregisterTargetRst": False, "MaxConn": -1, "MaxCps": 50, "IdleConnectTimeout": 1980,
    "RescheduleUnhealthy": True, "RescheduleStartTime": 0, "RescheduleInterval": 3600,
}
_FLAGS = ("SnatEnable", "RescheduleTargetZeroWeight", "RescheduleUnhealthy", "RescheduleExpandTarget")


def _expected(protocol: str, port: int, fields: dict) -> dict:
    expected = {k: v for k, v in fields.items() if k not in _FLAGS + ("ListenerNames", "HealthCheck")}
    expected.update(Protocol=protocol, Port=port, EndPort=0, ListenerName=fields["ListenerNames"][0])
    expected["AttrFlags"] = sorted(flag for flag in _FLAGS if fields.get(flag))
    return expected


def test_create_listener_every_accepted_field_reads_back_exactly(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    request = models.CreateListenerRequest()
    request.from_json_string(json.dumps({"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [7200], **TCP_FIELDS}))
    response = client.CreateListener(request)
    assert task_status(client, response.RequestId) == 0
    (udp_id,) = create_listener(client, lb_id, "UDP", [7200], **UDP_FIELDS)

    for listener_id, protocol, fields in ((response.ListenerIds[0], "TCP", TCP_FIELDS), (udp_id, "UDP", UDP_FIELDS)):
        found = listener(client, lb_id, listener_id)
        read_back = {k: found[k] for k in _expected(protocol, 7200, fields)}
        read_back["AttrFlags"] = sorted(read_back["AttrFlags"])
        assert read_back == _expected(protocol, 7200, fields)
        assert {k: found["HealthCheck"][k] for k in fields["HealthCheck"]} == fields["HealthCheck"]

    typed_request = models.DescribeListenersRequest()
    typed_request.LoadBalancerId = lb_id
    typed_request.ListenerIds = [udp_id]
    (typed_udp,) = client.DescribeListeners(typed_request).Listeners
    assert (typed_udp.SessionType, typed_udp.IdleConnectTimeout, typed_udp.HealthCheck.SendContext) == (
        "QUIC_CID", 1980, "0A1B"
    )


def test_create_listener_protocol_specific_switches_accepted(server, client):
    lb_id = create_clb(client)
    cert = upload()
    (http_id,) = create_listener(client, lb_id, "HTTP", [7301], KeepaliveEnable=1, H2cSwitch=True, SnatEnable=True)
    (ssl_id,) = create_listener(client, lb_id, "TCP_SSL", [7302], Certificate=cert, ProxyProtocol=True,
                                SslCloseSwitch=True, MaxConn=10, Scheduler="LEAST_CONN")
    (quic_id,) = create_listener(client, lb_id, "QUIC", [7302], ProxyProtocol=True, HealthCheck={"CheckType": "TCP"})
    (https_id,) = create_listener(client, lb_id, "HTTPS", [7303], SniSwitch=1, KeepaliveEnable=0)
    http = listener(client, lb_id, http_id)
    assert http["KeepaliveEnable"] == 1 and set(http["AttrFlags"]) == {"H2cSwitch", "SnatEnable"}
    ssl = listener(client, lb_id, ssl_id)
    assert set(ssl["AttrFlags"]) == {"ProxyProtocol", "SslCloseSwitch"}
    assert (ssl["MaxConn"], ssl["Scheduler"]) == (10, "LEAST_CONN")
    assert listener(client, lb_id, quic_id)["AttrFlags"] == ["ProxyProtocol"]
    https = listener(client, lb_id, https_id)
    assert (https["SniSwitch"], https["Certificate"]) == (1, None)


# Quotas and missing resources --------------------------------------------------------------


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_create_listener_beyond_quota_refused_limit_exceeded(server_factory, store):
    running = server_factory(store, quotas=Quotas(listeners_per_clb=3))
    client = sdk_client(running.url)
    lb_id = create_clb(client)
    create_listener(client, lb_id, "TCP", [7401, 7402])
    message = refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "UDP", "Ports": [7403, 7404]},
                      "LimitExceeded")
    assert "3" in message
    create_listener(client, lb_id, "UDP", [7403])
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "UDP", "Ports": [7404]}, "LimitExceeded")
    quotas = {q["QuotaId"]: q for q in checked(client, "DescribeQuota", {})["QuotaSet"]}
    assert quotas["TOTAL_LISTENER_QUOTA"] == {"QuotaId": "TOTAL_LISTENER_QUOTA", "QuotaCurrent": None, "QuotaLimit": 3}
    assert quotas["TOTAL_OPEN_CLB_QUOTA"]["QuotaCurrent"] == 1


def test_describe_quota_default_values(server, client):
    quotas = {q["QuotaId"]: (q["QuotaCurrent"], q["QuotaLimit"]) for q in checked(client, "DescribeQuota", {})["QuotaSet"]}
    assert quotas["TOTAL_LISTENER_QUOTA"] == (None, 50)
    assert quotas["TOTAL_LISTENER_RULE_QUOTA"] == (None, 50)
    assert quotas["TOTAL_OPEN_CLB_QUOTA"] == (0, 100) and quotas["TOTAL_INTERNAL_CLB_QUOTA"] == (0, 100)
    assert quotas["TOTAL_FULL_PORT_RANGE_LISTENER_QUOTA"] == (None, 1)


@pytest.mark.parametrize("action, params", [
    ("CreateListener", {"Protocol": "TCP", "Ports": [7501]}),
    ("DescribeListeners", {}),
    ("ModifyListener", {"ListenerId": "lbl-00000000", "ListenerName": "x"}),
    ("DeleteListener", {"ListenerId": "lbl-00000000"}),
    ("DeleteLoadBalancerListeners", {}),
])
def test_listener_action_unknown_clb_refused_lb_id_not_found(shared, action, params):
    client, _ = shared
    message = refused(client, action, {"LoadBalancerId": "lb-00000000", **params}, "InvalidParameter.LBIdNotFound",
                      lb_id=shared[1])
    assert "LoadBalancer not exist" in message


def test_describe_listeners_unknown_listener_ids_return_empty(shared):
    client, lb_id = shared
    response = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id, "ListenerIds": ["lbl-00000000"]})
    assert (response["Listeners"], response["TotalCount"]) == ([], 0)
    by_port = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id, "Protocol": "UDP", "Port": UDP_PORT})
    assert [(l["Protocol"], l["Port"]) for l in by_port["Listeners"]] == [("UDP", UDP_PORT)]


@pytest.mark.parametrize("action, params", [
    ("DeleteListener", {"ListenerId": "lbl-00000000"}),
    ("ModifyListener", {"ListenerId": "lbl-00000000", "ListenerName": "x"}),
    ("DeleteLoadBalancerListeners", {"ListenerIds": ["lbl-00000000"]}),
])
def test_listener_action_unknown_listener_refused_not_found(shared, action, params):
    client, lb_id = shared
    message = refused(client, action, {"LoadBalancerId": lb_id, **params}, "InvalidParameter")
    assert "not found" in message
