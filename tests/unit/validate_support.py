"""Requests the official SDK builds, for the validator's unit tests (no sockets)."""

from __future__ import annotations

import json
import warnings

import pytest
from tencentcloud.clb.v20180317 import clb_client, models
from tencentcloud.common import credential

from openclb import errors


SDK_REQUESTS = {
    "CreateListener": {
        "LoadBalancerId": "lb-abc",
        "Ports": [443, 8443],
        "Protocol": "TCP_SSL",
        "ListenerNames": ["front door", "a.b_c-d"],
        "HealthCheck": {"HealthSwitch": 1, "TimeOut": 2, "IntervalTime": 5, "HttpCode": 31, "CheckType": "TCP"},
        "Certificate": {"SSLMode": "UNIDIRECTIONAL", "CertId": "cert-1"},
        "SessionExpireTime": 30,
        "Scheduler": "WRR",
        "EndPort": 0,
        "DeregisterTargetRst": True,
        "SnatEnable": False,
    },
    "RegisterTargets": {
        "LoadBalancerId": "lb-abc",
        "ListenerId": "lbl-1",
        "Targets": [{"Port": 80, "InstanceId": "ins-1", "Weight": 10}, {"Port": 81, "EniIp": "10.0.0.1"}],
        "LocationId": "loc-1",
    },
    "CreateLoadBalancer": {
        "LoadBalancerType": "OPEN",
        "Forward": 1,
        "LoadBalancerName": "web",
        "Number": 2,
        "Tags": [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": ""}],
        "InternetAccessible": {"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR", "InternetMaxBandwidthOut": 10},
        "SnatIps": [{"SubnetId": "subnet-1", "Ip": "10.0.0.2"}],
        "LoadBalancerPassToTarget": True,
        "DynamicVip": False,
    },
    "DescribeLoadBalancers": {
        "LoadBalancerIds": ["lb-1", "lb-2"],
        "Filters": [{"Name": "tag-key", "Values": ["a", "b"]}, {"Name": "vip", "Values": ["127.0.0.9"]}],
        "Offset": 0,
        "Limit": 20,
        "OrderType": 1,
    },
    "ModifyListener": {
        "LoadBalancerId": "lb-abc",
        "ListenerId": "lbl-1",
        "ListenerName": "renamed",
        "HealthCheck": {"HealthSwitch": 0, "SourceIpType": 1},
        "DeregisterTargetRst": False,
        "ProxyProtocol": True,
        "KeepaliveEnable": 1,
    },
    "BatchModifyTargetWeight": {
        "LoadBalancerId": "lb-abc",
        "ModifyList": [
            {"ListenerId": "lbl-1", "Targets": [{"Port": 80, "InstanceId": "ins-1"}], "Weight": 10},
            {
                "ListenerId": "lbl-2",
                "LocationId": "loc-2",
                "Targets": [{"Port": 8080, "EniIp": "10.0.0.3", "Weight": 0}],
            },
        ],
    },
}

ROUTE_PARAMS = {"LoadBalancerId": "lb-abc", "ListenerId": "lbl-1"}


@pytest.fixture(scope="module")
def sdk_client() -> clb_client.ClbClient:
    return clb_client.ClbClient(credential.Credential("AKIDtest", "secret"), "ap-guangzhou")


def sdk_serialized(action: str, body: dict) -> dict:
    """What the Python SDK puts on the wire for ``body`` (TC3 POST JSON)."""
    request = getattr(models, f"{action}Request")()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        request.from_json_string(json.dumps(body))
    return json.loads(json.dumps(request._serialize()))


def sdk_flattened(client: clb_client.ClbClient, params: dict) -> dict[str, str]:
    """The v1 / TC3-GET form of ``params``: the SDK's flattening, each value as urlencode renders it."""
    return {key: str(value) for key, value in client._fix_params(params).items()}


def refusal(call, *args) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as caught:
        call(*args)
    return caught.value
