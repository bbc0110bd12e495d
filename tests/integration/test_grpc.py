"""gRPC through rules with ForwardType GRPC (h2c listener) and GRPCS (HTTPS listener, Http2 on):
grpcio clients and servers, unary and server-streaming calls, status and trailing metadata.

The target is a grpcio server with a generic handler (bytes in, bytes out: no generated code);
the listener must carry it over HTTP/2 to the target for trailers to arrive at all.
"""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from clb_support import (
    FAST_CHECK, create_clb_with_vip, create_listener, create_rules, make_pki, refused, register, target_health, upload,
    wait_for, write,
)
from h2_support import DOMAIN
from l7_support import assert_served_by_test_engine

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

SAY = "/openclb.test.Echo/Say"
COUNT = "/openclb.test.Echo/Count"
PEER = "/openclb.test.Echo/Peer"


def _say(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"missing":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    peer_ip = dict(context.invocation_metadata()).get("x-real-ip", "")
    context.set_trailing_metadata((("x-served-by", "echo"),))
    return b"echo:" + request + b" from " + peer_ip.encode()


def _count(request: bytes, context: grpc.ServicerContext):
    for n in range(int(request)):
        yield b"%d" % n


@pytest.fixture
def grpc_target(request):
    """A grpcio server: (port) in cleartext, or with TLS when the test is parametrised 'tls'."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("openclb.test.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(_say),
        "Count": grpc.unary_stream_rpc_method_handler(_count),
        "Peer": grpc.unary_unary_rpc_method_handler(lambda _request, context: context.peer().encode()),
    }),))
    if getattr(request, "param", "") == "tls":
        pki = make_pki()
        credentials = grpc.ssl_server_credentials([(pki.rsa.key.encode(), pki.rsa.cert.encode())])
        port = server.add_secure_port("127.0.0.1:0", credentials)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(0)


def _exercise(channel: grpc.Channel) -> None:
    reply, call = channel.unary_unary(SAY).with_call(b"hi", timeout=5)
    assert reply.startswith(b"echo:hi from 127.")
    assert ("x-served-by", "echo") in call.trailing_metadata()
    assert [int(n) for n in channel.unary_stream(COUNT)(b"50", timeout=5)] == list(range(50))
    with pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(SAY)(b"missing", timeout=5)
    assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.NOT_FOUND, "no such thing")


def test_create_rule_forward_type_grpc_h2c_listener_calls_and_trailers_pass(server, client, grpc_target):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [8720], H2cSwitch=True)
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/", "ForwardType": "GRPC"}])
    register(client, lb_id, listener_id, [grpc_target], location_id)

    with grpc.insecure_channel(f"{vip}:8720", options=[("grpc.default_authority", DOMAIN)]) as channel:
        _exercise(channel)


def test_create_rule_forward_type_grpc_streams_share_target_connection_keepalive_off_closes_idle(
        server, client, grpc_target):
    lb_id, vip = create_clb_with_vip(client)
    for port, keepalive in ((8725, 1), (8726, 0)):
        (listener_id,) = create_listener(client, lb_id, "HTTP", [port], H2cSwitch=True, KeepaliveEnable=keepalive)
        (location_id,) = create_rules(client, lb_id, listener_id, [
            {"Domain": DOMAIN, "Url": "/", "ForwardType": "GRPC"}])
        register(client, lb_id, listener_id, [grpc_target], location_id)

    def channel(port: int) -> grpc.Channel:
        return grpc.insecure_channel(f"{vip}:{port}", options=[("grpc.default_authority", DOMAIN)])

    # Three client connections, calls in flight together on each: one target connection for all.
    channels = [channel(8725) for _ in range(3)]
    try:
        calls = [one.unary_unary(PEER).future(b"", timeout=5) for one in channels for _ in range(8)]
        assert len({call.result() for call in calls}) == 1
    finally:
        for one in channels:
            one.close()
    # Without keep-alive a target connection lives only while it carries streams.
    with channel(8726) as unkept:
        peers = {unkept.unary_unary(PEER)(b"", timeout=5) for _ in range(4)}
    assert len(peers) == 4


@pytest.mark.parametrize("grpc_target", ["tls"], indirect=True)
def test_create_rule_forward_type_grpcs_https_listener_calls_and_trailers_pass(server, client, grpc_target):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8721], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id, [
        {"Domain": DOMAIN, "Url": "/", "ForwardType": "GRPCS", "Http2": True}])
    register(client, lb_id, listener_id, [grpc_target], location_id)
    assert_served_by_test_engine(server, listener_id)

    credentials = grpc.ssl_channel_credentials(root_certificates=make_pki().ca.cert.encode())
    with grpc.secure_channel(f"{vip}:8721", credentials,
                             options=[("grpc.ssl_target_name_override", DOMAIN)]) as channel:
        _exercise(channel)


def test_create_rule_grpc_health_check_extended_code_judges_targets(server, client, grpc_target, http_backends):
    not_grpc = http_backends.start("http-only")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [8722], H2cSwitch=True)
    check = {**FAST_CHECK, "CheckType": "GRPC", "HttpCheckPath": SAY, "ExtendedCode": "0"}
    (location_id,) = create_rules(client, lb_id, listener_id, [
        {"Domain": DOMAIN, "Url": "/", "ForwardType": "GRPC", "HealthCheck": check}])
    register(client, lb_id, listener_id, [grpc_target, not_grpc.port], location_id)

    wait_for(lambda: target_health(client, lb_id) == {grpc_target: "Alive", not_grpc.port: "Dead"}, 20)
    # Say answers OK (0) to an empty message: with only UNIMPLEMENTED (12) passing, it is Dead.
    write(client, "ModifyRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": location_id,
                                 "HealthCheck": {**check, "ExtendedCode": "12"}})
    wait_for(lambda: target_health(client, lb_id)[grpc_target] == "Dead", 20)
    write(client, "ModifyRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": location_id,
                                 "HealthCheck": {**check, "HttpCheckPath": "/no.such.Service/Call", "ExtendedCode": "12"}})
    wait_for(lambda: target_health(client, lb_id)[grpc_target] == "Alive", 20)


@pytest.mark.parametrize("grpc_target", ["tls"], indirect=True)
def test_create_rule_grpcs_health_check_probes_over_tls(server, client, grpc_target):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8723], Certificate=upload("rsa"))
    check = {**FAST_CHECK, "CheckType": "GRPC", "HttpCheckPath": "/no.such.Service/Call"}
    (location_id,) = create_rules(client, lb_id, listener_id, [
        {"Domain": DOMAIN, "Url": "/", "ForwardType": "GRPCS", "Http2": True, "HealthCheck": check}])
    register(client, lb_id, listener_id, [grpc_target], location_id)

    wait_for(lambda: target_health(client, lb_id) == {grpc_target: "Alive"}, 20)


@pytest.mark.parametrize("code", ["abc", "1-", "1,,2", " 12", "1" * 101])
def test_create_rule_grpc_health_check_malformed_extended_code_refused(server, client, code):
    lb_id, _ = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [8724], H2cSwitch=True)
    refused(client, "CreateRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Rules": [{
        "Domain": DOMAIN, "Url": "/", "ForwardType": "GRPC",
        "HealthCheck": {**FAST_CHECK, "CheckType": "GRPC", "ExtendedCode": code}}]}, "InvalidParameterValue")
