"""Stored certificates as the SSL service (2019-12-05) shows them: uploaded certificates, never a private key.

openclb's certificates are all uploads (``From`` ``upload``), issued (``Status`` 1) until they expire
(3). What the SSL service keeps for certificates it sells (orders, validation, hosting, renewal) has
its empty value here, and the members documented as possibly null are null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from openclb.domain.models import Certificate

ISSUED, EXPIRED = 1, 3
STATUS_NAMES = {ISSUED: "Issued", EXPIRED: "Expired"}
_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class CertificateFacts:
    """What the views read from the certificate itself."""

    domain: str
    names: list[str]
    begins: datetime
    ends: datetime

    @classmethod
    def of(cls, certificate: Certificate) -> CertificateFacts:
        cert = x509.load_pem_x509_certificate(certificate.cert_pem.encode())
        common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        domain = str(common[0].value) if common else ""
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName)
        except x509.ExtensionNotFound:
            names = []
        return cls(domain or (names[0] if names else ""), list(names) or ([domain] if domain else []),
                   cert.not_valid_before_utc, cert.not_valid_after_utc)

    @property
    def status(self) -> int:
        return EXPIRED if self.ends < datetime.now(timezone.utc) else ISSUED

    @property
    def validity_months(self) -> str:
        return str(max(round((self.ends - self.begins).days / 30.44), 0))


def _time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(_TIME)


def _inserted(certificate: Certificate) -> str:
    return certificate.created_at[:19].replace("T", " ")


def _extra() -> dict[str, Any]:
    return {"DomainNumber": "1", "OriginCertificateId": None, "ReplacedBy": None, "ReplacedFor": None,
            "RenewOrder": None, "SMCert": 0, "CompanyType": 0}


def _common(certificate: Certificate, facts: CertificateFacts, owner_uin: str) -> dict[str, Any]:
    """The members the list and the detail share."""
    return {
        "CertificateId": certificate.id, "OwnerUin": owner_uin, "ProjectId": "0", "From": "upload",
        "CertificateType": certificate.cert_type, "ProductZhName": "", "Domain": facts.domain,
        "Alias": certificate.name, "Status": facts.status, "StatusName": STATUS_NAMES[facts.status],
        "VulnerabilityStatus": "INACTIVE", "CertBeginTime": _time(facts.begins), "CertEndTime": _time(facts.ends),
        "ValidityPeriod": facts.validity_months, "InsertTime": _inserted(certificate),
        "SubjectAltName": facts.names, "IsVip": False, "IsWildcard": facts.domain.startswith("*."), "IsDv": False,
        "IsVulnerability": False, "RenewAble": False, "Deployable": certificate.cert_type == "SVR", "Tags": [],
        "EncryptAlgorithm": certificate.algorithm, "CertificateExtra": _extra(),
    }


def certificate_item(certificate: Certificate, owner_uin: str, bound: bool) -> dict[str, Any]:
    """One ``Certificates`` entry of DescribeCertificates."""
    facts = CertificateFacts.of(certificate)
    return {
        **_common(certificate, facts, owner_uin),
        "PackageType": "", "StatusMsg": "", "VerifyType": "", "PackageTypeName": "",
        "ProjectInfo": {"ProjectName": "Default Project", "ProjectCreatorUin": int(owner_uin),
                        "ProjectCreateTime": "", "ProjectResume": "", "OwnerUin": int(owner_uin), "ProjectId": "0"},
        "BoundResource": ["clb"] if bound else [], "IsIgnore": False, "IsSM": False,
        "CAEncryptAlgorithms": [], "CAEndTimes": [], "CACommonNames": [],
        "PreAuditInfo": {"TotalPeriod": 0, "NowPeriod": 0, "ManagerId": ""},
        "AutoRenewFlag": 0, "HostingStatus": 0, "HostingCompleteTime": "", "HostingRenewCertId": "",
        "HasRenewOrder": "", "ReplaceOriCertIsDelete": False, "IsExpiring": False, "DVAuthDeadline": "",
        "ValidationPassedTime": "", "CertSANs": facts.names, "AwaitingValidationMsg": "", "AllowDownload": False,
        "IsDNSPODResolve": False, "IsPackage": False, "KeyPasswordCustomFlag": False,
        "SupportDownloadType": {"NGINX": False, "APACHE": False, "TOMCAT": False, "IIS": False, "JKS": False,
                                "OTHER": False, "ROOT": False},
    }


def certificate_detail(certificate: Certificate, owner_uin: str) -> dict[str, Any]:
    """DescribeCertificateDetail: the certificate PEM; the private key is never returned."""
    facts = CertificateFacts.of(certificate)
    return {
        **_common(certificate, facts, owner_uin),
        "PackageType": None, "StatusMsg": None, "VerifyType": None, "OrderId": None,
        "CertificatePrivateKey": None, "CertificatePublicKey": certificate.cert_pem, "DvAuthDetail": None,
        "VulnerabilityReport": None, "TypeName": None, "SubmittedData": None,
        "RootCert": {"Sign": None, "Encrypt": None, "Standard": None}, "EncryptCert": None,
        "EncryptPrivateKey": None, "CertFingerprint": certificate.fingerprint, "EncryptCertFingerprint": None,
        "DvRevokeAuthDetail": None,
    }
