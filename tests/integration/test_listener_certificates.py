"""Listener certificates through the official Python SDK: Certificate and MultiCertInfo rules.

TCP_SSL listeners and HTTPS listeners without SNI need exactly one of Certificate and
MultiCertInfo; no other listener takes one. An upload (CertName + CertContent + CertKey) must
parse, its key must match, it must be valid now; it then becomes a stored certificate whose
CertId DescribeListeners shows and later calls may reference. MUTUAL needs a CA. Test
certificates come from ``clb_support.make_pki`` (a CA, RSA and ECDSA server certificates
signed by it, an expired one, one not valid yet, a key that matches none).
"""

from __future__ import annotations

import json

import pytest
from tencentcloud.clb.v20180317 import models

from clb_support import create_clb, create_listener, listener, make_pki, refused, task_status, upload, write
from conftest import make_settings, sdk_client, start_server

pytestmark = pytest.mark.haproxy


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One CLB with a TCP_SSL listener (uploaded RSA cert + CA) whose ids the refusals reference."""
    running = start_server(make_settings(tmp_path_factory.mktemp("certs")))
    client = sdk_client(running.url)
    lb_id = create_clb(client)
    (listener_id,) = create_listener(client, lb_id, "TCP_SSL", [7443], Certificate=mutual_upload())
    yield client, lb_id, listener(client, lb_id, listener_id)["Certificate"]
    running.stop()


def mutual_upload() -> dict:
    return {**upload(), "SSLMode": "MUTUAL", "CertCaName": "ca", "CertCaContent": make_pki().ca.cert}


def _refusals() -> list[tuple[str, str, dict, str]]:
    pki = make_pki()
    garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    return [
        ("tcp-ssl-without-certificate", "TCP_SSL", {}, "MissingParameter"),
        ("https-without-certificate", "HTTPS", {}, "MissingParameter"),
        ("certificate-on-tcp", "TCP", {"Certificate": upload()}, "InvalidParameterValue"),
        ("certificate-on-udp", "UDP", {"Certificate": upload()}, "InvalidParameterValue"),
        ("certificate-on-http", "HTTP", {"Certificate": upload()}, "InvalidParameterValue"),
        ("certificate-on-https-with-sni", "HTTPS", {"SniSwitch": 1, "Certificate": upload()}, "InvalidParameterValue"),
        ("multi-cert-on-https-with-sni", "HTTPS",
         {"SniSwitch": 1, "MultiCertInfo": {"SSLMode": "UNIDIRECTIONAL", "CertList": [upload("rsa")]}},
         "InvalidParameterValue"),
        ("certificate-and-multi-cert", "TCP_SSL",
         {"Certificate": upload(), "MultiCertInfo": {"SSLMode": "UNIDIRECTIONAL", "CertList": [upload("rsa")]}},
         "InvalidParameterCombination"),
        ("content-not-pem", "TCP_SSL", {"Certificate": {**upload(), "CertContent": "hello"}}, "InvalidParameterValue"),
        ("content-bad-der", "HTTPS", {"Certificate": {**upload(), "CertContent": garbage}}, "InvalidParameterValue"),
        ("key-not-pem", "TCP_SSL", {"Certificate": {**upload(), "CertKey": "not a key"}}, "InvalidParameterValue"),
        ("key-mismatch", "TCP_SSL", {"Certificate": {**upload(), "CertKey": pki.other_key}}, "InvalidParameterValue"),
        ("key-of-other-cert", "HTTPS", {"Certificate": {**upload("ecdsa"), "CertKey": pki.rsa.key}},
         "InvalidParameterValue"),
        ("expired", "TCP_SSL", {"Certificate": upload("expired")}, "InvalidParameterValue"),
        ("not-yet-valid", "HTTPS", {"Certificate": upload("not_yet_valid")}, "InvalidParameterValue"),
        ("missing-key", "TCP_SSL", {"Certificate": {"CertName": "x", "CertContent": pki.rsa.cert}}, "MissingParameter"),
        ("missing-content", "TCP_SSL", {"Certificate": {"CertName": "x", "CertKey": pki.rsa.key}}, "MissingParameter"),
        ("unknown-cert-id", "TCP_SSL", {"Certificate": {"CertId": "cert-doesnotexist"}}, "InvalidParameter"),
        ("ssl-mode-unknown", "TCP_SSL", {"Certificate": {**upload(), "SSLMode": "TWO_WAY"}}, "InvalidParameterValue"),
        ("verify-client-without-mutual", "TCP_SSL", {"Certificate": {**upload(), "SSLVerifyClient": "ON"}},
         "InvalidParameterValue"),
        ("verify-client-unknown", "TCP_SSL", {"Certificate": {**mutual_upload(), "SSLVerifyClient": "MAYBE"}},
         "InvalidParameterValue"),
        ("mutual-without-ca", "TCP_SSL", {"Certificate": {**upload(), "SSLMode": "MUTUAL"}}, "MissingParameter"),
        ("mutual-ca-not-pem", "HTTPS", {"Certificate": {**mutual_upload(), "CertCaContent": "nope"}},
         "InvalidParameterValue"),
        ("mutual-ca-expired", "TCP_SSL", {"Certificate": {**mutual_upload(), "CertCaContent": pki.expired.cert}},
         "InvalidParameterValue"),
        ("mutual-unknown-ca-id", "TCP_SSL", {"Certificate": {**upload(), "SSLMode": "MUTUAL", "CertCaId": "ca-x"}},
         "InvalidParameter"),
        ("multi-two-rsa", "HTTPS",
         {"MultiCertInfo": {"SSLMode": "UNIDIRECTIONAL", "CertList": [upload("rsa"), upload("rsa")]}},
         "InvalidParameterValue"),
        ("multi-mismatched-key", "TCP_SSL",
         {"MultiCertInfo": {"SSLMode": "UNIDIRECTIONAL",
                            "CertList": [{**upload("ecdsa"), "CertKey": pki.other_key}]}},
         "InvalidParameterValue"),
        ("multi-expired", "TCP_SSL",
         {"MultiCertInfo": {"SSLMode": "UNIDIRECTIONAL", "CertList": [upload("expired")]}},
         "InvalidParameterValue"),
        ("multi-only-ca", "HTTPS",
         {"MultiCertInfo": {"SSLMode": "MUTUAL", "CertList": [{"CertName": "ca", "CertContent": pki.ca.cert}]}},
         "MissingParameter"),
        ("multi-mutual-without-ca", "TCP_SSL",
         {"MultiCertInfo": {"SSLMode": "MUTUAL", "CertList": [upload("rsa")]}}, "MissingParameter"),
        ("multi-ssl-mode-unknown", "TCP_SSL",
         {"MultiCertInfo": {"SSLMode": "NONE", "CertList": [upload("rsa")]}}, "InvalidParameterValue"),
        ("multi-empty-list", "TCP_SSL", {"MultiCertInfo": {"SSLMode": "UNIDIRECTIONAL", "CertList": []}},
         "MissingParameter"),
    ]


REFUSALS = _refusals()


@pytest.mark.parametrize("protocol, extra, code", [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_create_listener_certificate_rule_broken_refused_and_nothing_created(shared, protocol, extra, code):
    client, lb_id, _ = shared
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": protocol, "Ports": [9443], **extra}, code)


def test_create_listener_server_cert_id_used_as_ca_refused(shared):
    client, lb_id, stored = shared
    params = {"LoadBalancerId": lb_id, "Protocol": "TCP_SSL", "Ports": [9443], "Certificate": {
        "SSLMode": "MUTUAL", "CertId": stored["CertId"], "CertCaId": stored["CertId"]}}
    refused(client, "CreateListener", params, "InvalidParameter")
    params["Certificate"] = {"CertId": stored["CertCaId"]}
    refused(client, "CreateListener", params, "InvalidParameter")


def test_create_listener_uploaded_certificate_referenced_by_cert_id(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    request = models.CreateListenerRequest()
    request.from_json_string(json.dumps(
        {"LoadBalancerId": lb_id, "Protocol": "TCP_SSL", "Ports": [7443], "Certificate": upload()}
    ))
    response = client.CreateListener(request)
    assert task_status(client, response.RequestId) == 0
    typed_request = models.DescribeListenersRequest()
    typed_request.LoadBalancerId = lb_id
    (first,) = client.DescribeListeners(typed_request).Listeners
    cert_id = first.Certificate.CertId
    assert cert_id and first.Certificate.SSLMode == "UNIDIRECTIONAL"
    assert (first.Certificate.CertCaId, first.Certificate.ExtCertIds) == ("", [])

    (second_id,) = create_listener(client, lb_id, "TCP_SSL", [7444], Certificate={"CertId": cert_id})
    (https_id,) = create_listener(client, lb_id, "HTTPS", [7445],
                                  MultiCertInfo={"SSLMode": "UNIDIRECTIONAL", "CertList": [{"CertId": cert_id}]})
    assert listener(client, lb_id, second_id)["Certificate"]["CertId"] == cert_id
    assert listener(client, lb_id, https_id)["Certificate"]["CertId"] == cert_id


def test_create_listener_mutual_upload_stores_ca_for_later_reference(server, client):
    lb_id = create_clb(client)
    (first_id,) = create_listener(client, lb_id, "HTTPS", [7443], Certificate=mutual_upload())
    first = listener(client, lb_id, first_id)["Certificate"]
    assert (first["SSLMode"], first["SSLVerifyClient"]) == ("MUTUAL", "ON")
    assert first["CertId"] and first["CertCaId"] and first["CertId"] != first["CertCaId"]
    reference = {"SSLMode": "MUTUAL", "SSLVerifyClient": "OPTIONAL", "CertId": first["CertId"],
                 "CertCaId": first["CertCaId"]}
    (second_id,) = create_listener(client, lb_id, "TCP_SSL", [7444], Certificate=reference)
    second = listener(client, lb_id, second_id)["Certificate"]
    assert second == {**first, "SSLVerifyClient": "OPTIONAL"}


def test_create_listener_multi_cert_rsa_and_ecdsa_one_each(server, client):
    lb_id = create_clb(client)
    info = {"SSLMode": "MUTUAL", "CertList": [
        upload("rsa"), upload("ecdsa"), {"CertName": "ca", "CertContent": make_pki().ca.cert}]}
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [7443], MultiCertInfo=info)
    stored = listener(client, lb_id, listener_id)["Certificate"]
    assert stored["SSLMode"] == "MUTUAL" and stored["SSLVerifyClient"] == "ON"
    assert stored["CertId"] and stored["CertCaId"] and len(stored["ExtCertIds"]) == 1
    assert len({stored["CertId"], stored["CertCaId"], stored["ExtCertIds"][0]}) == 3
    (ecdsa_id,) = create_listener(client, lb_id, "TCP_SSL", [7444], Certificate=upload("ecdsa"))
    assert listener(client, lb_id, ecdsa_id)["Certificate"]["ExtCertIds"] == []


def test_modify_listener_certificate_replaced_or_refused_unchanged(server, client):
    lb_id = create_clb(client)
    (listener_id,) = create_listener(client, lb_id, "TCP_SSL", [7443], Certificate=upload())
    before = listener(client, lb_id, listener_id)["Certificate"]["CertId"]
    for bad, code in ((upload("expired"), "InvalidParameterValue"), ({"CertId": "cert-none"}, "InvalidParameter"),
                      ({**upload(), "SSLMode": "MUTUAL"}, "MissingParameter")):
        refused(client, "ModifyListener",
                {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Certificate": bad}, code)
    write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Certificate": upload("ecdsa")})
    after = listener(client, lb_id, listener_id)["Certificate"]
    assert after["CertId"] and after["CertId"] != before
    write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "ListenerName": "renamed"})
    assert listener(client, lb_id, listener_id)["Certificate"] == after


def test_create_listener_other_accounts_cert_id_not_found(server_factory, tmp_path):
    from openclb.api.accounts import add_account

    data_dir = tmp_path / "tenancy" / "data"
    other = add_account(data_dir / "accounts.json", "AKIDcertsotheraccount00000000000", "otherkey")
    running = server_factory(data_dir=data_dir)
    mine, theirs = sdk_client(running.url), sdk_client(running.url, secret_id=other.secret_id, secret_key="otherkey")
    my_lb = create_clb(mine)
    (listener_id,) = create_listener(mine, my_lb, "TCP_SSL", [7443], Certificate=upload())
    cert_id = listener(mine, my_lb, listener_id)["Certificate"]["CertId"]
    their_lb = create_clb(theirs)
    refused(theirs, "CreateListener", {"LoadBalancerId": their_lb, "Protocol": "TCP_SSL", "Ports": [7443],
                                       "Certificate": {"CertId": cert_id}}, "InvalidParameter")
