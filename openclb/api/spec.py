"""The API contracts as data: each served service's generated actions and shapes, indexed, and lookups.

``types.py`` (CLB) and ``types_<service>.py`` (tag, vpc, ssl, sts) are generated from tccli's
``api.json`` by ``codegen.py`` and hold, for every generated action, its request and response
shape names, and for every shape its members: name, wire type, member kind, and the requiredness
flags. Nothing else of the spec (no prose, no examples) is kept.

The types they are written in live in ``shapes.py``; ``catalog(service)`` indexes one service once.
Shape names repeat across services (``Filter``, ``Tag``), so every lookup is per service; the
default is CLB. Everything here is immutable. CLB's lookups also answer for the admin service's
actions and shapes (``admin.py``, openclb's own, not part of the CLB spec: ``ACTION_NAMES`` leaves
them out), so one validator serves every service.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from openclb import errors
from openclb.api import admin, types as generated, types_ssl, types_sts, types_tag, types_vpc
from openclb.api.shapes import KINDS_OF_SCALAR_TYPE, SCALAR_KINDS, STRING_KINDS, WIRE_TYPES, Action, Member, Shape

__all__ = [
    "KINDS_OF_SCALAR_TYPE", "SCALAR_KINDS", "STRING_KINDS", "WIRE_TYPES", "Action", "Member", "Shape", "catalog",
]

CLB = "clb"
# The neighbouring services answered on the same endpoint, by service name (the TC3 scope's).
_NEIGHBOURS = MappingProxyType({module.SERVICE: module for module in (types_tag, types_vpc, types_ssl, types_sts)})

# Served by the module ``__getattr__`` below; the bare annotation documents it for type checkers.
ACTION_NAMES: frozenset[str]


@dataclass(frozen=True)
class Catalog:
    """One service's generated actions and shapes, indexed by name.

    ``all_action_names``: every action the service has, generated or not (an action outside it
    does not exist; one inside it but not generated exists and is not served).
    """

    service: str
    api_version: str
    actions: Mapping[str, Action]
    shapes: Mapping[str, Shape]
    all_action_names: frozenset[str]

    @property
    def action_names(self) -> frozenset[str]:
        return frozenset(self.actions)


SERVICE_NAMES = frozenset({CLB, *_NEIGHBOURS})


@functools.cache
def catalog(service: str = CLB) -> Catalog:
    """The catalog of a served service (``SERVICE_NAMES``); another name is a bug, so ``KeyError``."""
    module = generated if service == CLB else _NEIGHBOURS[service]
    return Catalog(
        service=service,
        api_version=module.API_VERSION,
        actions=MappingProxyType({a.name: a for a in module.ACTIONS}),
        shapes=MappingProxyType({s.name: s for s in module.SHAPES}),
        all_action_names=frozenset(getattr(module, "ALL_ACTION_NAMES", (a.name for a in module.ACTIONS))),
    )


def services_of_version(version: str) -> tuple[str, ...]:
    """The served services whose API version is ``version`` (tag and sts share 2018-08-13), sorted."""
    return tuple(sorted(name for name in SERVICE_NAMES if catalog(name).api_version == version))


def __getattr__(name: str) -> object:
    # ACTION_NAMES is a module constant to callers but needs the generated module (see docstring).
    if name == "ACTION_NAMES":
        return catalog().action_names
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _action(action: str, service: str) -> Action:
    found = catalog(_catalog_name(service)).actions.get(action)
    if found is None and service in (CLB, admin.SERVICE):
        found = admin.ACTIONS_BY_NAME.get(action)
    if found is None:
        raise errors.InvalidAction(f"The requested action `{action}` does not exist.")
    return found


def _catalog_name(service: str) -> str:
    return CLB if service == admin.SERVICE else service


def input_shape(action: str, service: str = CLB) -> Shape:
    """The request shape of ``action``; an unknown action is ``InvalidAction``."""
    return object_shape(_action(action, service).input, service)


def output_shape(action: str, service: str = CLB) -> Shape:
    """The response shape of ``action`` (it includes ``RequestId``); unknown → ``InvalidAction``."""
    return object_shape(_action(action, service).output, service)


def object_shape(name: str, service: str = CLB) -> Shape:
    """A shape by name; an unknown name is a bug in the caller, so ``KeyError``."""
    found = catalog(_catalog_name(service)).shapes.get(name)
    if found is None and service in (CLB, admin.SERVICE):
        found = admin.SHAPES_BY_NAME.get(name)
    if found is None:
        raise KeyError(name)
    return found
