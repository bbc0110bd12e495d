"""Structural validation of action parameters against the generated spec, both wire forms.

Handlers receive only parameters whose structure matches the action's request shape: every
member declared, every required member present, every value of its wire type. Meaning (ranges
of ports, allowed protocols, existence of ids) is ``services/rules.py``'s job, not this one's.

Two entry points, one set of checks:
- ``validate_params`` takes the JSON body of a TC3 POST. Types are strict: integers must be JSON
  integers (``5.0`` is refused), within int64 (or uint64, which also refuses negatives); floats
  accept integers but not NaN or infinities; booleans only ``true``/``false``. A JSON ``null``
  member counts as absent (hand-written clients send it; the SDKs leave unset members out) and is
  left out of the result; a ``null`` list item is refused.
- ``params_from_flat`` takes the flattened ``k=v`` strings of v1 and TC3-GET requests
  (``Ports.0=80``, ``Targets.0.Port=80``, ``HealthCheck.TimeOut=2``), rebuilds the nested,
  typed structure from the shape, then applies ``validate_params``. Common parameters are the
  caller's to remove first (``COMMON_PARAMETERS``). Booleans are ``true``/``false`` in any case
  (Python sends ``True``, Go ``true``); ``1``/``0`` are refused because no official client sends
  them for a Boolean. Integers are an optional ``-`` and ASCII digits. List indices must be
  ``0..n-1`` without gaps or leading zeros.
Every entry point takes the service (``clb`` by default): shapes are looked up in its catalog.
Errors name the parameter by its dotted path (``Targets.0.Port``), as the real API does.
An array longer than its documented maximum (``limits.py``) is ``InvalidParameterValue.Length``
before any of its items is looked at, in both wire forms.

``validate_response`` checks a handler's result against the response shape and returns the
problems instead of raising; the contract tests use it on every handler.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from openclb import errors
from openclb.api import limits, spec

COMMON_PARAMETERS = frozenset(
    {
        "Action", "Version", "Region", "Timestamp", "Nonce", "SecretId", "Signature",
        "SignatureMethod", "Token", "Language", "RequestClient",
    }
)

INT64_RANGE = (-(2**63), 2**63 - 1)
UINT64_RANGE = (0, 2**64 - 1)

_TYPE_LABELS = {
    "string": "String", "datetime": "String", "datetime_iso": "String", "date": "String", "int64": "Integer", "uint64": "Integer",
    "float": "Float", "bool": "Boolean", "object": "Object", "list": "Array",
}
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_MAX_INTEGER_TEXT = 21  # "-" and 20 digits: longer text is out of any 64-bit range, so never converted
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_LIST_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _type_message(path: str, label: str) -> str:
    return f"The value type of parameter `{path}` is invalid, should be {label}."


def _range_message(kind: str, path: str) -> str:
    low, high = UINT64_RANGE if kind == "uint64" else INT64_RANGE
    return f"The value of parameter `{path}` is out of range, should be an Integer from {low} to {high}."


def _scalar_fault(kind: str, value: Any, path: str) -> str | None:
    """Why ``value`` is not a valid ``kind`` scalar, as a message naming ``path``; None if it is."""
    if kind in spec.STRING_KINDS:
        ok = isinstance(value, str)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(value, float) and not math.isfinite(value):
            return f"The value of parameter `{path}` is invalid, should be a finite Float."
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
        low, high = UINT64_RANGE if kind == "uint64" else INT64_RANGE
        if ok and not low <= value <= high:
            return _range_message(kind, path)
    return None if ok else _type_message(path, _TYPE_LABELS[kind])


def validate_params(action: str, params: dict[str, Any], service: str = spec.CLB) -> dict[str, Any]:
    """The action's parameters, checked against its request shape, with ``null`` members dropped."""
    if not isinstance(params, dict):
        raise errors.InvalidRequest("The request body must be a JSON object.")
    return _checked_object(spec.input_shape(action, service), params, "", service)


def _checked_object(shape: spec.Shape, value: dict[str, Any], path: str, service: str) -> dict[str, Any]:
    for key in value:
        if shape.member(key) is None:
            raise errors.UnknownParameter(f"The parameter `{_join(path, key)}` is not recognized.")
    checked = {}
    for member in shape.members:
        item = value.get(member.name)
        if item is not None:
            checked[member.name] = _checked_member(shape.name, member, item, _join(path, member.name), service)
        elif member.required:
            raise errors.MissingParameter(
                f"The request is missing a required parameter `{_join(path, member.name)}`."
            )
    return checked


def _length_error(path: str, limit: int) -> errors.ApiError:
    return errors.InvalidParameterValueLength(f"The parameter `{path}` holds more than {limit} items.")


def _checked_member(shape_name: str, member: spec.Member, value: Any, path: str, service: str) -> Any:
    if member.type == "list":
        if not isinstance(value, list):
            raise errors.InvalidParameter(_type_message(path, "Array"))
        limit = limits.max_items(shape_name, member.name)
        if len(value) > limit:
            raise _length_error(path, limit)
        return [_checked_item(member.member, item, _join(path, index), service) for index, item in enumerate(value)]
    return _checked_item(member.member, value, path, service)


def _checked_item(kind: str, value: Any, path: str, service: str) -> Any:
    if kind in spec.SCALAR_KINDS:
        fault = _scalar_fault(kind, value, path)
        if fault:
            raise errors.InvalidParameter(fault)
        return value
    if not isinstance(value, dict):
        raise errors.InvalidParameter(_type_message(path, "Object"))
    return _checked_object(spec.object_shape(kind, service), value, path, service)


class _Items(dict):
    """List items of a flattened parameter, by index, until every key has been placed."""


def params_from_flat(action: str, flat: Mapping[str, str], service: str = spec.CLB) -> dict[str, Any]:
    """Rebuild typed, nested parameters from flattened strings, then ``validate_params`` them."""
    shape = spec.input_shape(action, service)
    tree: dict[str, Any] = {}
    for key, text in flat.items():
        _place(tree, shape, key, text, service)
    return validate_params(action, _assembled(tree, ""), service)


def _place(tree: dict[str, Any], shape: spec.Shape, key: str, text: str, service: str) -> None:
    """Put one flattened ``key=text`` into ``tree``, walking ``shape`` along the key's segments."""
    segments = key.split(".")
    container: dict[Any, Any] = tree
    position = 0
    path = ""
    while True:
        name = segments[position]
        member = shape.member(name)
        path = _join(path, name)
        if member is None:
            raise errors.UnknownParameter(f"The parameter `{path}` is not recognized.")
        position += 1
        slot_key: Any = name
        if member.type == "list":
            if position == len(segments):
                raise errors.InvalidParameter(
                    f"The parameter `{path}` is an Array; give its items as `{path}.0`, `{path}.1`, ..."
                )
            index_text = segments[position]
            if not _LIST_INDEX.fullmatch(index_text):
                raise errors.InvalidParameter(f"The parameter `{_join(path, index_text)}` has an invalid Array index.")
            container = container.setdefault(name, _Items())
            slot_key = int(index_text)
            limit = limits.max_items(shape.name, name)
            if slot_key >= limit:
                raise _length_error(path, limit)
            path = _join(path, index_text)
            position += 1
        if not member.nests_shape:
            if position != len(segments):
                raise errors.UnknownParameter(f"The parameter `{key}` is not recognized.")
            container[slot_key] = _scalar_from_text(member.member, text, path)
            return
        if position == len(segments):
            raise errors.InvalidParameter(
                f"The parameter `{path}` is an Object; give its members as `{path}.<Name>`."
            )
        container = container.setdefault(slot_key, {})
        shape = spec.object_shape(member.member, service)


def _scalar_from_text(kind: str, text: str, path: str) -> Any:
    if kind in spec.STRING_KINDS:
        return text
    if kind == "bool" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == "float" and _FLOAT_TEXT.fullmatch(text):
        return float(text)
    if kind in ("int64", "uint64") and _INTEGER_TEXT.fullmatch(text):
        if len(text) > _MAX_INTEGER_TEXT:
            raise errors.InvalidParameter(_range_message(kind, path))
        return int(text)
    raise errors.InvalidParameter(_type_message(path, _TYPE_LABELS[kind]))


def _assembled(node: Any, path: str) -> Any:
    """``node`` with every ``_Items`` turned into a list, refusing gaps in the indices."""
    if isinstance(node, _Items):
        for expected, index in enumerate(sorted(node)):
            if index != expected:
                raise errors.InvalidParameter(
                    f"The parameter `{_join(path, index)}` is out of sequence: Array indices start at 0 "
                    f"and have no gaps (`{_join(path, expected)}` is missing)."
                )
        return [_assembled(node[index], _join(path, index)) for index in range(len(node))]
    if isinstance(node, dict):
        return {key: _assembled(value, _join(path, key)) for key, value in node.items()}
    return node


def validate_response(action: str, response: dict[str, Any], service: str = spec.CLB) -> list[str]:
    """Every way ``response`` departs from the action's response shape; empty when it conforms."""
    problems: list[str] = []
    if not isinstance(response, dict):
        return [f"{action} response is {type(response).__name__}, not an Object"]
    _response_object(spec.output_shape(action, service), response, "", problems, service)
    return problems


def _response_object(shape: spec.Shape, value: dict[str, Any], path: str, problems: list[str], service: str) -> None:
    problems.extend(
        f"`{_join(path, key)}` is not a member of {shape.name}" for key in value if shape.member(key) is None
    )
    for member in shape.members:
        member_path = _join(path, member.name)
        if member.name not in value:
            if member.output_required:
                problems.append(f"`{member_path}` is required in {shape.name} but missing")
            continue
        item = value[member.name]
        if item is None:
            if member.output_required and not member.value_allowed_null:
                problems.append(f"`{member_path}` is null but {shape.name} does not allow null there")
        elif member.type == "list":
            if not isinstance(item, list):
                problems.append(f"`{member_path}` should be an Array, got {type(item).__name__}")
                continue
            for index, element in enumerate(item):
                _response_item(member.member, element, _join(member_path, index), problems, service)
        else:
            _response_item(member.member, item, member_path, problems, service)


def _response_item(kind: str, value: Any, path: str, problems: list[str], service: str) -> None:
    if value is None:
        problems.append(f"`{path}` is a null Array item")
    elif kind in spec.SCALAR_KINDS:
        fault = _scalar_fault(kind, value, path)
        if fault:
            problems.append(f"{fault} (got {type(value).__name__} {value!r:.60})")
    elif not isinstance(value, dict):
        problems.append(f"`{path}` should be an Object of shape {kind}, got {type(value).__name__}")
    else:
        _response_object(spec.object_shape(kind, service), value, path, problems, service)
