"""Account overview actions through the official Python SDK, on real counters and real rows.

DescribeLoadBalancerOverview counts CLBs and prepaid terms (expiring
and expired terms imported through ImportState); DescribeIdleLoadBalancers names the documented
reasons; DescribeResources, DescribeLBOperateProtect and DescribeCrossTargets answer their
documented shapes and refuse what their documents refuse, changing nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from tencentcloud.clb.v20180317 import models

from admin_support import admin_client, export_document, import_state
from clb_support import checked, create_clb, create_listener, refused, register
from conftest import sdk_client
from openclb.resources.shared.clock import BEIJING, api_time

pytestmark = pytest.mark.postgres


def _term_document(client, admin_api, lb_id: str, expire_at: datetime) -> str:
    """The account's state with ``lb_id`` made a PREPAID CLB expiring at ``expire_at``."""
    document = export_document(admin_api)
    for lb in document["LoadBalancers"]:
        if lb["LoadBalancerId"] == lb_id:
            lb["Settings"].update(lb_charge_type="PREPAID", lb_charge_prepaid={"period": 1, "renew_flag": "MANUAL_RENEW"},
                                  expire_at=api_time(expire_at))
    return json.dumps(document)


def test_describe_load_balancer_overview_counts_running_expiring_and_isolated(server, client):
    admin_api = admin_client(server.url)
    empty = client.DescribeLoadBalancerOverview(models.DescribeLoadBalancerOverviewRequest())
    assert (empty.TotalCount, empty.RunningCount, empty.IsolationCount, empty.WillExpireCount) == (0, 0, 0, 0)
    soon, gone, _ = create_clb(client, "soon"), create_clb(client, "gone"), create_clb(client, "hourly")
    now = datetime.now(BEIJING)
    document = json.loads(_term_document(client, admin_api, soon, now + timedelta(days=3)))
    for lb in document["LoadBalancers"]:
        if lb["LoadBalancerId"] == gone:
            lb["Settings"].update(lb_charge_type="PREPAID", lb_charge_prepaid={"period": 1}, expire_at=api_time(now - timedelta(days=1)))
    assert import_state(admin_api, client, json.dumps(document), Replace=True)["status"]["Status"] == 0

    counts = checked(client, "DescribeLoadBalancerOverview", {})
    assert (counts["TotalCount"], counts["RunningCount"], counts["IsolationCount"], counts["WillExpireCount"]) == (3, 3, 1, 1)
    described = {lb["LoadBalancerId"]: lb for lb in checked(client, "DescribeLoadBalancers", {})["LoadBalancerSet"]}
    assert described[gone]["Isolation"] == 1 and described[soon]["Isolation"] == 0
    assert described[soon]["ExpireTime"] == api_time(now + timedelta(days=3))


def test_describe_idle_load_balancers_documented_reasons(server, client):
    bare = create_clb(client, "bare")
    http_only = create_clb(client, "http-only")
    create_listener(client, http_only, "HTTP", [8080])
    no_targets = create_clb(client, "no-targets")
    create_listener(client, no_targets, "TCP", [8080])
    busy = create_clb(client, "busy")
    (listener_id,) = create_listener(client, busy, "TCP", [8080], HealthCheck={"HealthSwitch": 0})
    register(client, busy, listener_id, [9])
    prepaid = create_clb(client, "prepaid", LBChargeType="PREPAID", LBChargePrepaid={"Period": 1})

    request = models.DescribeIdleLoadBalancersRequest()
    answer = client.DescribeIdleLoadBalancers(request)
    reasons = {row.LoadBalancerId: row.IdleReason for row in answer.IdleLoadBalancers}
    assert reasons == {bare: "NO_RULES", http_only: "NO_RULES", no_targets: "NO_RS"}
    assert answer.TotalCount == 3 and busy not in reasons and prepaid not in reasons
    page = checked(client, "DescribeIdleLoadBalancers", {"Offset": 1, "Limit": 1, "LoadBalancerRegion": "ap-guangzhou"})
    assert page["TotalCount"] == 3 and len(page["IdleLoadBalancers"]) == 1
    assert checked(client, "DescribeIdleLoadBalancers", {"LoadBalancerRegion": "ap-beijing"})["TotalCount"] == 0


@pytest.mark.parametrize("params,code", [
    ({"Limit": 101}, "InvalidParameterValue.Range"),
    ({"Limit": 0}, "InvalidParameterValue.Range"),
    ({"LoadBalancerRegion": "xx-nowhere"}, "InvalidParameter"),
])
def test_describe_idle_load_balancers_bad_page_or_region_refused(server, client, params, code):
    lb_id = create_clb(client)
    refused(client, "DescribeIdleLoadBalancers", params, code, lb_id=lb_id)


def test_describe_resources_zones_and_isps_of_the_region(server, client):
    answer = client.DescribeResources(models.DescribeResourcesRequest())
    isps = [zone.ResourceSet[0].Isp for zone in answer.ZoneResourceSet]
    assert isps == ["BGP", "CMCC", "CTCC", "CUCC", "INTERNAL"] and answer.TotalCount == 5
    assert {zone.MasterZone for zone in answer.ZoneResourceSet} == {"ap-guangzhou-1"}
    lb_id = create_clb(client)
    master = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]["MasterZone"]
    assert master["Zone"] == "ap-guangzhou-1"
    only_bgp = checked(client, "DescribeResources", {"Filters": [{"Name": "isp", "Values": ["BGP"]}]})
    assert [z["ResourceSet"][0]["Isp"] for z in only_bgp["ZoneResourceSet"]] == ["BGP"]
    assert checked(client, "DescribeResources", {"Filters": [{"Name": "ip-version", "Values": ["IPv6"]}]})["TotalCount"] == 0
    abroad = sdk_client(server.url, region="ap-singapore")
    assert [z["ResourceSet"][0]["Isp"] for z in checked(abroad, "DescribeResources", {})["ZoneResourceSet"]] == ["BGP", "INTERNAL"]


def test_describe_resources_unknown_filter_raises_invalid_filter(server, client):
    lb_id = create_clb(client)
    refused(client, "DescribeResources", {"Filters": [{"Name": "colour", "Values": ["x"]}]},
            "InvalidParameterValue.InvalidFilter", lb_id=lb_id)


def test_describe_lb_operate_protect_existing_clbs_unprotected(server, client):
    lb_ids = [create_clb(client, "a"), create_clb(client, "b")]
    request = models.DescribeLBOperateProtectRequest()
    request.LoadBalancerIds = lb_ids
    answer = client.DescribeLBOperateProtect(request).LoadBalancerSet
    assert [(row.LoadBalancerId, row.ProtectState) for row in answer] == [(lb_ids[0], False), (lb_ids[1], False)]


def test_describe_lb_operate_protect_unknown_or_no_ids_refused(server, client):
    lb_id = create_clb(client)
    refused(client, "DescribeLBOperateProtect", {"LoadBalancerIds": [lb_id, "lb-rbw529fz"]},
            "InvalidParameter.LBIdNotFound", lb_id=lb_id)
    refused(client, "DescribeLBOperateProtect", {"LoadBalancerIds": []}, "InvalidParameterValue.Length", lb_id=lb_id)


def test_describe_cross_targets_no_cross_region_binding_returns_empty_set(server, client):
    answer = client.DescribeCrossTargets(models.DescribeCrossTargetsRequest())
    assert (answer.TotalCount, answer.CrossTargetSet) == (0, [])
    filtered = checked(client, "DescribeCrossTargets", {"Offset": 0, "Limit": 20, "Filters": [
        {"Name": "vpc-id", "Values": ["vpc-test1234"]}]})
    assert (filtered["TotalCount"], filtered["CrossTargetSet"]) == (0, [])


def test_describe_cross_targets_bad_filter_or_limit_refused(server, client):
    lb_id = create_clb(client)
    refused(client, "DescribeCrossTargets", {"Filters": [{"Name": "colour", "Values": ["x"]}]},
            "InvalidParameterValue.InvalidFilter", lb_id=lb_id)
    refused(client, "DescribeCrossTargets", {"Limit": 101}, "InvalidParameterValue.Range", lb_id=lb_id)
