"""Structural validation: the official SDK's own requests round-trip; every refusal names the parameter."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openclb import errors
from openclb.api import spec
from openclb.api.validate import params_from_flat, validate_params
from validate_support import (
    sdk_flattened,
)
from validate_support import sdk_client  # noqa: F401  (a fixture: pytest finds it by name)


# Properties.

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
ACTIONS = st.sampled_from(sorted(spec.ACTION_NAMES))


def shape_keys(shape: spec.Shape) -> st.SearchStrategy[str]:
    return st.sampled_from([m.name for m in shape.members]) if shape.members else st.just("Nothing")


@st.composite
def shaped_json(draw, shape: spec.Shape, depth: int = 0) -> dict:
    """A body that follows ``shape``'s member names, with values that are right or random."""
    body = {}
    for member in shape.members:
        if not draw(st.booleans()):
            continue
        if draw(st.integers(0, 4)) == 0 or depth > 3:
            body[member.name] = draw(JSON_VALUES)
        elif member.nests_shape:
            item = shaped_json(spec.object_shape(member.member), depth + 1)
            body[member.name] = draw(st.lists(item, max_size=2) if member.type == "list" else item)
        else:
            body[member.name] = draw(JSON_SCALARS)
    return body


@st.composite
def flat_keys(draw, shape: spec.Shape, depth: int = 0) -> str:
    """A dotted key that mostly follows ``shape`` and sometimes goes astray."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(alphabet="Ab.0-1", max_size=6))
    member = shape.member(draw(shape_keys(shape)))
    if member is None:
        return "Nothing"
    key = member.name
    if member.type == "list" and draw(st.integers(0, 5)) > 0:
        key += "." + draw(st.sampled_from(["0", "1", "2", "00", "x", ""]))
    if member.nests_shape and depth < 3 and draw(st.integers(0, 5)) > 0:
        key += "." + draw(flat_keys(spec.object_shape(member.member), depth + 1))
    return key


@given(data=st.data(), action=ACTIONS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_validate_params_random_json_raises_only_api_errors(data, action):
    params = data.draw(st.one_of(JSON_VALUES, shaped_json(spec.input_shape(action))))
    try:
        result = validate_params(action, params)
    except errors.ApiError:
        return
    assert isinstance(result, dict)
    assert validate_params(action, result) == result


FLAT_VALUES = ["", "0", "1", "-1", "80", "true", "False", "x", "1.5", "9" * 25]


@given(data=st.data(), action=ACTIONS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_params_from_flat_random_strings_raise_only_api_errors(data, action):
    shape = spec.input_shape(action)
    flat = data.draw(
        st.dictionaries(flat_keys(shape), st.sampled_from(FLAT_VALUES), max_size=6)
    )
    try:
        result = params_from_flat(action, flat)
    except errors.ApiError:
        return
    assert validate_params(action, result) == result


SCALAR_VALUES = {
    "string": st.text(max_size=6),
    "datetime": st.just("2024-01-02 03:04:05"),
    "int64": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "uint64": st.integers(min_value=0, max_value=2**64 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
}


def valid_value(member: spec.Member, depth: int) -> st.SearchStrategy:
    if member.nests_shape:
        item = valid_params(spec.object_shape(member.member), depth + 1)
    else:
        item = SCALAR_VALUES[member.member]
    return st.lists(item, min_size=1, max_size=2) if member.type == "list" else item


@st.composite
def valid_params(draw, shape: spec.Shape, depth: int = 0) -> dict:
    """Parameters that satisfy ``shape``; no list or nested object is empty, as the flat form cannot carry one."""
    chosen = [m for m in shape.members if m.required or (depth <= 2 and draw(st.booleans()))]
    if not chosen and shape.members and depth > 0:
        chosen = [shape.members[0]]
    return {member.name: draw(valid_value(member, depth)) for member in chosen}


@given(data=st.data(), action=ACTIONS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_params_from_flat_any_valid_params_round_trip_through_sdk_flattening(data, action, sdk_client):
    params = data.draw(valid_params(spec.input_shape(action)))
    assert validate_params(action, json.loads(json.dumps(params))) == params
    assert params_from_flat(action, sdk_flattened(sdk_client, params)) == params
