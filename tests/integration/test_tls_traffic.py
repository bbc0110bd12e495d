"""TLS listeners carrying real traffic: certificates uploaded through the official SDK, real TLS clients.

TCP_SSL and HTTPS listeners terminate TLS with the uploaded certificates (``make_pki``: a CA,
``rsa.example.com`` and ``ec.example.com`` signed by it). Clients are Python's ``ssl`` with a
context that trusts the test CA, so "sees the certificate" means a verified handshake.
"""

from __future__ import annotations

import socket
import ssl

import pytest

from clb_support import (
    create_clb_with_vip, create_listener, create_rules, listener, make_pki, register, trusting_context, upload, write,
)
from l7_support import connect, peer_certificate_cn, request, send

pytestmark = pytest.mark.postgres


def test_create_listener_https_uploaded_certificate_client_trusting_ca_routes_by_url(server, client, http_backends):
    root, api = http_backends.start("root"), http_backends.start("api")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8443], Certificate=upload("rsa"))
    root_id, api_id, _ = create_rules(client, lb_id, listener_id, [
        {"Domain": "rsa.example.com", "Url": "/"}, {"Domain": "rsa.example.com", "Url": "/api"},
        {"Domain": "other.example.com", "Url": "/only"}])
    register(client, lb_id, listener_id, [root.port], root_id)
    register(client, lb_id, listener_id, [api.port], api_id)
    tls = trusting_context()

    assert peer_certificate_cn(vip, 8443, "rsa.example.com", tls) == "rsa.example.com"
    home = request(vip, 8443, "/", host="rsa.example.com", tls=tls, server_name="rsa.example.com")
    deep = request(vip, 8443, "/api/v1/x", host="rsa.example.com", tls=tls, server_name="rsa.example.com")
    assert (home.json()["name"], deep.json()["name"]) == ("root", "api")
    assert home.json()["headers"]["X-Forwarded-Proto"] == "https"
    unknown_host = request(vip, 8443, "/api/2", host="nobody.test", tls=tls, server_name="rsa.example.com")
    assert unknown_host.json()["name"] == "api"
    no_url = request(vip, 8443, "/api", host="other.example.com", tls=tls, server_name="rsa.example.com")
    assert no_url.status == 404


def test_create_listener_multi_cert_rsa_and_ecdsa_handshake_picks_by_client_algorithms(server, client, named_backends):
    target = named_backends("multi", end=b"\n")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP_SSL", [9443], MultiCertInfo={
        "SSLMode": "UNIDIRECTIONAL", "CertList": [upload("rsa"), upload("ecdsa")]})
    register(client, lb_id, listener_id, [target.port])

    seen = {}
    for algorithm in ("RSA", "ECDSA"):
        tls = trusting_context(check_hostname=False)
        tls.maximum_version = ssl.TLSVersion.TLSv1_2
        tls.set_ciphers(f"ECDHE-{algorithm}-AES128-GCM-SHA256")
        seen[algorithm] = peer_certificate_cn(vip, 9443, None, tls)
    assert seen == {"RSA": "rsa.example.com", "ECDSA": "ec.example.com"}


def test_create_rule_sni_domains_each_client_sees_its_own_certificate(server, client, http_backends):
    rsa_site, ec_site, alias_site = http_backends.start("rsa-site"), http_backends.start("ec-site"), http_backends.start("alias")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8444], SniSwitch=1)
    rsa_id, ec_id = create_rules(client, lb_id, listener_id, [
        {"Domain": "rsa.example.com", "Url": "/", "Certificate": upload("rsa")},
        {"Domain": "ec.example.com", "Url": "/", "Certificate": upload("ecdsa")}])
    rules = listener(client, lb_id, listener_id)["Rules"]
    rsa_cert_id = next(r["Certificate"]["CertId"] for r in rules if r["LocationId"] == rsa_id)
    (alias_id,) = create_rules(client, lb_id, listener_id, [
        {"Domain": "*.alias.test", "Url": "/", "Certificate": {"CertId": rsa_cert_id}}])
    for backend, location_id in ((rsa_site, rsa_id), (ec_site, ec_id), (alias_site, alias_id)):
        register(client, lb_id, listener_id, [backend.port], location_id)
    tls = trusting_context()

    assert peer_certificate_cn(vip, 8444, "rsa.example.com", tls) == "rsa.example.com"
    assert peer_certificate_cn(vip, 8444, "ec.example.com", tls) == "ec.example.com"
    loose = trusting_context(check_hostname=False)
    assert peer_certificate_cn(vip, 8444, "www.alias.test", loose) == "rsa.example.com"
    assert request(vip, 8444, "/", host="ec.example.com", tls=tls, server_name="ec.example.com").json()["name"] == "ec-site"
    assert request(vip, 8444, "/", host="a.alias.test", tls=loose, server_name="a.alias.test").json()["name"] == "alias"


def test_create_listener_tcp_ssl_mutual_ca_signed_client_reaches_target_other_fails(server, client, named_backends):
    target = named_backends("mutual", end=b"\n")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP_SSL", [9444], Certificate=upload(
        "rsa", SSLMode="MUTUAL", CertCaName="ca", CertCaContent=make_pki().ca.cert))
    register(client, lb_id, listener_id, [target.port])

    with socket.create_connection((vip, 9444), timeout=5) as raw:
        with trusting_context(client_cert="ecdsa").wrap_socket(raw, server_hostname="rsa.example.com") as tls:
            assert tls.recv(64) == b"mutual\n"
            tls.sendall(b"ping")
            assert tls.recv(64) == b"ping"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection((vip, 9444), timeout=5) as raw:
            with trusting_context().wrap_socket(raw, server_hostname="rsa.example.com") as tls:
                tls.sendall(b"ping")
                if not tls.recv(64):
                    raise ConnectionResetError("closed without a reply")
    assert target.accepted == 1


def test_replace_cert_for_load_balancers_new_handshakes_new_cert_established_connection_continues(
        server, client, http_backends):
    site = http_backends.start("site")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8445], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "www.site.test", "Url": "/"}])
    register(client, lb_id, listener_id, [site.port], location_id)
    old_id = listener(client, lb_id, listener_id)["Certificate"]["CertId"]
    loose = trusting_context(check_hostname=False)
    established = connect(vip, 8445, loose, "www.site.test")
    assert send(established, "/before", host="www.site.test").status == 200
    assert established.sock.getpeercert()["subject"] == ((("commonName", "rsa.example.com"),),)

    write(client, "ReplaceCertForLoadBalancers", {"OldCertificateId": old_id, "Certificate": upload("ecdsa")})

    assert peer_certificate_cn(vip, 8445, "www.site.test", loose) == "ec.example.com"
    assert send(established, "/after", host="www.site.test").json()["path"] == "/after"
    established.close()
    assert listener(client, lb_id, listener_id)["Certificate"]["CertId"] != old_id


def test_create_rule_forward_type_https_speaks_tls_to_target(server, client, http_backends):
    secure = http_backends.start("secure", tls=True)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8446], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id, [
        {"Domain": "rsa.example.com", "Url": "/", "ForwardType": "HTTPS"}])
    register(client, lb_id, listener_id, [secure.port], location_id)

    reply = request(vip, 8446, "/s", host="rsa.example.com", tls=trusting_context(), server_name="rsa.example.com")
    assert reply.json()["name"] == "secure" and reply.json()["path"] == "/s"
