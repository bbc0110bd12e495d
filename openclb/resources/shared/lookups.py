"""Lookups every action starts with: the named resource of this account and region, or its error.

Each lookup answers with one error code, the one the official clients match on: a CLB that is
missing or being deleted is ``InvalidParameter.LBIdNotFound``; a listener that is not on the
CLB is ``InvalidParameter.ListenerIdNotFound``.
"""

from __future__ import annotations

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import Listener, LoadBalancer, ProvisioningState
from openclb.resources.shared.services import Services


async def require_load_balancer(services: Services, ctx: RequestContext, lb_id: str) -> LoadBalancer:
    """The CLB of this account and region, or InvalidParameter.LBIdNotFound as clients expect."""
    return found_load_balancer(await services.read(services.store.get_load_balancer, ctx.scope, lb_id), lb_id)


def found_load_balancer(lb: LoadBalancer | None, lb_id: str) -> LoadBalancer:
    """``lb`` as read from the store, unless it is missing or being deleted: LBIdNotFound."""
    if lb is None or lb.state is ProvisioningState.PENDING_DELETE:
        raise errors.InvalidParameterLBIdNotFound(f"LoadBalancer not exist: {lb_id}.")
    return lb


async def require_listener(services: Services, ctx: RequestContext, lb_id: str, listener_id: str) -> Listener:
    for listener in await services.read(services.store.list_listeners, ctx.scope, lb_id):
        if listener.id == listener_id:
            return listener
    raise errors.InvalidParameterListenerIdNotFound(f"some ListenerId ['{listener_id}'] not found in LoadBalancer {lb_id}.")
