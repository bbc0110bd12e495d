"""The SSL service's certificates are CLB's: an upload here is a listener's CertId (and serves TLS), a
listener's upload is listed and described here, a certificate in use cannot be deleted, and no answer
carries a private key. Through the official ssl SDK client (typed models and call_json)."""

from __future__ import annotations

import pytest

from admin_support import admin, admin_client, export_text, import_state
from clb_support import checked, create_clb_with_vip, create_listener, listener, make_pki, trusting_context, upload
from conftest import sdk_client
from l7_support import peer_certificate_cn
from openclb.api.accounts import DEFAULT_OWNER_UIN
from services_support import service_checked, service_client, service_refused, typed_call

pytestmark = pytest.mark.postgres


@pytest.fixture
def clients(any_store_server):
    return sdk_client(any_store_server.url), service_client(any_store_server.url, "ssl")


def ssl_upload(ssl, kind: str = "rsa", **extra) -> str:
    pem = getattr(make_pki(), kind)
    return service_checked(ssl, "UploadCertificate", {"CertificatePublicKey": pem.cert,
                                                      "CertificatePrivateKey": pem.key, "Alias": kind, **extra})[
        "CertificateId"]


def certificate_ids(ssl) -> list[str]:
    return [c["CertificateId"] for c in service_checked(ssl, "DescribeCertificates", {"Limit": 100})["Certificates"]]


def test_upload_certificate_id_serves_tls_as_listener_cert_id(clients):
    clb, ssl = clients
    cert_id = ssl_upload(ssl)
    lb_id, vip = create_clb_with_vip(clb)

    (listener_id,) = create_listener(clb, lb_id, "TCP_SSL", [9453], Certificate={"CertId": cert_id})

    assert listener(clb, lb_id, listener_id)["Certificate"]["CertId"] == cert_id
    assert peer_certificate_cn(vip, 9453, None, trusting_context(check_hostname=False)) == "rsa.example.com"


def test_listener_upload_is_described_by_ssl_without_private_key(clients):
    clb, ssl = clients
    lb_id, _ = create_clb_with_vip(clb)
    (listener_id,) = create_listener(clb, lb_id, "TCP_SSL", [9454], Certificate=upload("ecdsa"))
    cert_id = listener(clb, lb_id, listener_id)["Certificate"]["CertId"]

    detail = typed_call(ssl, "DescribeCertificateDetail", CertificateId=cert_id)

    assert (detail.CertificateId, detail.Domain, detail.Alias, detail.From) == (cert_id, "ec.example.com", "ecdsa", "upload")
    assert (detail.CertificatePrivateKey, detail.Status, detail.OwnerUin) == (None, 1, DEFAULT_OWNER_UIN)
    assert detail.CertificatePublicKey == make_pki().ecdsa.cert
    assert detail.SubjectAltName == ["ec.example.com"]
    listed = service_checked(ssl, "DescribeCertificates", {"CertIds": [cert_id]})["Certificates"]
    assert [(c["CertificateId"], c["BoundResource"], c["EncryptAlgorithm"]) for c in listed] == [(cert_id, ["clb"], "ECC")]
    assert make_pki().ecdsa.key not in str(service_checked(ssl, "DescribeCertificates", {}))


def test_describe_certificates_filters_and_pages(clients):
    _, ssl = clients
    rsa_id, ec_id = ssl_upload(ssl, "rsa"), ssl_upload(ssl, "ecdsa")
    ca_id = service_checked(ssl, "UploadCertificate", {"CertificatePublicKey": make_pki().ca.cert,
                                                       "CertificateType": "CA"})["CertificateId"]

    assert sorted(certificate_ids(ssl)) == sorted([rsa_id, ec_id, ca_id])
    by_type = service_checked(ssl, "DescribeCertificates", {"CertificateType": "CA"})
    assert [c["CertificateId"] for c in by_type["Certificates"]] == [ca_id]
    by_key = service_checked(ssl, "DescribeCertificates", {"SearchKey": "ec.example"})
    assert [c["CertificateId"] for c in by_key["Certificates"]] == [ec_id]
    page = service_checked(ssl, "DescribeCertificates", {"Limit": 2, "Offset": 2})
    assert (page["TotalCount"], len(page["Certificates"])) == (3, 1)


def test_upload_certificate_not_repeatable_answers_existing_id(clients):
    _, ssl = clients
    first = ssl_upload(ssl)
    pem = make_pki().rsa

    again = typed_call(ssl, "UploadCertificate", CertificatePublicKey=pem.cert, CertificatePrivateKey=pem.key,
                       Repeatable=False)

    assert (again.CertificateId, again.RepeatCertId) == (first, first)
    assert certificate_ids(ssl) == [first]


def test_delete_certificate_unused_removes_it(clients):
    _, ssl = clients
    cert_id = ssl_upload(ssl)

    assert typed_call(ssl, "DeleteCertificate", CertificateId=cert_id).DeleteResult is True

    assert certificate_ids(ssl) == []
    service_refused(ssl, "DescribeCertificateDetail", {"CertificateId": cert_id}, "FailedOperation.CertificateNotFound")


def test_delete_certificate_in_use_refused_and_listener_keeps_serving(clients):
    clb, ssl = clients
    cert_id = ssl_upload(ssl)
    lb_id, vip = create_clb_with_vip(clb)
    create_listener(clb, lb_id, "TCP_SSL", [9455], Certificate={"CertId": cert_id})

    service_refused(ssl, "DeleteCertificate", {"CertificateId": cert_id}, "FailedOperation.DeleteResourceFailed")

    assert certificate_ids(ssl) == [cert_id]
    assert peer_certificate_cn(vip, 9455, None, trusting_context(check_hostname=False)) == "rsa.example.com"


def test_delete_certificate_used_by_sni_domain_refused(clients):
    clb, ssl = clients
    cert_id = ssl_upload(ssl)
    lb_id, _ = create_clb_with_vip(clb)
    (listener_id,) = create_listener(clb, lb_id, "HTTPS", [8455], SniSwitch=1)
    checked(clb, "CreateRule", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Rules": [
        {"Domain": "rsa.example.com", "Url": "/", "Certificate": {"CertId": cert_id}}]})

    service_refused(ssl, "DeleteCertificate", {"CertificateId": cert_id}, "FailedOperation.DeleteResourceFailed")
    assert certificate_ids(ssl) == [cert_id]


@pytest.mark.parametrize(("params", "code"), [
    ({"CertificatePublicKey": "not a pem", "CertificatePrivateKey": "x"}, "FailedOperation.CertificateParseError"),
    ({"CertificatePublicKey": "rsa", "CertificatePrivateKey": "other_key"}, "FailedOperation.CertificateMismatch"),
    ({"CertificatePublicKey": "expired", "CertificatePrivateKey": "expired"}, "FailedOperation.CertificateInvalid"),
    ({"CertificatePublicKey": "rsa"}, "MissingParameter"),
    ({"CertificatePublicKey": "rsa", "CertificatePrivateKey": "rsa", "CertificateType": "KEY"}, "InvalidParameterValue"),
    ({"CertificatePublicKey": "rsa", "CertificatePrivateKey": "rsa", "Alias": "a" * 81}, "InvalidParameterValue.Length"),
    ({"CertificatePublicKey": "rsa", "CertificatePrivateKey": "rsa", "ProjectId": 3}, "UnsupportedOperation"),
    ({"CertificatePublicKey": "rsa", "CertificatePrivateKey": "rsa", "Tags": [{"TagKey": "k", "TagValue": "v"}]},
     "UnsupportedOperation"),
])
def test_upload_certificate_bad_input_answers_documented_code_and_stores_nothing(server, params, code):
    ssl, pki = service_client(server.url, "ssl"), make_pki()
    resolved = {key: _pem(pki, key, value) for key, value in params.items()}

    service_refused(ssl, "UploadCertificate", resolved, code)

    assert certificate_ids(ssl) == []


def _pem(pki, key: str, value):
    if key == "CertificatePublicKey" and hasattr(pki, str(value)):
        return getattr(pki, value).cert
    if key == "CertificatePrivateKey" and value == "other_key":
        return pki.other_key
    if key == "CertificatePrivateKey" and hasattr(pki, str(value)):
        return getattr(pki, value).key
    return value


@pytest.mark.parametrize("action", ["DescribeCertificateDetail", "DeleteCertificate"])
def test_certificate_unknown_id_answers_certificate_not_found(server, action):
    service_refused(service_client(server.url, "ssl"), action, {"CertificateId": "cert-00000000"},
                    "FailedOperation.CertificateNotFound")


@pytest.mark.parametrize(("sign_method", "req_method"), [("HmacSHA256", "POST"), ("HmacSHA1", "GET")])
def test_describe_certificates_v1_signature_lists_uploads(server, sign_method, req_method):
    cert_id = ssl_upload(service_client(server.url, "ssl"))

    assert certificate_ids(service_client(server.url, "ssl", sign_method, req_method)) == [cert_id]


def test_uploaded_certificate_travels_in_state_export_and_goes_with_reset(any_store_server):
    clb, ssl = sdk_client(any_store_server.url), service_client(any_store_server.url, "ssl")
    admin_api = admin_client(any_store_server.url)
    cert_id = ssl_upload(ssl)
    text = export_text(admin_api)

    admin(admin_api, "ResetState")
    assert certificate_ids(ssl) == []
    assert import_state(admin_api, clb, text)["status"]["Status"] == 0

    assert certificate_ids(ssl) == [cert_id]
    assert typed_call(ssl, "DescribeCertificateDetail", CertificateId=cert_id).CertificatePrivateKey is None
