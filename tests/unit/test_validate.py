"""Structural validation: the official SDK's own requests round-trip; every refusal names the parameter."""

from __future__ import annotations

import pytest

from openclb import errors
from openclb.api.validate import COMMON_PARAMETERS, params_from_flat, validate_params, validate_response
from validate_support import (
    ROUTE_PARAMS, SDK_REQUESTS, refusal, sdk_flattened, sdk_serialized,
)
from validate_support import sdk_client  # noqa: F401  (a fixture: pytest finds it by name)


@pytest.mark.parametrize("action", sorted(SDK_REQUESTS))
def test_validate_params_sdk_json_body_returns_same_params(action):
    sent = sdk_serialized(action, SDK_REQUESTS[action])
    assert sent == SDK_REQUESTS[action]
    assert validate_params(action, sent) == sent


@pytest.mark.parametrize("action", sorted(SDK_REQUESTS))
def test_params_from_flat_sdk_flattened_form_rebuilds_params(action, sdk_client):
    sent = sdk_serialized(action, SDK_REQUESTS[action])
    flat = sdk_flattened(sdk_client, sent)
    assert params_from_flat(action, flat) == sent


def test_params_from_flat_go_style_lowercase_booleans_parse():
    flat = {**ROUTE_PARAMS, "DeregisterTargetRst": "true", "ProxyProtocol": "FALSE"}
    expected = {**ROUTE_PARAMS, "DeregisterTargetRst": True, "ProxyProtocol": False}
    assert params_from_flat("ModifyListener", flat) == expected


@pytest.mark.parametrize("text", ["1", "0", "yes", "", "T"])
def test_params_from_flat_bool_other_spellings_invalid_parameter(text):
    error = refusal(params_from_flat, "ModifyListener", {**ROUTE_PARAMS, "DeregisterTargetRst": text})
    assert isinstance(error, errors.InvalidParameter)
    assert error.message == "The value type of parameter `DeregisterTargetRst` is invalid, should be Boolean."


def test_params_from_flat_nested_rule_health_check_typed():
    flat = {
        "LoadBalancerId": "lb-abc",
        "ListenerId": "lbl-1",
        "Rules.0.Url": "/api",
        "Rules.0.Domain": "a.example",
        "Rules.0.HealthCheck.HttpCode": "31",
        "Rules.0.HealthCheck.HttpCheckPath": "/healthz",
    }
    rules = params_from_flat("CreateRule", flat)["Rules"]
    health_check = {"HttpCode": 31, "HttpCheckPath": "/healthz"}
    assert rules == [{"Url": "/api", "Domain": "a.example", "HealthCheck": health_check}]


def test_params_from_flat_indices_in_any_order_make_ordered_list():
    flat = {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports.1": "81", "Ports.0": "80", "Ports.2": "-1"}
    assert params_from_flat("CreateListener", flat)["Ports"] == [80, 81, -1]


def test_params_from_flat_empty_string_value_kept_for_string():
    assert params_from_flat("ModifyListener", {**ROUTE_PARAMS, "ListenerName": ""})["ListenerName"] == ""


def test_common_parameters_cover_v1_signing_parameters():
    assert {"Action", "Version", "Region", "Nonce", "Timestamp", "SecretId", "Signature"} <= COMMON_PARAMETERS
    assert {"SignatureMethod", "Token", "Language", "RequestClient"} <= COMMON_PARAMETERS


def test_validate_params_null_members_treated_as_absent():
    params = {**ROUTE_PARAMS, "ListenerName": None, "HealthCheck": {"TimeOut": None, "HealthSwitch": 1}}
    assert validate_params("ModifyListener", params) == {**ROUTE_PARAMS, "HealthCheck": {"HealthSwitch": 1}}


@pytest.mark.parametrize(
    "value, accepted", [(3, True), (2.5, True), ("3", False), (True, False), (float("inf"), False)]
)
def test_validate_response_float_member_accepts_integers_and_finite_floats(value, accepted):
    # No CLB request member is a float; ItemPrice (a response object) has the only ones.
    response = {"Price": {"InstancePrice": {"UnitPrice": value}}}
    problems = [p for p in validate_response("InquiryPriceCreateLoadBalancer", response) if "UnitPrice`" in p]
    assert (problems == []) is accepted


# Missing parameters.


def test_validate_params_missing_top_level_required_missing_parameter():
    error = refusal(validate_params, "CreateListener", {"Ports": [80], "Protocol": "TCP"})
    assert isinstance(error, errors.MissingParameter)
    assert error.code == "MissingParameter"
    assert error.message == "The request is missing a required parameter `LoadBalancerId`."


def test_validate_params_missing_nested_required_names_dotted_path():
    params = {**ROUTE_PARAMS, "Targets": [{"Port": 80}, {"InstanceId": "ins-1"}]}
    error = refusal(validate_params, "RegisterTargets", params)
    assert isinstance(error, errors.MissingParameter)
    assert error.message == "The request is missing a required parameter `Targets.1.Port`."


def test_validate_params_missing_required_inside_object_member():
    params = {"LoadBalancerId": "lb", "Ports": [443], "Protocol": "HTTPS"}
    params["MultiCertInfo"] = {"SSLMode": "UNIDIRECTIONAL"}
    error = refusal(validate_params, "CreateListener", params)
    assert error.message == "The request is missing a required parameter `MultiCertInfo.CertList`."


def test_validate_params_required_given_as_null_missing_parameter():
    error = refusal(validate_params, "DeleteListener", {"LoadBalancerId": "lb", "ListenerId": None})
    assert isinstance(error, errors.MissingParameter)
    assert "`ListenerId`" in error.message


def test_params_from_flat_missing_nested_required_missing_parameter():
    flat = {**ROUTE_PARAMS, "Targets.0.InstanceId": "ins-1"}
    error = refusal(params_from_flat, "RegisterTargets", flat)
    assert isinstance(error, errors.MissingParameter)
    assert error.message == "The request is missing a required parameter `Targets.0.Port`."


# Unknown parameters.


def test_validate_params_unknown_top_level_unknown_parameter():
    error = refusal(validate_params, "DescribeLoadBalancers", {"$schema": "x"})
    assert isinstance(error, errors.UnknownParameter)
    assert error.message == "The parameter `$schema` is not recognized."


def test_validate_params_unknown_nested_names_dotted_path():
    params = {**ROUTE_PARAMS, "Targets": [{"Port": 80, "Colour": "red"}]}
    error = refusal(validate_params, "RegisterTargets", params)
    assert isinstance(error, errors.UnknownParameter)
    assert error.message == "The parameter `Targets.0.Colour` is not recognized."


def test_validate_params_unknown_reported_before_missing():
    error = refusal(validate_params, "DeleteListener", {"LoadBalancerID": "lb", "ListenerId": "lbl"})
    assert isinstance(error, errors.UnknownParameter)


def test_validate_params_parameter_names_case_sensitive():
    error = refusal(validate_params, "DescribeLoadBalancers", {"limit": 5})
    assert error.message == "The parameter `limit` is not recognized."


@pytest.mark.parametrize(
    "key, named",
    [
        ("Foo", "Foo"),
        ("HealthCheck.TimeOut", "HealthCheck"),
        ("Targets.0.Foo", "Targets.0.Foo"),
        ("ListenerId.0", "ListenerId.0"),
        ("Action", "Action"),
        ("", ""),
    ],
)
def test_params_from_flat_unknown_key_unknown_parameter(key, named):
    flat = {**ROUTE_PARAMS, "Targets.0.Port": "80", key: "1"}
    error = refusal(params_from_flat, "RegisterTargets", flat)
    assert isinstance(error, errors.UnknownParameter)
    assert error.message == f"The parameter `{named}` is not recognized."


# Wrong types.


@pytest.mark.parametrize(
    "params, path, label",
    [
        ({"Ports": ["80"]}, "Ports.0", "Integer"),
        ({"Ports": [80.0]}, "Ports.0", "Integer"),
        ({"Ports": [True]}, "Ports.0", "Integer"),
        ({"Ports": 80}, "Ports", "Array"),
        ({"Ports": {"0": 80}}, "Ports", "Array"),
        ({"Protocol": 6}, "Protocol", "String"),
        ({"Protocol": ["TCP"]}, "Protocol", "String"),
        ({"HealthCheck": [{"TimeOut": 2}]}, "HealthCheck", "Object"),
        ({"HealthCheck": "on"}, "HealthCheck", "Object"),
        ({"HealthCheck": {"TimeOut": "2"}}, "HealthCheck.TimeOut", "Integer"),
        ({"DeregisterTargetRst": 1}, "DeregisterTargetRst", "Boolean"),
        ({"DeregisterTargetRst": "true"}, "DeregisterTargetRst", "Boolean"),
        ({"ListenerNames": [None]}, "ListenerNames.0", "String"),
    ],
)
def test_validate_params_wrong_type_invalid_parameter(params, path, label):
    body = {"LoadBalancerId": "lb", "Ports": [80], "Protocol": "TCP", **params}
    error = refusal(validate_params, "CreateListener", body)
    assert isinstance(error, errors.InvalidParameter)
    assert error.code == "InvalidParameter"
    assert error.message == f"The value type of parameter `{path}` is invalid, should be {label}."


def test_validate_params_list_of_objects_item_not_object_invalid_parameter():
    error = refusal(validate_params, "RegisterTargets", {**ROUTE_PARAMS, "Targets": [{"Port": 80}, 81]})
    assert error.message == "The value type of parameter `Targets.1` is invalid, should be Object."


@pytest.mark.parametrize(
    "action, params, path",
    [
        ("CreateListener", {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports": [2**63]}, "Ports.0"),
        ("CreateListener", {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports": [-(2**63) - 1]}, "Ports.0"),
        ("CreateListener", {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports": [80], "EndPort": -1}, "EndPort"),
        ("CreateListener", {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports": [80], "EndPort": 2**64}, "EndPort"),
    ],
)
def test_validate_params_integer_out_of_range_invalid_parameter(action, params, path):
    error = refusal(validate_params, action, params)
    assert isinstance(error, errors.InvalidParameter)
    assert error.message.startswith(f"The value of parameter `{path}` is out of range, should be an Integer from ")


def test_validate_params_uint64_edges_accepted():
    params = {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports": [-(2**63), 2**63 - 1], "EndPort": 2**64 - 1}
    assert validate_params("CreateListener", params) == params


def test_validate_params_non_object_body_invalid_request():
    error = refusal(validate_params, "DescribeLoadBalancers", [1, 2])
    assert isinstance(error, errors.InvalidRequest)
    assert error.message == "The request body must be a JSON object."


def test_validate_params_unknown_action_invalid_action():
    assert isinstance(refusal(validate_params, "CreateWidget", {}), errors.InvalidAction)


@pytest.mark.parametrize(
    "key, value",
    [
        ("Ports.0", "80.0"),
        ("Ports.0", " 80"),
        ("Ports.0", "1_000"),
        ("Ports.0", "+80"),
        ("Ports.0", "٨٠"),
        ("Ports.0", ""),
        ("HealthCheck.TimeOut", "x"),
    ],
)
def test_params_from_flat_unconvertible_integer_invalid_parameter(key, value):
    flat = {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports.0": "80", key: value}
    error = refusal(params_from_flat, "CreateListener", flat)
    assert isinstance(error, errors.InvalidParameter)
    assert error.message == f"The value type of parameter `{key}` is invalid, should be Integer."


@pytest.mark.parametrize("key, value", [("EndPort", "-1"), ("Ports.0", "9" * 30), ("Ports.0", "-" + "9" * 19)])
def test_params_from_flat_integer_out_of_range_invalid_parameter(key, value):
    flat = {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports.0": "80", key: value}
    error = refusal(params_from_flat, "CreateListener", flat)
    assert isinstance(error, errors.InvalidParameter)
    assert f"`{key}` is out of range" in error.message


# List indices and structure in the flat form.


@pytest.mark.parametrize("index", ["01", "-1", "x", "", "1e3", "0x1", "٠", "1" * 10])
def test_params_from_flat_garbage_index_invalid_parameter(index):
    flat = {"LoadBalancerId": "lb", "Protocol": "TCP", f"Ports.{index}": "80"}
    error = refusal(params_from_flat, "CreateListener", flat)
    assert isinstance(error, errors.InvalidParameter)
    assert f"`Ports.{index}`" in error.message


@pytest.mark.parametrize(
    "indices, named, missing",
    [
        (["1"], "Ports.1", "Ports.0"),
        (["0", "2"], "Ports.2", "Ports.1"),
        (["0", "1", "99"], "Ports.99", "Ports.2"),
    ],
)
def test_params_from_flat_index_gap_invalid_parameter(indices, named, missing):
    flat = {"LoadBalancerId": "lb", "Protocol": "TCP", **{f"Ports.{i}": "80" for i in indices}}
    error = refusal(params_from_flat, "CreateListener", flat)
    assert isinstance(error, errors.InvalidParameter)
    assert f"`{named}` is out of sequence" in error.message and f"`{missing}` is missing" in error.message


def test_params_from_flat_nested_index_gap_names_nested_key():
    flat = {**ROUTE_PARAMS, "Targets.0.Port": "80", "Targets.2.Port": "82"}
    error = refusal(params_from_flat, "RegisterTargets", flat)
    assert "`Targets.2` is out of sequence" in error.message


def test_params_from_flat_list_without_index_invalid_parameter():
    error = refusal(params_from_flat, "CreateListener", {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports": "80"})
    assert isinstance(error, errors.InvalidParameter)
    assert "`Ports` is an Array" in error.message


def test_params_from_flat_object_given_scalar_invalid_parameter():
    flat = {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports.0": "80", "HealthCheck": "1"}
    error = refusal(params_from_flat, "CreateListener", flat)
    assert isinstance(error, errors.InvalidParameter)
    assert "`HealthCheck` is an Object" in error.message


def test_params_from_flat_object_item_given_scalar_invalid_parameter():
    error = refusal(params_from_flat, "RegisterTargets", {**ROUTE_PARAMS, "Targets.0": "ins-1"})
    assert isinstance(error, errors.InvalidParameter)
    assert "`Targets.0` is an Object" in error.message


def test_params_from_flat_unknown_member_of_nested_object_unknown_parameter():
    flat = {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports.0": "80", "HealthCheck.Foo": "1"}
    error = refusal(params_from_flat, "CreateListener", flat)
    assert isinstance(error, errors.UnknownParameter)
    assert error.message == "The parameter `HealthCheck.Foo` is not recognized."


def test_params_from_flat_scalar_item_with_subkey_unknown_parameter():
    flat = {"LoadBalancerId": "lb", "Protocol": "TCP", "Ports.0.Port": "80"}
    error = refusal(params_from_flat, "CreateListener", flat)
    assert isinstance(error, errors.UnknownParameter)
    assert error.message == "The parameter `Ports.0.Port` is not recognized."


# Responses.


def test_validate_response_conforming_create_listener_no_problems():
    assert validate_response("CreateListener", {"ListenerIds": ["lbl-1"], "RequestId": "r"}) == []


def test_validate_response_problems_listed_by_path():
    response = {
        "LoadBalancerIds": None,
        "DealName": 5,
        "Extra": 1,
    }
    problems = validate_response("CreateLoadBalancer", response)
    assert problems == [
        "`Extra` is not a member of CreateLoadBalancerResponse",
        "The value type of parameter `DealName` is invalid, should be String. (got int 5)",
    ]


def test_validate_response_missing_and_null_required_reported():
    problems = validate_response("CreateListener", {})
    assert problems == ["`ListenerIds` is required in CreateListenerResponse but missing"]
    problems = validate_response("CreateListener", {"ListenerIds": None})
    assert problems == ["`ListenerIds` is null but CreateListenerResponse does not allow null there"]


def test_validate_response_nested_list_items_checked():
    response = {"TotalCount": 1, "LoadBalancerSet": [None, {"LoadBalancerId": 7}], "RequestId": "r"}
    problems = validate_response("DescribeLoadBalancers", response)
    assert "`LoadBalancerSet.0` is a null Array item" in problems
    assert any("`LoadBalancerSet.1.LoadBalancerId` is invalid, should be String" in p for p in problems)


def test_validate_response_not_an_object_reported():
    assert validate_response("CreateListener", []) == ["CreateListener response is list, not an Object"]
