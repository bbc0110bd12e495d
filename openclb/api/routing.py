"""Which service a call is for: several Tencent Cloud services answer on the one endpoint.

The Terraform provider and the SDKs call CLB and its neighbours (tag, vpc, ssl, sts) at
``<service>.<domain>``; pointed at openclb, every one of those names reaches this port. A call
names its service three ways, used in this order:
- ``X-TC-Version`` / ``Version``: each service has its own (``spec.services_of_version``), except
  that tag and sts share 2018-08-13; openclb's admin service has its own (``admin.VERSION``).
- the TC3 credential scope's service (``Credential=<id>/<date>/<service>/tc3_request``), which
  the signature covers;
- for a v1 signature, which carries no service, the Host's first label (``sts.example.test``)
  and, failing that, which of the candidates has the action (GetCallerIdentity is sts's).
A TC3 scope naming a served service must name the one the Version chose (AuthFailure.
InvalidAuthorization, as for a scope naming a service openclb does not serve: ``auth.py``).
Host may be anything: it never overrides the Version.
"""

from __future__ import annotations

from openclb import errors
from openclb.api import admin, auth, parser, regions, spec

LANGUAGES = frozenset({"zh-CN", "en-US"})
# Region is a common parameter these services document as not needed ("This API does not
# require Region"): asked without one, they still answer; a Region given must be a region.
REGION_OPTIONAL = frozenset({"tag", "ssl", "sts"})


def resolve_service(call: parser.ApiCall, host: str, signed_for: str | None) -> str:
    """The service ``call`` is for, its action checked to exist there; Region and Language checked."""
    if not call.version:
        raise errors.MissingParameter("The request is missing a required parameter `Version`.")
    candidates = (admin.SERVICE,) if call.version == admin.VERSION else spec.services_of_version(call.version)
    if not candidates:
        served = ", ".join(f"{name} {spec.catalog(name).api_version}" for name in sorted(spec.SERVICE_NAMES))
        raise errors.NoSuchVersion(f"The API version `{call.version}` does not exist; openclb serves {served}.")
    service = _chosen(candidates, call.action, signed_for, host)
    if call.action not in _action_names(service):
        hint = ""
        if service == spec.CLB and call.action in admin.ACTION_NAMES:
            hint = f" in version {call.version}: openclb's admin actions are version {admin.VERSION}"
        raise errors.InvalidAction(f"The requested action `{call.action}` does not exist{hint}.")
    if call.region or service not in REGION_OPTIONAL:
        regions.check_region(call.region, host)
    if call.language and call.language not in LANGUAGES:
        raise errors.InvalidParameterValue(
            f"The value `{call.language}` of parameter `Language` is invalid; use zh-CN or en-US."
        )
    return service


def check_scope(call: parser.ApiCall, service: str, signed_for: str | None) -> None:
    """A TC3 scope naming a served service must name the one called."""
    if call.kind is parser.SignatureKind.TC3 and signed_for in auth.SERVED_SERVICES and signed_for != service:
        raise errors.AuthFailureInvalidAuthorization(
            f"`Service` in Credential not valid: version {call.version} is the service `{service}`.")


def _chosen(candidates: tuple[str, ...], action: str, signed_for: str | None, host: str) -> str:
    if len(candidates) == 1:
        return candidates[0]
    first_label = regions.bare_host(host).split(".", 1)[0]
    for named in (signed_for, first_label):
        if named in candidates:
            return named
    having = [name for name in candidates if action in _action_names(name)]
    return (having or list(candidates))[0]


def _action_names(service: str) -> frozenset[str]:
    return admin.ACTION_NAMES if service == admin.SERVICE else spec.catalog(service).all_action_names
