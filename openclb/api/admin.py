"""The admin API: openclb's own service, beside CLB on the same port, in the same envelope.

Not part of the CLB spec. It is a Tencent-style service of its own: service name ``openclb``
(the TC3 credential scope, ``CommonClient("openclb", VERSION, ...)``), version ``VERSION``,
signed with an account's key like any call, answered in the same ``{"Response": ...}``
envelope. The gateway tells the two services apart by ``Version`` (v1 signatures carry no
service) and checks that a TC3 scope naming a served service names this one.

DescribeTargetConnections gives the engine's live connection counts per real server (the console
shows them; the real API leaves them to Cloud Monitor).

Every action acts on the calling account only, except ``ResetState`` with ``AllAccounts``.
The shapes below are written in the generated spec's own types, so the gateway validates
these calls exactly as it validates CLB calls; the handlers live in ``resources/state`` and
``resources/faults``.
"""

from __future__ import annotations

from types import MappingProxyType

from openclb.api.shapes import Action, Shape
from openclb.api.shapes import Member as M

SERVICE = "openclb"
VERSION = "2026-11-29"

ACTIONS = (
    Action("ExportState", "ExportStateRequest", "ExportStateResponse"),
    Action("ImportState", "ImportStateRequest", "ImportStateResponse"),
    Action("ResetState", "ResetStateRequest", "ResetStateResponse"),
    Action("InjectFault", "InjectFaultRequest", "InjectFaultResponse"),
    Action("DescribeFaults", "DescribeFaultsRequest", "DescribeFaultsResponse"),
    Action("ClearFaults", "ClearFaultsRequest", "ClearFaultsResponse"),
    Action("DescribeTargetConnections", "DescribeTargetConnectionsRequest", "DescribeTargetConnectionsResponse"),
)

_REQUEST_ID = M("RequestId", "string", "string", output_required=True)

SHAPES = (
    Shape("ExportStateRequest", (M("IncludePrivateKeys", "bool", "bool"),)),
    Shape("ExportStateResponse", (M("State", "string", "string", output_required=True), _REQUEST_ID)),
    Shape("ImportStateRequest", (M("State", "string", "string", required=True), M("Replace", "bool", "bool"))),
    Shape("ImportStateResponse", (
        M("TaskId", "string", "string", output_required=True),
        M("LoadBalancerIds", "list", "string", output_required=True),
        _REQUEST_ID,
    )),
    Shape("ResetStateRequest", (M("AllAccounts", "bool", "bool"),)),
    Shape("ResetStateResponse", (M("LoadBalancerIds", "list", "string", output_required=True), _REQUEST_ID)),
    Shape("InjectFaultRequest", (
        M("Kind", "string", "string", required=True),
        M("Action", "string", "string"),
        M("Code", "string", "string"),
        M("Message", "string", "string"),
        M("Count", "int", "int64"),
        M("Probability", "float", "float"),
        M("Seed", "int", "int64"),
        M("Seconds", "float", "float"),
        M("LoadBalancerId", "string", "string"),
        M("ListenerId", "string", "string"),
        M("LocationId", "string", "string"),
        M("Ip", "string", "string"),
        M("Port", "int", "int64"),
    )),
    Shape("InjectFaultResponse", (M("FaultId", "string", "string", output_required=True), _REQUEST_ID)),
    Shape("DescribeFaultsRequest", ()),
    Shape("DescribeFaultsResponse", (M("Faults", "list", "Fault", output_required=True), _REQUEST_ID)),
    Shape("Fault", (
        M("FaultId", "string", "string", output_required=True),
        M("Kind", "string", "string", output_required=True),
        M("Action", "string", "string", output_required=True, value_allowed_null=True),
        M("Code", "string", "string", output_required=True, value_allowed_null=True),
        M("Message", "string", "string", output_required=True, value_allowed_null=True),
        M("Count", "int", "int64", output_required=True, value_allowed_null=True),
        M("Probability", "float", "float", output_required=True),
        M("Seconds", "float", "float", output_required=True),
        M("LoadBalancerId", "string", "string", output_required=True, value_allowed_null=True),
        M("ListenerId", "string", "string", output_required=True, value_allowed_null=True),
        M("LocationId", "string", "string", output_required=True, value_allowed_null=True),
        M("Ip", "string", "string", output_required=True, value_allowed_null=True),
        M("Port", "int", "int64", output_required=True, value_allowed_null=True),
        M("Hits", "int", "int64", output_required=True),
    )),
    Shape("ClearFaultsRequest", (M("FaultIds", "list", "string"),)),
    Shape("ClearFaultsResponse", (M("FaultIds", "list", "string", output_required=True), _REQUEST_ID)),
    Shape("DescribeTargetConnectionsRequest", (M("LoadBalancerIds", "list", "string", required=True),)),
    Shape("DescribeTargetConnectionsResponse", (
        M("Targets", "list", "TargetConnections", output_required=True), _REQUEST_ID)),
    Shape("TargetConnections", (
        M("LoadBalancerId", "string", "string", output_required=True),
        M("ListenerId", "string", "string", output_required=True),
        M("Ip", "string", "string", output_required=True),
        M("Port", "int", "int64", output_required=True),
        M("ActiveConnections", "int", "int64", output_required=True),
        M("TotalConnections", "int", "int64", output_required=True),
    )),
)

ACTION_NAMES = frozenset(action.name for action in ACTIONS)
ACTIONS_BY_NAME = MappingProxyType({action.name: action for action in ACTIONS})
SHAPES_BY_NAME = MappingProxyType({shape.name: shape for shape in SHAPES})
