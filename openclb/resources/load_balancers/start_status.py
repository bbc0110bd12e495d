"""SetLoadBalancerStartStatus: stop a CLB (or some of its listeners) and start it again.

Stopping really closes the ports: a stopped listener is left out of the CLB's desired state,
so the engine retires it (ports closed at once, established connections drained) and a client
is refused. A whole-CLB Stop marks the CLB and every listener it has; a listener of a stopped
CLB serves nothing even when its own mark is cleared. DescribeListeners shows a stopped
listener with ``AttrFlags`` ``Stop`` (digest: SetLoadBalancerStartStatus), DescribeLoadBalancers
a stopped CLB with ``AttributeFlags`` ``Stop``; ``Status`` stays 1 (the API documents only 0
creating and 1 normal). Starting binds the ports again; a port another process took meanwhile
fails the task (Status 1) and leaves the listener stopped.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import ProvisioningState, TaskKind
from openclb.resources.listeners.settings import ListenerSettings
from openclb.resources.load_balancers import queries
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared import checks as rules
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services


async def set_load_balancer_start_status(
    services: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    rules.check_enum("OperationType", params["operation_type"], ("Start", "Stop"))
    stop = params["operation_type"] == "Stop"
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    listeners = [l for l in await services.read(services.store.list_listeners, ctx.scope, lb.id)
                 if l.state is not ProvisioningState.PENDING_DELETE]
    wanted = list(dict.fromkeys(params.get("listener_ids") or []))
    missing = sorted(set(wanted) - {l.id for l in listeners})
    if missing:
        raise errors.InvalidParameterListenerIdNotFound(f"some ListenerId {missing} not found in LoadBalancer {lb.id}.")
    chosen = [l for l in listeners if not wanted or l.id in wanted]
    lb_settings = None if wanted else LoadBalancerSettings.of(lb).merged({"stopped": stop}).to_stored()
    listener_settings = {l.id: ListenerSettings.of(l).merged({"stopped": stop}).to_stored() for l in chosen}
    await services.start_task(
        ctx, TaskKind.SET_START_STATUS, [lb.id],
        lambda task: queries.set_stopped(services.store, ctx.scope, lb.id, lb_settings, listener_settings, task))
    return {}
