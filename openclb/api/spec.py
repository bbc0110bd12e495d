"""The CLB API contract as data: the small types the generated ``types.py`` is written in, and lookups.

``types.py`` is generated from tccli's ``api.json`` by ``codegen.py`` and holds, for every action,
its request and response shape names, and for every shape its members: name, wire type, member
kind, and the requiredness flags. Nothing else of the spec (no prose, no examples) is kept.

The generated module imports the classes below, so this module must not import it at load time;
the lookups load it on first use and index it once (``catalog()``). Everything here is immutable.

Wire types (``Member.type``) and what ``Member.member`` then holds:
``string`` → ``string`` | ``datetime``; ``int`` → ``int64`` | ``uint64``; ``float`` → ``float``;
``bool`` → ``bool``; ``object`` → a shape name; ``list`` → a scalar kind or a shape name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, NamedTuple

from openclb import errors

WIRE_TYPES = frozenset({"string", "int", "float", "bool", "object", "list"})
SCALAR_KINDS = frozenset({"string", "datetime", "int64", "uint64", "float", "bool"})
KINDS_OF_SCALAR_TYPE: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "string": frozenset({"string", "datetime"}),
        "int": frozenset({"int64", "uint64"}),
        "float": frozenset({"float"}),
        "bool": frozenset({"bool"}),
    }
)

# Served by the module ``__getattr__`` below; the bare annotation documents it for type checkers.
ACTION_NAMES: frozenset[str]


class Member(NamedTuple):
    """One member of a shape.

    ``required`` is meaningful where the shape is sent by clients (requests and the objects they
    nest); ``output_required`` and ``value_allowed_null`` where it is returned (responses and
    the objects they nest). Objects used both ways carry all three.
    """

    name: str
    type: str
    member: str
    required: bool = False
    output_required: bool = False
    value_allowed_null: bool = False

    @property
    def nests_shape(self) -> bool:
        """True when the value (or each list item) is an object of shape ``member``."""
        return self.member not in SCALAR_KINDS


@dataclass(frozen=True)
class Shape:
    """A named structure (request, response or nested object) and its members in spec order."""

    name: str
    members: tuple[Member, ...]
    _by_name: Mapping[str, Member] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", MappingProxyType({m.name: m for m in self.members}))

    def member(self, name: str) -> Member | None:
        return self._by_name.get(name)

    @property
    def required_members(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.required)


class Action(NamedTuple):
    """An action and the names of its request and response shapes."""

    name: str
    input: str
    output: str


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
    from openclb.api import types as generated

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
    found = catalog().actions.get(action)
    if found is None:
        raise errors.InvalidAction(f"The requested action `{action}` does not exist.")
    return found


def input_shape(action: str) -> Shape:
    """The request shape of ``action``; an unknown action is ``InvalidAction``."""
    return catalog().shapes[_action(action).input]


def output_shape(action: str) -> Shape:
    """The response shape of ``action`` (it includes ``RequestId``); unknown → ``InvalidAction``."""
    return catalog().shapes[_action(action).output]


def object_shape(name: str) -> Shape:
    """A shape by name; an unknown name is a bug in the caller, so ``KeyError``."""
    return catalog().shapes[name]
