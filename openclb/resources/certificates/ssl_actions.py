"""The SSL service's certificate actions over the certificates CLB listeners use.

A certificate uploaded here is a CLB CertId (CreateListener, ReplaceCertForLoadBalancers), and
one uploaded with a listener is listed and described here: there is one store. Private keys are
sealed on the way in (``sealing.py``) and no answer carries one. A certificate a listener or an
SNI domain uses cannot be deleted (FailedOperation.DeleteResourceFailed).
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import Certificate
from openclb.resources.certificates import queries, ssl_views
from openclb.resources.certificates.actions import certificate_in_use
from openclb.resources.certificates.checks import SSL_UPLOAD_CODES, ca_certificate, server_certificate
from openclb.resources.shared import checks as rules
from openclb.resources.shared.services import Services

MAX_LIMIT = 1000  # DescribeCertificates: "values exceeding 1000 will be treated as 1000"
DEFAULT_LIMIT = 10


async def upload_certificate(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Check and store an upload; with ``Repeatable`` false, an upload already stored answers its id."""
    cert_type = params.get("certificate_type", "SVR")
    rules.check_enum("CertificateType", cert_type, ("SVR", "CA"))
    _check_not_modelled(params)
    alias = params.get("alias") or None
    if cert_type == "SVR":
        if not params.get("certificate_private_key"):
            raise errors.MissingParameter("A SVR certificate needs `CertificatePrivateKey`.")
        certificate = server_certificate(
            ctx.app_id, alias, params["certificate_public_key"], params["certificate_private_key"], "", services.keys,
            SSL_UPLOAD_CODES, ("Alias", "CertificatePublicKey", "CertificatePrivateKey"), default_name="")
    else:
        certificate = ca_certificate(ctx.app_id, alias, params["certificate_public_key"], "", "Alias",
                                     SSL_UPLOAD_CODES, "CertificatePublicKey", default_name="")
    if params.get("repeatable") is False:
        same = await _same_certificate(services, ctx, certificate)
        if same is not None:
            return {"CertificateId": same.id, "RepeatCertId": same.id}
    await services.db(queries.add_certificate, services.store, certificate)
    return {"CertificateId": certificate.id, "RepeatCertId": ""}


async def describe_certificate_detail(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    certificate = await _require_certificate(services, ctx, params["certificate_id"])
    return ssl_views.certificate_detail(certificate, ctx.owner_uin)


async def describe_certificates(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The account's certificates, newest first (or by expiry with ExpirationSort), filtered."""
    offset, limit = params.get("offset", 0), min(params.get("limit") or DEFAULT_LIMIT, MAX_LIMIT)
    if params.get("expiration_sort") is not None:
        rules.check_enum("ExpirationSort", params["expiration_sort"], ("ASC", "DESC"))
    if params.get("certificate_type") is not None:
        rules.check_enum("CertificateType", params["certificate_type"], ("SVR", "CA"))
    certificates = await services.db(queries.account_certificates, services.store, ctx.app_id)
    users = await services.read(services.store.certificate_users, ctx.app_id)
    found = [(c, ssl_views.CertificateFacts.of(c)) for c in certificates]
    found = [(c, facts) for c, facts in found if _matches(c, facts, params)]
    if params.get("expiration_sort"):
        found.sort(key=lambda item: item[1].ends, reverse=params["expiration_sort"] == "DESC")
    page = found[offset:offset + limit]
    return {"TotalCount": len(found),
            "Certificates": [ssl_views.certificate_item(c, ctx.owner_uin, certificate_in_use(users, c.id))
                             for c, _ in page]}


async def delete_certificate(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Refused while a listener or an SNI domain of any CLB uses the certificate."""
    certificate = await _require_certificate(services, ctx, params["certificate_id"])
    users = await services.read(services.store.certificate_users, ctx.app_id)
    if certificate_in_use(users, certificate.id):
        raise errors.FailedOperationDeleteResourceFailed(
            f"The certificate {certificate.id} is used by a CLB listener; unbind it first.")
    if not await services.db(queries.remove_certificate, services.store, ctx.app_id, certificate.id):
        raise errors.FailedOperationCertificateNotFound(f"The certificate {certificate.id} does not exist.")
    return {"DeleteResult": True, "TaskId": None}


def _check_not_modelled(params: dict[str, Any]) -> None:
    """openclb keeps no project or tags for a certificate: asking for them is refused, not ignored."""
    if params.get("project_id"):
        raise errors.UnsupportedOperation("Certificates belong to the default project (ProjectId 0) in openclb.")
    if params.get("tags"):
        raise errors.UnsupportedOperation("openclb keeps no tags for certificates.")


def _matches(certificate: Certificate, facts: ssl_views.CertificateFacts, params: dict[str, Any]) -> bool:
    key = params.get("search_key")
    checks = (
        ("search_key", lambda: key in certificate.id or key in certificate.name or key in facts.domain),
        ("certificate_type", lambda: certificate.cert_type == params["certificate_type"]),
        ("cert_ids", lambda: certificate.id in params["cert_ids"]),
        ("certificate_status", lambda: facts.status in params["certificate_status"]),
        ("deployable", lambda: (certificate.cert_type == "SVR") == bool(params["deployable"])),
        ("filter_source", lambda: params["filter_source"] == "upload"),
        ("is_sm", lambda: not params["is_sm"]),
        ("project_id", lambda: params["project_id"] == 0),
    )
    return all(params.get(name) in (None, "", []) or test() for name, test in checks)


async def _require_certificate(services: Services, ctx: RequestContext, cert_id: str) -> Certificate:
    certificate = await services.read(services.store.get_certificate, ctx.app_id, cert_id)
    if certificate is None:
        raise errors.FailedOperationCertificateNotFound(f"The certificate {cert_id} does not exist.")
    return certificate


async def _same_certificate(services: Services, ctx: RequestContext, upload: Certificate) -> Certificate | None:
    stored = await services.db(queries.account_certificates, services.store, ctx.app_id)
    return next((c for c in stored if c.fingerprint == upload.fingerprint and c.cert_type == upload.cert_type), None)
