"""Documented array maximums and parsing bounds, checked against the generated spec.

Every entry of the maximums table names a real array member, so a regenerated spec cannot
leave one dangling; the validator refuses one item over a maximum in both wire forms before
looking at the items; JSON and form parsing refuse what would cost more than the caps allow.
"""

from __future__ import annotations

import pytest

from openclb import errors
from openclb.api import limits, parser, spec
from openclb.api.validate import params_from_flat, validate_params


@pytest.mark.parametrize("key", sorted({**limits.DOCUMENTED, **limits.DERIVED}))
def test_limits_table_entry_names_an_array_member_of_the_spec(key):
    shape_name, member_name = key
    member = spec.object_shape(shape_name).member(member_name)

    assert member is not None and member.type == "list"


@pytest.mark.parametrize(
    ("action", "member", "maximum"),
    [("DescribeTargetHealth", "LoadBalancerIds", 30), ("DescribeTargetHealth", "ListenerIds", 100),
     ("RegisterTargets", "Targets", 20), ("BatchRegisterTargets", "Targets", 500)],
)
def test_validate_params_array_one_over_maximum_raises_length(action, member, maximum):
    item = "id"
    if member == "Targets":
        item = {"Port": 80, "EniIp": "10.0.0.1", **({"ListenerId": "lbl-1"} if action.startswith("Batch") else {})}
    base = {"LoadBalancerId": "lb-1", "ListenerId": "lbl-1", "LoadBalancerIds": ["lb-1"]}
    allowed = {key: value for key, value in base.items() if spec.input_shape(action).member(key)}

    validate_params(action, {**allowed, member: [item] * maximum})
    with pytest.raises(errors.InvalidParameterValueLength) as refused:
        validate_params(action, {**allowed, member: [item] * (maximum + 1)})

    assert f"`{member}`" in refused.value.message


def test_validate_params_nested_array_maximum_names_the_path():
    targets = [{"Port": 80, "EniIp": "10.0.0.1"}] * 51
    params = {"LoadBalancerId": "lb-1", "ModifyList": [{"ListenerId": "lbl-1", "Targets": targets}]}

    with pytest.raises(errors.InvalidParameterValueLength) as refused:
        validate_params("BatchModifyTargetWeight", params)

    assert "`ModifyList.0.Targets`" in refused.value.message


def test_validate_params_oversized_array_refused_before_its_items_are_checked():
    with pytest.raises(errors.InvalidParameterValueLength):
        validate_params("DescribeTargetHealth", {"LoadBalancerIds": [None, 1, {}] * 11})


def test_params_from_flat_index_at_maximum_raises_length():
    flat = {"LoadBalancerIds.0": "lb-1", "LoadBalancerIds.30": "lb-31"}

    with pytest.raises(errors.InvalidParameterValueLength) as refused:
        params_from_flat("DescribeTargetHealth", flat)

    assert "`LoadBalancerIds` holds more than 30 items" in refused.value.message


def _raw(body: bytes, content_type: str = "application/json") -> parser.RawHttpRequest:
    return parser.RawHttpRequest("POST", "h", "", {"content-type": content_type}, body)


def _call() -> parser.ApiCall:
    return parser.ApiCall(parser.SignatureKind.TC3, "DescribeLoadBalancers", "2018-03-17", "", "", None)


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"[" * 50_000 + b"]" * 50_000, errors.RequestSizeLimitExceeded),
     (b"[" * 5_000 + b"]" * 5_000, errors.InvalidRequest),
     (b'{"a": [' + b"0," * 20_000 + b"0]}", errors.RequestSizeLimitExceeded),
     (b"not json", errors.InvalidRequest), (b"[1]", errors.InvalidRequest)],
)
def test_tc3_params_json_over_bounds_or_malformed_raises_documented_error(body, error):
    with pytest.raises(error):
        parser.tc3_params(_raw(body), _call())


def test_tc3_params_json_at_value_cap_is_decoded():
    body = b'{"a": [' + b"0," * 19_000 + b"0]}"

    call = parser.tc3_params(_raw(body), _call())

    assert len(call.json_params["a"]) == 19_001


@pytest.mark.parametrize(
    ("form", "expected"),
    [("a=1&b=&c", {"a": "1", "b": "", "c": ""}), ("x+y=%41%2B&&z=a+b", {"x y": "A+", "z": "a b"}),
     ("", {}), ("=v", {"": "v"})],
)
def test_parse_v1_form_reads_pairs_like_parse_qsl(form, expected):
    raw = parser.RawHttpRequest("GET", "h", form, {}, b"")

    assert parser.parse_v1(raw).signed_params == expected


@pytest.mark.parametrize(
    ("form", "error"),
    [("&".join(f"k{i}=1" for i in range(5_001)), errors.RequestSizeLimitExceeded),
     ("a=%ff", errors.InvalidRequest), ("a=1&a=2", errors.InvalidParameter)],
)
def test_parse_v1_form_over_bounds_or_malformed_raises_documented_error(form, error):
    raw = parser.RawHttpRequest("POST", "h", "", {"content-type": parser.FORM_CONTENT_TYPE}, form.encode())

    with pytest.raises(error):
        parser.parse_v1(raw)
