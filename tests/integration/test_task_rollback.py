"""A task the engine refuses fails, and the store and the data plane go back to what worked.

Every kind of write is driven through the official SDK against a server whose engine
refuses: for real where the embedded engine has a reason to (OpenSSL refuses a 1024-bit RSA
key at security level 2, which the control plane accepts), and through the fault-injecting
engine otherwise (``Settings.fault_injection``: the real engine is not called, as when a
real engine refuses a state it cannot load). Each test checks DescribeTaskStatus (Status 1,
the engine's message), that Describe* shows the state from before the call, and that
traffic is still served by that state.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from backends import NamedBackend, first_bytes
from clb_support import (
    checked, create_clb_with_vip, create_listener, create_rules, listener, register, trusting_context, upload, write,
)
from l7_support import Backends, peer_certificate_cn, request

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


@pytest.fixture
def server(server_factory):
    return server_factory(fault_injection=True)


@pytest.fixture
def backends():
    running = Backends()
    yield running
    running.close()


def weak_upload(common_name: str = "rsa.example.com") -> dict:
    """A certificate the API accepts and OpenSSL refuses to serve: a 1024-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(key, hashes.SHA256()))
    return {"CertName": "weak", "CertContent": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "CertKey": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()}


def refused_task(client, action: str, params: dict) -> str:
    """The call is accepted, its task ends with Status 1; returns the task's message."""
    response = checked(client, action, params)
    for _ in range(500):
        status = checked(client, "DescribeTaskStatus", {"TaskId": response["RequestId"]})
        if status["Status"] != 2:
            break
    assert status["Status"] == 1, status
    assert status["Message"]
    return status["Message"]


def arm(server, listener_id: str) -> None:
    server.server.engine.refuse_next_apply(listener_id, "The engine refused the change (injected fault).")


def http_listener_with_rule(client, backends, port: int):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [port])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "a.example.com", "Url": "/"}])
    backend = backends.start("a")
    register(client, lb_id, listener_id, [backend.port], location_id)
    return lb_id, vip, listener_id, location_id


def test_create_rule_engine_refuses_task_fails_and_rules_unchanged(server, client, backends):
    lb_id, vip, listener_id, _ = http_listener_with_rule(client, backends, 8801)
    before = listener(client, lb_id, listener_id)
    arm(server, listener_id)
    message = refused_task(client, "CreateRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                  "Rules": [{"Domain": "b.example.com", "Url": "/b"}]})
    assert "injected" in message
    assert listener(client, lb_id, listener_id) == before
    assert request(vip, 8801, "/", host="a.example.com").json()["name"] == "a"


def test_modify_rule_engine_refuses_task_fails_and_url_unchanged(server, client, backends):
    lb_id, vip, listener_id, location_id = http_listener_with_rule(client, backends, 8802)
    before = listener(client, lb_id, listener_id)
    arm(server, listener_id)
    refused_task(client, "ModifyRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                        "LocationId": location_id, "Url": "/moved"})
    assert listener(client, lb_id, listener_id) == before
    assert request(vip, 8802, "/", host="a.example.com").json()["name"] == "a"


def sni_listener(client, backends, port: int):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [port], SniSwitch=1)
    (location_id,) = create_rules(client, lb_id, listener_id, [
        {"Domain": "rsa.example.com", "Url": "/", "Certificate": {"SSLMode": "UNIDIRECTIONAL", **upload("rsa")}}])
    register(client, lb_id, listener_id, [backends.start("sni").port], location_id)
    return lb_id, vip, listener_id


def test_modify_domain_attributes_certificate_engine_cannot_load_task_fails_and_old_certificate_serves(
    client, backends
):
    lb_id, vip, listener_id = sni_listener(client, backends, 8803)
    before = listener(client, lb_id, listener_id)
    message = refused_task(client, "ModifyDomainAttributes", {
        "LoadBalancerId": lb_id, "ListenerId": listener_id, "Domain": "rsa.example.com",
        "Certificate": {"SSLMode": "UNIDIRECTIONAL", **weak_upload()}})
    assert "certificate" in message.lower()
    assert listener(client, lb_id, listener_id) == before
    assert peer_certificate_cn(vip, 8803, "rsa.example.com", trusting_context()) == "rsa.example.com"


def test_create_rule_domain_certificate_engine_cannot_load_task_fails_and_rules_unchanged(client, backends):
    lb_id, vip, listener_id = sni_listener(client, backends, 8804)
    before = listener(client, lb_id, listener_id)
    refused_task(client, "CreateRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Rules": [
        {"Domain": "weak.example.com", "Url": "/", "Certificate": {"SSLMode": "UNIDIRECTIONAL",
                                                                  **weak_upload("weak.example.com")}}]})
    assert listener(client, lb_id, listener_id) == before
    assert peer_certificate_cn(vip, 8804, "rsa.example.com", trusting_context()) == "rsa.example.com"


def test_replace_cert_for_load_balancers_engine_cannot_load_task_fails_and_old_certificate_serves(client, backends):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8805],
                                  Certificate={"SSLMode": "UNIDIRECTIONAL", **upload("rsa")})
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "rsa.example.com", "Url": "/"}])
    register(client, lb_id, listener_id, [backends.start("tls").port], location_id)
    before = listener(client, lb_id, listener_id)
    refused_task(client, "ReplaceCertForLoadBalancers", {
        "OldCertificateId": before["Certificate"]["CertId"], "Certificate": weak_upload()})
    assert listener(client, lb_id, listener_id) == before
    assert peer_certificate_cn(vip, 8805, "rsa.example.com", trusting_context()) == "rsa.example.com"
    assert request(vip, 8805, "/", host="rsa.example.com", tls=trusting_context(),
                   server_name="rsa.example.com").json()["name"] == "tls"


def test_modify_listener_certificate_engine_cannot_load_task_fails_and_old_certificate_serves(client):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP_SSL", [8806],
                                  Certificate={"SSLMode": "UNIDIRECTIONAL", **upload("rsa")})
    before = listener(client, lb_id, listener_id)
    refused_task(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                            "Certificate": {"SSLMode": "UNIDIRECTIONAL", **weak_upload()}})
    assert listener(client, lb_id, listener_id) == before
    assert peer_certificate_cn(vip, 8806, "rsa.example.com", trusting_context()) == "rsa.example.com"


def tcp_listener_with_target(client, port: int):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [port], HealthCheck={"HealthSwitch": 0})
    first = NamedBackend("first")
    write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                      "Targets": [{"EniIp": "127.0.0.1", "Port": first.port, "Weight": 10}]})
    return lb_id, vip, listener_id, first


def targets(client, lb_id: str, listener_id: str) -> list:
    return checked(client, "DescribeTargets", {"LoadBalancerId": lb_id, "ListenerIds": [listener_id]})["Listeners"]


def test_modify_listener_engine_refuses_task_fails_and_settings_unchanged(server, client):
    lb_id, vip, listener_id, first = tcp_listener_with_target(client, 8807)
    try:
        before = listener(client, lb_id, listener_id)
        arm(server, listener_id)
        refused_task(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                "ListenerName": "renamed", "Scheduler": "LEAST_CONN"})
        assert listener(client, lb_id, listener_id) == before
        assert first_bytes(vip, 8807) == b"first"
    finally:
        first.close()


def test_register_targets_engine_refuses_task_fails_and_targets_unchanged(server, client):
    lb_id, vip, listener_id, first = tcp_listener_with_target(client, 8808)
    second = NamedBackend("second")
    try:
        before = targets(client, lb_id, listener_id)
        arm(server, listener_id)
        refused_task(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                 "Targets": [{"EniIp": "127.0.0.1", "Port": second.port}]})
        assert targets(client, lb_id, listener_id) == before
        assert {first_bytes(vip, 8808) for _ in range(6)} == {b"first"}
    finally:
        first.close()
        second.close()


def test_modify_target_weight_engine_refuses_task_fails_and_weight_unchanged(server, client):
    lb_id, vip, listener_id, first = tcp_listener_with_target(client, 8809)
    try:
        before = targets(client, lb_id, listener_id)
        arm(server, listener_id)
        refused_task(client, "ModifyTargetWeight", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Weight": 0,
                                                    "Targets": [{"EniIp": "127.0.0.1", "Port": first.port}]})
        assert targets(client, lb_id, listener_id) == before
        assert first_bytes(vip, 8809) == b"first"
    finally:
        first.close()


def test_create_listener_after_refused_task_clb_is_writable(server, client):
    """A refused task releases its CLB: the next write on it succeeds."""
    lb_id, vip, listener_id, first = tcp_listener_with_target(client, 8810)
    try:
        arm(server, listener_id)
        refused_task(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "ListenerName": "x"})
        write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "ListenerName": "y"})
        assert listener(client, lb_id, listener_id)["ListenerName"] == "y"
    finally:
        first.close()

