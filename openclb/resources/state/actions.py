"""ExportState, ImportState and ResetState: the admin API's snapshots of an account (``api/admin.py``).

- ExportState: the calling account's state document (``document.py``) as the string ``State``.
- ImportState: a document into the calling account, under the same ids and VIPs, as one task
  (TaskId = RequestId, DescribeTaskStatus follows it): Status 0 once the engine serves every
  listener, Status 1 with nothing left behind otherwise. An account that holds anything is
  refused unless ``Replace`` (which resets it first).
- ResetState: every resource of the calling account (or, on a server started with
  ``--faults``, of every account with ``AllAccounts``) gone in one call: its tasks stop, its
  rows go in one transaction, its ports are closed when the answer comes, its injected faults
  are cleared.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import TaskKind
from openclb.resources.shared.services import Services
from openclb.resources.state import queries, snapshots


async def export_state(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document = await services.db(snapshots.export_document, services.store, services.keys, ctx.app_id,
                                 bool(params.get("include_private_keys")))
    return {"State": snapshots.dumps(document)}


async def import_state(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document = snapshots.parse(params["state"])
    state = await services.db(snapshots.plan_import, document, ctx.app_id, services.keys)
    if params.get("replace"):
        await reset_accounts(services, ctx.app_id)
    elif await services.db(queries.holds_anything, services.store, ctx.app_id):
        raise snapshots.not_empty()
    lb_ids = [lb.id for lb in state.load_balancers]
    try:
        await services.start_task(
            ctx, TaskKind.IMPORT_STATE, lb_ids,
            lambda task: queries.import_with_task(services.store, snapshots.pending(state, task), task),
        )
    except queries.StateConflict as exc:
        raise errors.ResourceInUse(str(exc)) from None
    return {"TaskId": ctx.request_id, "LoadBalancerIds": lb_ids}


async def reset_state(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    every_account = bool(params.get("all_accounts"))
    if every_account and services.faults is None:
        raise errors.UnauthorizedOperation(
            "`AllAccounts` resets other accounts too: it is accepted only by a server started with --faults.")
    return {"LoadBalancerIds": await reset_accounts(services, None if every_account else ctx.app_id)}


async def reset_accounts(services: Services, app_id: int | None) -> list[str]:
    """Remove the account's resources (every account's with None); the ids of the CLBs removed."""
    lb_ids = await services.db(queries.load_balancer_ids, services.store, app_id)
    await services.worker.cancel_account(app_id)
    await services.db(queries.delete_state, services.store, app_id)
    await services.worker.remove_load_balancers(lb_ids)
    if services.faults is not None:
        services.faults.clear(app_id)
    return lb_ids
