"""Snapshots as the admin API and the command line share them: export, check an import, reset.

Used by the handlers (``actions.py``, a running server) and by ``openclb state`` on a data dir
(``cli_state.py``, a stopped server: its next start serves what was imported). Every function
is synchronous and runs on the store's thread.

``plan_import`` checks a document completely before anything is written: its structure and
ranges (``document.from_document``), that every certificate its settings name is in it, and
that every CLB of it can be built into the engine's desired state (the same builder the worker
uses), so settings the engine could not read are refused with ``InvalidParameterValue`` and not
discovered by a failing task.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from openclb import errors
from openclb.domain.models import ProvisioningState, Task
from openclb.reconcile.snapshot import Snapshot, certificate_ids
from openclb.resources.certificates.sealing import PrivateKeySealer
from openclb.resources.desired_state import desired_state
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.load_balancers.terms import PrepaidTerm
from openclb.resources.state import queries
from openclb.resources.state.document import AccountState, from_document, to_document
from openclb.store.store import Store


def export_document(store: Store, keys: PrivateKeySealer, app_id: int, include_private_keys: bool = False) -> dict:
    return to_document(queries.read_account(store, app_id), keys, include_private_keys)


def dumps(document: dict[str, Any]) -> str:
    """The one text of a document: two-space indents, members in the documented order."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def parse(text: str, path: str = "State") -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise errors.InvalidParameterValue(f"`{path}` is not a JSON document: {exc.msg} at {exc.pos}.") from None


def plan_import(document: Any, app_id: int, keys: PrivateKeySealer, path: str = "State") -> AccountState:
    """The rows ``document`` describes for ``app_id``, ACTIVE, once every check has passed."""
    state = from_document(document, app_id, keys, path)
    certificates = {c.id: c for c in state.certificates}
    for index, lb in enumerate(state.load_balancers):
        where = f"{path}.LoadBalancers.{index}"
        listeners = tuple(l for l in state.listeners if l.lb_id == lb.id)
        rules = tuple(r for r in state.rules if r.lb_id == lb.id)
        missing = sorted(certificate_ids(listeners, rules) - set(certificates))
        if missing:
            raise errors.InvalidParameterValue(f"`{where}` uses the certificates {missing}, which the state lacks.")
        associations = tuple(a for a in state.target_group_associations if a.lb_id == lb.id)
        groups = {a.target_group_id for a in associations}
        security = {g.id: g for g in state.security_groups}
        bound = (lb.settings or {}).get("security_groups")
        unknown = sorted(set(bound if isinstance(bound, list) else []) - set(security))
        if unknown:
            raise errors.InvalidParameterValue(f"`{where}` binds the security groups {unknown}, which the state lacks.")
        snapshot = Snapshot(lb, listeners, tuple(t for t in state.targets if t.lb_id == lb.id), rules,
                            {i: certificates[i] for i in certificate_ids(listeners, rules)}, associations,
                            tuple(i for i in state.target_group_instances if i.target_group_id in groups), security)
        try:
            LoadBalancerSettings.of(lb)
            PrepaidTerm.of(lb)
            desired_state(snapshot, keys)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise errors.InvalidParameterValue(
                f"`{where}` has settings this openclb cannot serve ({type(exc).__name__}: {str(exc)[:120]}).") from None
    return state


def pending(state: AccountState, task: Task) -> AccountState:
    """The rows as an ImportState task writes them: pending until the engine serves them."""
    return replace(
        state,
        load_balancers=tuple(replace(lb, status=0, state=ProvisioningState.PENDING_CREATE, busy_task_id=task.id)
                             for lb in state.load_balancers),
        listeners=tuple(replace(l, state=ProvisioningState.PENDING_CREATE, pending_task_id=task.id)
                        for l in state.listeners),
    )


def import_offline(
    store: Store, keys: PrivateKeySealer, app_id: int, document: Any, replace_existing: bool
) -> AccountState:
    """``openclb state import`` on a stopped server's store: checked, then written ACTIVE at once."""
    state = plan_import(document, app_id, keys)
    if replace_existing:
        queries.delete_state(store, app_id)
    elif queries.holds_anything(store, app_id):
        raise not_empty()
    try:
        queries.import_directly(store, state)
    except queries.StateConflict as exc:
        raise errors.ResourceInUse(str(exc)) from None
    return state


def not_empty() -> errors.ApiError:
    return errors.FailedOperation(
        "The account already holds load balancers, certificates or security groups: reset it first (ResetState), "
        "or import with Replace (--replace).")
