"""HTTP/3 to clients through the official SDK's configuration, with aioquic's client.

An HTTPS listener serves HTTP/3 (QUIC on the same port in UDP) for the domains whose rule has
Quic on (CreateRule / ModifyDomainAttributes), and their HTTP/1.1 and HTTP/2 responses carry
``Alt-Svc: h3=":PORT"``. Targets stay HTTP/1.1 (aiohttp backends) and see the usual forwarding
headers. Turning Quic off, stopping or deleting the listener closes the UDP side.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from backends import CannedBackend, free_port, port_free
from clb_support import (
    checked, create_clb_with_vip, create_listener, create_rules, register, task_status, upload, write,
)
from conftest import sdk_client
from h2_support import DOMAIN, ca_file, curl
from h3_support import h3_request, quic_answers

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

ALT_SVC = 'h3=":{port}"; ma=86400'


def quic_listener(client, http_backends, port: int, quic: bool, name: str = "h3") -> tuple[str, str, str]:
    """An HTTPS listener with one rule (DOMAIN, /, Quic as given) over a backend named ``name``."""
    backend = http_backends.start(name)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [port], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id,
                                  [{"Domain": DOMAIN, "Url": "/", "Quic": quic, "Http2": True}])
    register(client, lb_id, listener_id, [backend.port], location_id)
    return lb_id, vip, listener_id


def response_headers(vip: str, port: int, *options: str) -> dict[str, str]:
    """The response head curl saw for GET / (HTTP/1.1 unless ``options`` say otherwise)."""
    result = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-D", "-", "--max-time", "10", "--cacert", ca_file(),
         "--resolve", f"{DOMAIN}:{port}:{vip}", *options, f"https://{DOMAIN}:{port}/"],
        capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines) if value}


def test_create_rule_quic_on_h3_get_and_post_reach_target_with_forwarding_headers(server, client, http_backends):
    _, vip, _ = quic_listener(client, http_backends, 8731, quic=True)

    answer = h3_request(vip, 8731, "/a?b=1", headers=[(b"x-forwarded-for", b"10.9.8.7")])
    seen = json.loads(answer.body)
    assert (answer.status, seen["name"], seen["path"]) == (200, "h3", "/a?b=1")
    headers = {name.lower(): value for name, value in seen["headers"].items()}
    assert headers["x-forwarded-for"] == "10.9.8.7, 127.0.0.1"
    assert headers["host"] == f"{DOMAIN}:8731"
    assert (headers["x-client-proto"], headers["x-forwarded-port"]) == ("https", "8731")
    assert answer.headers["alt-svc"] == ALT_SVC.format(port=8731)

    posted = h3_request(vip, 8731, "/upload", method="POST", body=b"x" * 300_000)
    assert (posted.status, json.loads(posted.body)["body_length"]) == (200, 300_000)


def test_create_rule_quic_on_http11_and_h2_responses_carry_alt_svc(server, client, http_backends):
    _, vip, _ = quic_listener(client, http_backends, 8732, quic=True)

    assert response_headers(vip, 8732, "--http1.1")["alt-svc"] == ALT_SVC.format(port=8732)
    assert response_headers(vip, 8732, "--http2")["alt-svc"] == ALT_SVC.format(port=8732)


def test_create_rule_quic_off_no_alt_svc_and_no_quic_answer(server, client, http_backends):
    _, vip, _ = quic_listener(client, http_backends, 8733, quic=False)

    assert "alt-svc" not in response_headers(vip, 8733, "--http1.1")
    assert "alt-svc" not in response_headers(vip, 8733, "--http2")
    assert not quic_answers(vip, 8733)
    assert port_free(vip, 8733, (2,))  # SOCK_DGRAM: nothing holds the UDP port


def test_modify_domain_attributes_quic_off_closes_udp_side(server, client, http_backends):
    lb_id, vip, listener_id = quic_listener(client, http_backends, 8734, quic=True)
    assert h3_request(vip, 8734).status == 200

    write(client, "ModifyDomainAttributes", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Domain": DOMAIN,
                                             "Quic": False})
    assert not quic_answers(vip, 8734)
    assert "alt-svc" not in response_headers(vip, 8734, "--http1.1")
    (rule,) = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})["Listeners"][0]["Rules"]
    assert rule["QuicStatus"] == "QUIC_INACTIVE"

    write(client, "ModifyDomainAttributes", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Domain": DOMAIN,
                                             "Quic": True})
    assert h3_request(vip, 8734).status == 200


def test_delete_listener_quic_on_udp_port_released(server, client, http_backends):
    lb_id, vip, listener_id = quic_listener(client, http_backends, 8735, quic=True)
    assert not port_free(vip, 8735, (2,))

    write(client, "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id})
    assert port_free(vip, 8735, (2,))
    assert not quic_answers(vip, 8735)


def test_create_rule_quic_on_udp_listener_same_port_task_fails_with_reason(server, client, http_backends):
    lb_id, vip, listener_id = quic_listener(client, http_backends, 8736, quic=False)
    create_listener(client, lb_id, "UDP", [8736])

    response = checked(client, "ModifyDomainAttributes", {
        "LoadBalancerId": lb_id, "ListenerId": listener_id, "Domain": DOMAIN, "Quic": True})
    assert task_status(client, response["RequestId"]) == 1
    message = checked(client, "DescribeTaskStatus", {"TaskId": response["RequestId"]})["Message"]
    assert "UDP port 8736" in message and "conflicts with Quic" in message
    (rule,) = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id, "ListenerIds": [listener_id]}
                      )["Listeners"][0]["Rules"]
    assert rule["QuicStatus"] == "QUIC_INACTIVE"
    assert json.loads(curl(vip, 8736, "/")[1])["name"] == "h3"


def test_create_listener_udp_on_port_of_quic_domain_task_fails_https_keeps_serving(server, client, http_backends):
    lb_id, vip, _ = quic_listener(client, http_backends, 8737, quic=True)

    response = checked(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "UDP", "Ports": [8737]})
    assert task_status(client, response["RequestId"]) == 1
    message = checked(client, "DescribeTaskStatus", {"TaskId": response["RequestId"]})["Message"]
    assert "UDP port 8737 is used by HTTP/3" in message
    assert [item["Protocol"] for item in checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})["Listeners"]
            ] == ["HTTPS"]
    assert h3_request(vip, 8737).status == 200


def test_set_load_balancer_start_status_stop_listener_closes_udp_start_serves_h3_again(server, client, http_backends):
    lb_id, vip, listener_id = quic_listener(client, http_backends, 8738, quic=True)

    write(client, "SetLoadBalancerStartStatus", {"LoadBalancerId": lb_id, "OperationType": "Stop",
                                                 "ListenerIds": [listener_id]})
    assert port_free(vip, 8738, (2,))
    assert not quic_answers(vip, 8738)

    write(client, "SetLoadBalancerStartStatus", {"LoadBalancerId": lb_id, "OperationType": "Start",
                                                 "ListenerIds": [listener_id]})
    assert h3_request(vip, 8738).status == 200


def test_create_rule_sni_domains_quic_each_domain_gets_its_certificate_and_target(server, client, http_backends):
    rsa_site, ec_site, plain_site = (http_backends.start(name) for name in ("rsa-site", "ec-site", "plain-site"))
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8739], SniSwitch=1)
    rsa_id, ec_id, plain_id = create_rules(client, lb_id, listener_id, [
        {"Domain": "rsa.example.com", "Url": "/", "Certificate": upload("rsa"), "Quic": True},
        {"Domain": "ec.example.com", "Url": "/", "Certificate": upload("ecdsa"), "Quic": True},
        {"Domain": "plain.example.com", "Url": "/", "Certificate": upload("rsa")}])
    for location_id, site in ((rsa_id, rsa_site), (ec_id, ec_site), (plain_id, plain_site)):
        register(client, lb_id, listener_id, [site.port], location_id)

    # The client checks the certificate against the name it asked for: each domain got its own.
    assert json.loads(h3_request(vip, 8739, domain="rsa.example.com").body)["name"] == "rsa-site"
    assert json.loads(h3_request(vip, 8739, domain="ec.example.com").body)["name"] == "ec-site"
    # A domain without Quic is not advertised, even on a listener whose UDP side is open.
    body = curl(vip, 8739, "/", "-k", "-D", "-", domain="plain.example.com")[1]
    assert "alt-svc" not in body.lower() and "plain-site" in body


def test_request_h3_large_streamed_response_arrives_whole(server, client, http_backends):
    _, vip, _ = quic_listener(client, http_backends, 8740, quic=True)

    answer = h3_request(vip, 8740, "/stream/3000000")
    assert (answer.status, len(answer.body)) == (200, 3_000_000)


def test_request_h3_target_refuses_connection_502_also_for_a_long_upload(server, client):
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8741], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/", "Quic": True}])
    register(client, lb_id, listener_id, [free_port()], location_id)

    assert h3_request(vip, 8741).status == 502
    # Answered before the body ended: the client is told to stop sending, and still gets the 502.
    assert h3_request(vip, 8741, method="POST", body=b"p" * 2_000_000).status == 502


def test_create_rule_quic_on_with_two_workers_every_h3_connection_served(server_factory, http_backends):
    client = sdk_client(server_factory(workers=2).url)
    _, vip, _ = quic_listener(client, http_backends, 8742, quic=True)

    # Each QUIC connection comes from a new client port: the kernel spreads them over both workers.
    assert [h3_request(vip, 8742).status for _ in range(8)] == [200] * 8


def test_modify_block_ip_list_h3_request_refused_403_by_client_ip_field_and_by_peer(server, client, http_backends):
    lb_id, vip, _ = quic_listener(client, http_backends, 8743, quic=True)
    block = {"LoadBalancerIds": [lb_id], "ClientIPField": "X-Real-Client"}
    write(client, "ModifyBlockIPList", {**block, "Type": "add_customized_field"})
    write(client, "ModifyBlockIPList", {**block, "Type": "add_blocked", "BlockIPList": ["10.1.1.1"]})

    assert h3_request(vip, 8743, headers=[(b"x-real-client", b"10.1.1.1")]).status == 403
    assert h3_request(vip, 8743, headers=[(b"x-real-client", b"10.1.1.2")]).status == 200
    write(client, "ModifyBlockIPList", {**block, "Type": "add_blocked", "BlockIPList": ["127.0.0.1"]})
    assert h3_request(vip, 8743).status == 403


def test_request_h3_for_domain_without_quic_on_same_listener_gets_421(server, client, http_backends):
    lb_id, vip, listener_id = quic_listener(client, http_backends, 8744, quic=True)
    (other_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "other.example.com", "Url": "/"}])
    register(client, lb_id, listener_id, [http_backends.start("other").port], other_id)

    assert h3_request(vip, 8744, authority="other.example.com").status == 421
    assert json.loads(h3_request(vip, 8744).body)["name"] == "h3"


def test_modify_listener_certificate_h3_handshakes_present_new_one_without_rebind(server, client, http_backends):
    lb_id, vip, listener_id = quic_listener(client, http_backends, 8745, quic=True)
    assert h3_request(vip, 8745).status == 200

    write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Certificate": upload("ecdsa")})
    # The client checks the name it asked for: only the new certificate (ec.example.com) passes.
    assert h3_request(vip, 8745, domain="ec.example.com", authority=DOMAIN).status == 200
    assert not quic_answers(vip, 8745, domain=DOMAIN)


def test_request_h3_upload_larger_than_queue_bound_reaches_target_whole(server, client, http_backends):
    _, vip, _ = quic_listener(client, http_backends, 8746, quic=True)

    posted = h3_request(vip, 8746, "/upload", method="POST", body=b"u" * 5_000_000, timeout=60)
    assert (posted.status, json.loads(posted.body)["body_length"]) == (200, 5_000_000)


def test_request_h3_target_sends_bytes_after_its_response_client_gets_that_response_only(server, client):
    """What a target sends after a complete response is no part of it (as on HTTP/1.1 and HTTP/2)."""
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
    backend = CannedBackend(first + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
    try:
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = create_listener(client, lb_id, "HTTPS", [8747], Certificate=upload("rsa"))
        (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/", "Quic": True}])
        register(client, lb_id, listener_id, [backend.port], location_id)

        answer = h3_request(vip, 8747)
        assert (answer.status, answer.body) == (200, b"first")
    finally:
        backend.close()
