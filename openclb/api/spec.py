"""The CLB API contract as data: the generated actions and shapes, indexed, and lookups.

``types.py`` is generated from tccli's ``api.json`` by ``codegen.py`` and holds, for every action,
its request and response shape names, and for every shape its members: name, wire type, member
kind, and the requiredness flags. Nothing else of the spec (no prose, no examples) is kept.

The types it is written in live in ``shapes.py``; the catalog indexes it once (``catalog()``).
Everything here is immutable. The lookups also answer for the admin service's actions and
shapes (``admin.py``, openclb's own, not part of the CLB spec: ``ACTION_NAMES`` leaves them out),
so one validator serves both services.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from openclb import errors
from openclb.api import admin, types as generated
from openclb.api.shapes import KINDS_OF_SCALAR_TYPE, SCALAR_KINDS, WIRE_TYPES, Action, Member, Shape

__all__ = ["KINDS_OF_SCALAR_TYPE", "SCALAR_KINDS", "WIRE_TYPES", "Action", "Member", "Shape", "catalog"]

# Served by the module ``__getattr__`` below; the bare annotation documents it for type checkers.
ACTION_NAMES: frozenset[str]


@dataclass(frozen=True)
class Catalog:
    """The generated actions and shapes, indexed by name."""

    api_version: str
    actions: Mapping[str, Action]
    shapes: Mapping[str, Shape]

    @property
    def action_names(self) -> frozenset[str]:
        return frozenset(self.actions)


@functools.cache
def catalog() -> Catalog:
    return Catalog(
        api_version=generated.API_VERSION,
        actions=MappingProxyType({a.name: a for a in generated.ACTIONS}),
        shapes=MappingProxyType({s.name: s for s in generated.SHAPES}),
    )


def __getattr__(name: str) -> object:
    # ACTION_NAMES is a module constant to callers but needs the generated module (see docstring).
    if name == "ACTION_NAMES":
        return catalog().action_names
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _action(action: str) -> Action:
    found = catalog().actions.get(action) or admin.ACTIONS_BY_NAME.get(action)
    if found is None:
        raise errors.InvalidAction(f"The requested action `{action}` does not exist.")
    return found


def input_shape(action: str) -> Shape:
    """The request shape of ``action``; an unknown action is ``InvalidAction``."""
    return object_shape(_action(action).input)


def output_shape(action: str) -> Shape:
    """The response shape of ``action`` (it includes ``RequestId``); unknown → ``InvalidAction``."""
    return object_shape(_action(action).output)


def object_shape(name: str) -> Shape:
    """A shape by name; an unknown name is a bug in the caller, so ``KeyError``."""
    found = catalog().shapes.get(name) or admin.SHAPES_BY_NAME.get(name)
    if found is None:
        raise KeyError(name)
    return found
