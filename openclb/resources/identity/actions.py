"""sts GetCallerIdentity: read from the request's account, nothing stored."""

from __future__ import annotations

from typing import Any

from openclb.context import RequestContext
from openclb.resources.identity import views
from openclb.resources.shared.services import Services


async def get_caller_identity(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The account the signing key belongs to; the provider builds ``qcs::clb:REGION:uin/UIN:...`` from it."""
    return views.caller_identity(ctx.owner_uin)
