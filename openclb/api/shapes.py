"""The small types the generated ``types.py`` is written in: members, shapes, actions.

A leaf of the API package: ``types.py`` imports it, ``spec.py`` imports both, so the
generated module and its lookups form no import cycle.

Wire types (``Member.type``) and what ``Member.member`` then holds:
``string`` → ``string`` | ``datetime`` | ``datetime_iso`` | ``date`` (all plain strings on the wire); ``int`` → ``int64`` | ``uint64``; ``float`` → ``float``;
``bool`` → ``bool``; ``object`` → a shape name; ``list`` → a scalar kind or a shape name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, NamedTuple

WIRE_TYPES = frozenset({"string", "int", "float", "bool", "object", "list"})
STRING_KINDS = frozenset({"string", "datetime", "datetime_iso", "date"})
SCALAR_KINDS = STRING_KINDS | {"int64", "uint64", "float", "bool"}
KINDS_OF_SCALAR_TYPE: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "string": STRING_KINDS,
        "int": frozenset({"int64", "uint64"}),
        "float": frozenset({"float"}),
        "bool": frozenset({"bool"}),
    }
)


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
