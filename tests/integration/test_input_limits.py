"""Request strings the store keeps in sized columns are bounded before the store, on SQLite and PostgreSQL.

Found by a probe: a 300-character ``CertName`` passed on SQLite (which ignores VARCHAR sizes)
and failed on PostgreSQL with ``InternalError``, whose logged error quoted the uploaded
private key. Now every such string is refused by a documented rule with the same code on both
stores (``InvalidParameterValue.Length`` past a length; ``InvalidParameterValue`` for control
characters, NUL among them, which PostgreSQL's text refuses), and the longest accepted value
is stored on both.
"""

from __future__ import annotations

import pytest

from clb_support import create_clb, create_listener, create_rules, listener, make_pki, refused, upload, write
from conftest import sdk_client

LONG = "n" * 81
WIDE = "n" * 300


def _certificate_refusals() -> list[tuple[str, dict, str]]:
    ca = make_pki().ca.cert
    mutual = {**upload(), "SSLMode": "MUTUAL", "CertCaName": "ca", "CertCaContent": ca}
    return [
        ("cert-name-81", {"Certificate": upload(CertName=LONG)}, "InvalidParameterValue.Length"),
        ("cert-name-300", {"Certificate": upload(CertName=WIDE)}, "InvalidParameterValue.Length"),
        ("cert-name-empty", {"Certificate": upload(CertName="")}, "InvalidParameterValue.Length"),
        ("cert-name-nul", {"Certificate": upload(CertName="a\x00b")}, "InvalidParameterValue"),
        ("cert-ca-name-300", {"Certificate": {**mutual, "CertCaName": WIDE}}, "InvalidParameterValue.Length"),
        ("cert-list-name-300", {"MultiCertInfo": {"SSLMode": "UNIDIRECTIONAL", "CertList": [upload(CertName=WIDE)]}},
         "InvalidParameterValue.Length"),
        ("cert-list-ca-name-300", {"MultiCertInfo": {"SSLMode": "MUTUAL", "CertList": [
            upload(), {"CertName": WIDE, "CertContent": ca}]}}, "InvalidParameterValue.Length"),
    ]


@pytest.mark.parametrize("case, extra, code", _certificate_refusals(), ids=[c[0] for c in _certificate_refusals()])
def test_create_listener_certificate_name_past_limit_refused_same_code_both_stores(any_store_server, case, extra, code):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)

    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP_SSL", "Ports": [7443], **extra}, code)


def test_create_listener_certificate_names_of_80_stored_both_stores(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    name = "证" * 80
    certificate = {**upload(CertName=name), "SSLMode": "MUTUAL", "CertCaName": name,
                   "CertCaContent": make_pki().ca.cert}

    (listener_id,) = create_listener(client, lb_id, "TCP_SSL", [7443], Certificate=certificate)

    shown = listener(client, lb_id, listener_id)["Certificate"]
    assert shown["CertId"] and shown["CertCaId"] and shown["SSLMode"] == "MUTUAL"


def test_replace_cert_name_past_limit_refused_same_code_both_stores(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    (listener_id,) = create_listener(client, lb_id, "TCP_SSL", [7443], Certificate=upload())
    cert_id = listener(client, lb_id, listener_id)["Certificate"]["CertId"]

    refused(client, "ReplaceCertForLoadBalancers",
            {"OldCertificateId": cert_id, "Certificate": upload("ecdsa", CertName=WIDE)},
            "InvalidParameterValue.Length", lb_id=lb_id)


@pytest.mark.parametrize("tag, code", [("t" * 256, "InvalidParameterValue.Length"),
                                       ("t" * 300, "InvalidParameterValue.Length"),
                                       ("a\x00b", "InvalidParameterValue")])
def test_register_targets_tag_past_limit_refused_same_code_both_stores(any_store_server, tag, code):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [7001])

    refused(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                        "Targets": [{"EniIp": "127.0.0.1", "Port": 9, "Tag": tag}]}, code)
    refused(client, "BatchRegisterTargets", {"LoadBalancerId": lb_id, "Targets": [
        {"ListenerId": listener_id, "EniIp": "127.0.0.1", "Port": 9, "Tag": tag}]}, code)


def test_register_targets_tag_of_255_stored_both_stores(any_store_server):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [7001])

    write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                      "Targets": [{"EniIp": "127.0.0.1", "Port": 9, "Tag": "标" * 255}]})

    described = client.call_json("DescribeTargets", {"LoadBalancerId": lb_id})["Response"]
    assert described["Listeners"][0]["Targets"][0]["Tag"] == "标" * 255


@pytest.mark.parametrize("url", ["/a\x00b", "/a\nb", "~/x\x7f"])
def test_create_and_modify_rule_url_with_control_character_refused_both_stores(any_store_server, url):
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [7080])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "a.example.com", "Url": "/"}])

    refused(client, "CreateRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                   "Rules": [{"Domain": "a.example.com", "Url": url}]}, "InvalidParameterValue")
    refused(client, "ModifyRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": location_id,
                                   "Url": url}, "InvalidParameterValue")
