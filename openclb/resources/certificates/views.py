"""Certificate settings of a listener or an SNI domain → the API's CertificateOutput."""

from __future__ import annotations

from typing import Any


def certificate(cert: dict[str, Any] | None) -> dict[str, Any] | None:
    if not cert:
        return None
    return {
        "SSLMode": cert.get("ssl_mode") or "UNIDIRECTIONAL",
        "SSLVerifyClient": cert.get("ssl_verify_client") or "",
        "CertId": cert.get("cert_id") or "",
        "CertCaId": cert.get("cert_ca_id") or "",
        "ExtCertIds": list(cert.get("ext_cert_ids") or []),
    }
