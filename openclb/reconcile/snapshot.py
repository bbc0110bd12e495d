"""One CLB's rows as the store holds them: what the desired state is built from.

``read_snapshot`` reads a CLB's listeners, targets, rules, the certificates they name and the
target groups they forward to (associations and the groups' instances) in one store trip; the worker (and ``openclb render``) hand the snapshot to the desired-state
builder the composition root gives them (``resources.desired_state``), which knows what the
rows' settings mean. This module knows only the rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from openclb.domain.models import Certificate, Listener, LoadBalancer, Rule, Target
from openclb.domain.security_groups import SecurityGroup
from openclb.domain.target_groups import TargetGroupAssociation, TargetGroupInstance
from openclb.store import security_groups
from openclb.store.store import Store
from openclb.store.target_groups import group_targets_of


@dataclass(frozen=True)
class Snapshot:
    load_balancer: LoadBalancer
    listeners: tuple[Listener, ...]
    targets: tuple[Target, ...]
    rules: tuple[Rule, ...]
    certificates: dict[str, Certificate]
    associations: tuple[TargetGroupAssociation, ...] = ()
    group_instances: tuple[TargetGroupInstance, ...] = ()
    security_groups: dict[str, SecurityGroup] = field(default_factory=dict)


def read_snapshot(store: Store, lb: LoadBalancer, listeners: Iterable[Listener] | None = None) -> Snapshot:
    """Every row one CLB's desired state needs (``listeners`` when the caller has them already)."""
    listeners = tuple(store.listeners_of(lb.id) if listeners is None else listeners)
    rules = tuple(store.rules_of(lb.id))
    certificates = store.certificates_by_id(certificate_ids(listeners, rules))
    associations, group_instances = group_targets_of(store, lb.id)
    groups = security_groups.by_ids(store, (lb.settings or {}).get("security_groups") or ())
    return Snapshot(lb, listeners, tuple(store.targets_of(lb.id)), rules, certificates, associations, group_instances,
                    groups)


def certificate_ids(listeners: Iterable[Listener], rules: Iterable[Rule]) -> set[str]:
    """Every certificate id the listeners and rules of one CLB refer to."""
    found: set[str] = set()
    for settings in [*(l.settings for l in listeners), *(r.settings for r in rules)]:
        certificate = settings.get("certificate") or {}
        found.update(i for i in (certificate.get("cert_id"), certificate.get("cert_ca_id")) if i)
        found.update(certificate.get("ext_cert_ids", []))
    return found
