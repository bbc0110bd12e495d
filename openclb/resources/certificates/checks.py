"""Certificates given to listeners: uploaded PEM is checked and stored, CertIds are resolved.

An upload (CertName + CertContent + CertKey, or CertCaName + CertCaContent) must parse, the
key must match the certificate, and the certificate must be valid now; it then becomes a
stored certificate with a CertId that later calls may reference. Private keys are stored
for the account alone, sealed (``sealing.py``) before they reach the store, and never
returned by any Describe call; no message quotes an uploaded value.

Names: the spec gives CertName and CertCaName no length (CertificateInput, CertInfo); openclb
holds them to the CLB naming rule of LoadBalancerName and ListenerName (1–80 characters, no
control or supplementary characters; ``InvalidParameterValue.Length`` past it), on every store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from openclb import errors
from openclb.domain.models import Certificate
from openclb.resources.certificates.sealing import PrivateKeySealer
from openclb.resources.shared import checks as rules, ids
from openclb.resources.shared.clock import sortable_now


@dataclass(frozen=True)
class UploadCodes:
    """The codes an upload's refusals carry: CLB answers InvalidParameterValue for each; the SSL
    service has its own (``SSL_UPLOAD_CODES``, from the ssl SDK's errorcodes)."""

    unparsable: type[errors.ApiError] = errors.InvalidParameterValue
    not_valid_now: type[errors.ApiError] = errors.InvalidParameterValue
    key_mismatch: type[errors.ApiError] = errors.InvalidParameterValue


CLB_UPLOAD_CODES = UploadCodes()
SSL_UPLOAD_CODES = UploadCodes(errors.FailedOperationCertificateParseError, errors.FailedOperationCertificateInvalid,
                               errors.FailedOperationCertificateMismatch)


def _load_cert(pem: str, wire: str, codes: UploadCodes = CLB_UPLOAD_CODES) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise codes.unparsable(f"`{wire}` is not a valid PEM certificate.") from exc


def _check_validity(cert: x509.Certificate, wire: str, codes: UploadCodes = CLB_UPLOAD_CODES) -> None:
    """Certificates must be valid now: not expired and not yet-to-come."""
    now = datetime.now(timezone.utc)
    if cert.not_valid_after_utc < now:
        raise codes.not_valid_now(f"The certificate in `{wire}` has expired.")
    if cert.not_valid_before_utc > now:
        raise codes.not_valid_now(f"The certificate in `{wire}` is not valid yet.")


def _algorithm(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECC"
    raise errors.InvalidParameterValue("Only RSA and ECDSA certificates are supported.")


def _check_key_matches(cert: x509.Certificate, key_pem: str, wire: str, codes: UploadCodes = CLB_UPLOAD_CODES) -> None:
    """The uploaded private key must be the one the certificate's public key belongs to."""
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise codes.unparsable(f"`{wire}` is not a valid unencrypted PEM private key.") from exc
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, fmt) != cert.public_key().public_bytes(enc, fmt):
        raise codes.key_mismatch(f"The private key in `{wire}` does not match the certificate.")


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def check_cert_name(wire: str, name: str | None) -> None:
    """CertName / CertCaName: the CLB naming rule (1–80 characters; see the module docstring)."""
    rules.check_name(wire, name)


def server_certificate(
    app_id: int, name: str | None, content: str, key: str, prefix: str, sealer: PrivateKeySealer,
    codes: UploadCodes = CLB_UPLOAD_CODES, wires: tuple[str, str, str] = ("CertName", "CertContent", "CertKey"),
    default_name: str = "openclb-cert",
) -> Certificate:
    """A checked upload as a row to store: its private key sealed under the new certificate id."""
    name_wire, content_wire, key_wire = (prefix + wire for wire in wires)
    check_cert_name(name_wire, name)
    cert = _load_cert(content, content_wire, codes)
    _check_validity(cert, content_wire, codes)
    _check_key_matches(cert, key, key_wire, codes)
    cert_id = ids.certificate_id()
    return Certificate(
        id=cert_id, app_id=app_id, name=name or default_name, cert_type="SVR",
        cert_pem=content, key_pem=sealer.seal(cert_id, key), fingerprint=_fingerprint(cert),
        algorithm=_algorithm(cert), not_after=cert.not_valid_after_utc.isoformat(), created_at=sortable_now(),
    )


def ca_certificate(app_id: int, name: str | None, content: str, prefix: str, name_wire: str = "CertCaName",
                   codes: UploadCodes = CLB_UPLOAD_CODES, content_wire: str = "CertCaContent",
                   default_name: str = "openclb-ca") -> Certificate:
    check_cert_name(f"{prefix}{name_wire}", name)
    cert = _load_cert(content, f"{prefix}{content_wire}", codes)
    _check_validity(cert, f"{prefix}{content_wire}", codes)
    return Certificate(
        id=ids.certificate_id(), app_id=app_id, name=name or default_name, cert_type="CA",
        cert_pem=content, key_pem=None, fingerprint=_fingerprint(cert), algorithm=_algorithm(cert),
        not_after=cert.not_valid_after_utc.isoformat(), created_at=sortable_now(),
    )


class CertificatePlan:
    """Resolves a CertificateInput / MultiCertInfo into stored ids plus the uploads to store."""

    def __init__(self, app_id: int, lookup, sealer: PrivateKeySealer) -> None:
        self.app_id = app_id
        self.lookup = lookup
        self.sealer = sealer
        self.uploads: list[Certificate] = []

    def _existing(self, cert_id: str, cert_type: str, wire: str) -> str:
        found = self.lookup(self.app_id, cert_id)
        if found is None or found.cert_type != cert_type:
            raise errors.InvalidParameter(f"The certificate `{cert_id}` given in `{wire}` was not found.")
        return found.id

    def server(self, item: dict[str, Any], wire: str) -> tuple[str, str]:
        if item.get("cert_id"):
            cert_id = self._existing(item["cert_id"], "SVR", f"{wire}CertId")
            return cert_id, self.lookup(self.app_id, cert_id).algorithm
        for key, name in (("cert_content", "CertContent"), ("cert_key", "CertKey")):
            if not item.get(key):
                raise errors.MissingParameter(f"The request is missing a required parameter `{wire}{name}`.")
        cert = server_certificate(self.app_id, item.get("cert_name"), item["cert_content"], item["cert_key"], wire,
                                  self.sealer)
        self.uploads.append(cert)
        return cert.id, cert.algorithm

    def ca(self, item: dict[str, Any], wire: str) -> str:
        if item.get("cert_ca_id"):
            return self._existing(item["cert_ca_id"], "CA", f"{wire}CertCaId")
        if not item.get("cert_ca_content"):
            raise errors.MissingParameter(
                f"Mutual authentication needs a CA certificate: `{wire}CertCaId` or `{wire}CertCaContent`."
            )
        cert = ca_certificate(self.app_id, item.get("cert_ca_name"), item["cert_ca_content"], wire)
        self.uploads.append(cert)
        return cert.id

    def _is_ca_item(self, item: dict[str, Any]) -> bool:
        """In a CertList a CA is a stored CA certificate, or an upload without a private key."""
        if item.get("cert_id"):
            found = self.lookup(self.app_id, item["cert_id"])
            return found is not None and found.cert_type == "CA"
        return bool(item.get("cert_content")) and not item.get("cert_key")

    def _ca_item(self, item: dict[str, Any], wire: str) -> str:
        if item.get("cert_id"):
            return self._existing(item["cert_id"], "CA", f"{wire}CertId")
        cert = ca_certificate(self.app_id, item.get("cert_name"), item["cert_content"], wire, "CertName")
        self.uploads.append(cert)
        return cert.id

    def from_certificate_input(self, cert: dict[str, Any]) -> dict[str, Any]:
        """CertificateInput: SSLMode UNIDIRECTIONAL|MUTUAL; MUTUAL needs a CA; SSLVerifyClient ON|OPTIONAL."""
        mode = cert.get("ssl_mode") or "UNIDIRECTIONAL"
        _check_mode(mode, cert.get("ssl_verify_client"), "Certificate.")
        cert_id, _ = self.server(cert, "Certificate.")
        stored = {"ssl_mode": mode, "cert_id": cert_id, "ext_cert_ids": []}
        if mode == "MUTUAL":
            stored["cert_ca_id"] = self.ca(cert, "Certificate.")
            stored["ssl_verify_client"] = cert.get("ssl_verify_client") or "ON"
        return stored

    def from_multi_cert_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """MultiCertInfo: one server certificate per algorithm (RSA, ECC); MUTUAL needs a CA."""
        mode = info["ssl_mode"]
        _check_mode(mode, info.get("ssl_verify_client"), "MultiCertInfo.")
        server_ids, cas, algorithms = [], [], set()
        for index, item in enumerate(info["cert_list"]):
            wire = f"MultiCertInfo.CertList.{index}."
            if self._is_ca_item(item):
                cas.append(self._ca_item(item, wire))
                continue
            cert_id, algorithm = self.server(item, wire)
            if algorithm in algorithms:
                raise errors.InvalidParameterValue(f"`MultiCertInfo` may carry only one {algorithm} certificate.")
            algorithms.add(algorithm)
            server_ids.append(cert_id)
        if not server_ids:
            raise errors.MissingParameter("`MultiCertInfo.CertList` must contain a server certificate.")
        stored = {"ssl_mode": mode, "cert_id": server_ids[0], "ext_cert_ids": server_ids[1:]}
        if mode == "MUTUAL":
            if not cas:
                raise errors.MissingParameter("Mutual authentication needs a CA certificate in `MultiCertInfo.CertList`.")
            stored["cert_ca_id"] = cas[0]
            stored["ssl_verify_client"] = info.get("ssl_verify_client") or "ON"
        return stored


def _check_mode(mode: str, verify_client: str | None, wire: str) -> None:
    if mode not in ("UNIDIRECTIONAL", "MUTUAL"):
        raise errors.InvalidParameterValue(f"`{wire}SSLMode` must be UNIDIRECTIONAL or MUTUAL.")
    if verify_client is not None:
        if verify_client not in ("ON", "OPTIONAL"):
            raise errors.InvalidParameterValue(f"`{wire}SSLVerifyClient` must be ON or OPTIONAL.")
        if mode != "MUTUAL":
            raise errors.InvalidParameterValue(f"`{wire}SSLVerifyClient` applies only to SSLMode MUTUAL.")
