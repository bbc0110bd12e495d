"""ExportState / ImportState through the official SDK: a snapshot round trip that carries traffic.

A server's state is exported (CommonClient for service ``openclb``), the server stopped, and
the document imported into an empty server: the same ids and VIPs come back, a real TCP
backend and an HTTPS rule (with its uploaded certificate) answer through the imported
listeners, and exporting again gives the same text. Private keys stay sealed unless asked
for; sealed keys import only under the same master key. Refusals leave nothing behind.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket

import pytest

from admin_support import admin, admin_client, admin_refused, export_document, export_text, import_state, tcp_listener
from backends import NamedBackend, accepts_tcp, first_bytes
from clb_support import (
    checked, create_clb_with_vip, create_listener, create_rules, register, trusting_context, upload,
)
from conftest import sdk_client
from l7_support import request

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]

MASTER_KEY = base64.b64encode(os.urandom(32)).decode()


def https_rule(client, backends, port: int) -> tuple[str, str]:
    lb_id, vip = create_clb_with_vip(client, "tls-clb")
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [port],
                                     Certificate={"SSLMode": "UNIDIRECTIONAL", **upload("rsa")})
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "rsa.example.com", "Url": "/"}])
    register(client, lb_id, listener_id, [backends.start("tls").port], location_id)
    return lb_id, vip


def https_name(vip: str, port: int) -> str:
    return request(vip, port, "/", host="rsa.example.com", tls=trusting_context(),
                   server_name="rsa.example.com").json()["name"]


def test_import_state_exported_into_empty_server_serves_traffic_and_exports_same_text(server_factory, http_backends):
    source = server_factory(master_key=MASTER_KEY)
    client = sdk_client(source.url)
    backend = NamedBackend("kept")
    try:
        tcp_lb, tcp_vip, _ = tcp_listener(client, 9001, [backend])
        tls_lb, tls_vip = https_rule(client, http_backends, 9443)
        assert first_bytes(tcp_vip, 9001) == b"kept" and https_name(tls_vip, 9443) == "tls"
        text = export_text(admin_client(source.url))
        source.stop()
        assert not accepts_tcp(tcp_vip, 9001)

        restored = server_factory(master_key=MASTER_KEY)
        restored_client = sdk_client(restored.url)
        result = import_state(admin_client(restored.url), restored_client, text)

        assert result["status"]["Status"] == 0, result
        assert sorted(result["answer"]["LoadBalancerIds"]) == sorted([tcp_lb, tls_lb])
        assert first_bytes(tcp_vip, 9001) == b"kept"
        assert https_name(tls_vip, 9443) == "tls"
        described = checked(restored_client, "DescribeLoadBalancers", {})["LoadBalancerSet"]
        assert {(lb["LoadBalancerId"], lb["LoadBalancerVips"][0]) for lb in described} == {
            (tcp_lb, tcp_vip), (tls_lb, tls_vip)}
        assert export_text(admin_client(restored.url)) == text
    finally:
        backend.close()


def test_export_state_default_keeps_private_keys_sealed_and_names_master_key(server_factory, http_backends):
    server = server_factory(master_key=MASTER_KEY)
    https_rule(sdk_client(server.url), http_backends, 9444)

    text = export_text(admin_client(server.url))

    document = json.loads(text)
    assert "PRIVATE KEY" not in text
    (certificate,) = document["Certificates"]
    assert certificate["PrivateKey"]["Sealed"].startswith("enc:v1:")
    assert re.fullmatch(r"[0-9a-f]{16}", document["MasterKeyId"])
    assert (document["Format"], document["Version"]) == ("openclb-state", 2)


def test_import_state_sealed_keys_other_master_key_refused_clear_keys_imported(server_factory, http_backends):
    source = server_factory(master_key=MASTER_KEY)
    lb_id, vip = https_rule(sdk_client(source.url), http_backends, 9445)
    sealed = export_text(admin_client(source.url))
    clear = export_document(admin_client(source.url), IncludePrivateKeys=True)
    source.stop()
    other = server_factory()
    other_admin = admin_client(other.url)

    message = admin_refused(other_admin, "ImportState", {"State": sealed}, "FailedOperation")
    result = import_state(other_admin, sdk_client(other.url), json.dumps(clear))

    assert json.loads(sealed)["MasterKeyId"] in message
    assert "PRIVATE KEY" in clear["Certificates"][0]["PrivateKey"]["Pem"]
    assert result["status"]["Status"] == 0 and result["answer"]["LoadBalancerIds"] == [lb_id]
    assert https_name(vip, 9445) == "tls"
    assert "PRIVATE KEY" not in export_text(other_admin)


def test_import_state_account_holds_resources_refused_unless_replace(server_factory):
    server = server_factory()
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    first, _ = create_clb_with_vip(client, "first")
    text = export_text(admin_api)
    second, _ = create_clb_with_vip(client, "second")

    admin_refused(admin_api, "ImportState", {"State": text}, "FailedOperation")
    result = import_state(admin_api, client, text, Replace=True)

    assert result["status"]["Status"] == 0
    ids = [lb["LoadBalancerId"] for lb in checked(client, "DescribeLoadBalancers", {})["LoadBalancerSet"]]
    assert ids == [first] and second not in ids


def test_import_state_ids_used_by_another_account_resource_in_use(server_factory, tmp_path):
    from openclb.api import accounts

    data_dir = tmp_path / "two-accounts"
    other = accounts.add_account(data_dir / "accounts.json", "AKIDsnapshotOther000000000000000", "otherKey")
    server = server_factory(data_dir=data_dir)
    create_clb_with_vip(sdk_client(server.url))
    text = export_text(admin_client(server.url))
    other_admin = admin_client(server.url, other.secret_id, "otherKey")

    message = admin_refused(other_admin, "ImportState", {"State": text}, "ResourceInUse")

    assert "already in use" in message
    assert json.loads(export_text(other_admin))["LoadBalancers"] == []


def _broken(document: dict, change) -> str:
    change(document)
    return json.dumps(document)


def _listener(document: dict) -> dict:
    return document["LoadBalancers"][0]["Listeners"][0]


@pytest.mark.parametrize("name, change, member", [
    ("version-3", lambda d: d.update(Version=3), "State.Version"),
    ("port-out-of-range", lambda d: _listener(d).update(Port=70000), "State.LoadBalancers.0.Listeners.0.Port"),
    ("unknown-member", lambda d: _listener(d).update(Colour="red"), "State.LoadBalancers.0.Listeners.0.Colour"),
    ("weight-out-of-range", lambda d: _listener(d)["Targets"][0].update(Weight=101),
     "State.LoadBalancers.0.Listeners.0.Targets.0.Weight"),
    ("bad-vip", lambda d: d["LoadBalancers"][0].update(Vip="not-an-ip"), "State.LoadBalancers.0.Vip"),
])
def test_import_state_malformed_document_invalid_parameter_value_naming_member(server_factory, name, change, member):
    source = server_factory()
    backend = NamedBackend("x")
    try:
        tcp_listener(sdk_client(source.url), 9002, [backend])
        document = export_document(admin_client(source.url))
    finally:
        backend.close()
    target = server_factory()

    message = admin_refused(admin_client(target.url), "ImportState", {"State": _broken(document, change)},
                            "InvalidParameterValue")

    assert f"`{member}`" in message, message
    assert checked(sdk_client(target.url), "DescribeLoadBalancers", {})["TotalCount"] == 0


def test_import_state_not_json_invalid_parameter_value(server):
    admin_refused(admin_client(server.url), "ImportState", {"State": "{not json"}, "InvalidParameterValue")


def test_import_state_port_held_by_another_process_task_fails_and_nothing_stays(server_factory):
    source = server_factory()
    client = sdk_client(source.url)
    lb_id, vip = create_clb_with_vip(client)
    create_listener(client, lb_id, "TCP", [9003, 9004])
    text = export_text(admin_client(source.url))
    source.stop()
    squatter = socket.socket()
    squatter.bind((vip, 9004))
    squatter.listen()
    try:
        target = server_factory()
        target_client = sdk_client(target.url)

        result = import_state(admin_client(target.url), target_client, text)

        assert result["status"]["Status"] == 1 and "9004" in result["status"]["Message"]
        assert checked(target_client, "DescribeLoadBalancers", {})["TotalCount"] == 0
        assert json.loads(export_text(admin_client(target.url)))["LoadBalancers"] == []
        assert not accepts_tcp(vip, 9003)
    finally:
        squatter.close()


def test_export_state_v1_hmac_sha256_signature_answers(server):
    create_clb_with_vip(sdk_client(server.url))

    document = export_document(admin_client(server.url, sign_method="HmacSHA256"))

    assert len(document["LoadBalancers"]) == 1


def test_export_state_signed_for_clb_service_auth_failure(server):
    admin_refused(admin_client(server.url, service="clb"), "ExportState", {}, "AuthFailure.InvalidAuthorization")


def test_export_state_at_clb_version_invalid_action(server):
    with pytest.raises(Exception) as caught:
        sdk_client(server.url).call_json("ExportState", {})
    assert caught.value.code == "InvalidAction" and "admin" in caught.value.message


def test_describe_load_balancers_at_admin_version_invalid_action(server):
    admin_refused(admin_client(server.url), "DescribeLoadBalancers", {}, "InvalidAction")


def test_import_state_answer_parses_and_describe_task_status_reports_import(server_factory):
    source = server_factory()
    lb_id, _ = create_clb_with_vip(sdk_client(source.url))
    text = export_text(admin_client(source.url))
    source.stop()
    target = server_factory()

    result = import_state(admin_client(target.url), sdk_client(target.url), text)

    assert result["status"]["Status"] == 0
    assert admin(admin_client(target.url), "ExportState")["State"] == text
    assert result["status"]["LoadBalancerIds"] == [lb_id]
