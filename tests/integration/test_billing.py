"""Billing through the official Python SDK: prepaid CLBs, renewals, and quotes from the price table.

CreateLoadBalancer with LBChargeType PREPAID gives a CLB an expiry (ExpireTime, ChargeType,
PrepaidAttributes in DescribeLoadBalancers); RenewLoadBalancers moves it on by whole months in
a task; the InquiryPrice* actions quote from the embedded table or the operator's
``<data-dir>/prices.json``. Refusals use the documented codes and change nothing; the term
travels in state snapshots and goes with ResetState.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from tencentcloud.clb.v20180317 import models

from admin_support import admin, admin_client, admin_refused, export_document
from clb_support import checked, create_clb, refused, task_status, write
from openclb.resources.load_balancers.terms import add_months
from openclb.resources.shared.clock import BEIJING

pytestmark = pytest.mark.postgres

PREPAID = {"LBChargeType": "PREPAID", "LBChargePrepaid": {"Period": 2, "RenewFlag": "AUTO_RENEW"}}


def described(client, lb_id: str) -> dict:
    return checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]


def expiry(client, lb_id: str) -> datetime:
    return datetime.strptime(described(client, lb_id)["ExpireTime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)


def test_create_load_balancer_prepaid_shows_expiry_and_term(any_store_server):
    from conftest import sdk_client
    client = sdk_client(any_store_server.url)
    before = datetime.now(BEIJING).replace(microsecond=0)
    lb_id = create_clb(client, "monthly", **PREPAID)
    lb = described(client, lb_id)
    assert lb["ChargeType"] == "PREPAID"
    assert lb["PrepaidAttributes"] == {"RenewFlag": "AUTO_RENEW", "Period": 2}
    assert add_months(before, 2) <= expiry(client, lb_id) <= add_months(datetime.now(BEIJING), 2)
    (detail,) = checked(client, "DescribeLoadBalancersDetail", {"Filters": [
        {"Name": "loadbalancer-id", "Values": [lb_id]}]})["LoadBalancerDetailSet"]
    assert (detail["ChargeType"], detail["PrepaidAttributes"]) == ("PREPAID", {"RenewFlag": "AUTO_RENEW", "Period": 2})
    hourly = described(client, create_clb(client, "hourly"))
    assert (hourly["ChargeType"], hourly["ExpireTime"], hourly["PrepaidAttributes"]) == (
        "POSTPAID_BY_HOUR", "0000-00-00 00:00:00", None)


@pytest.mark.parametrize("extra,code", [
    ({"LBChargeType": "MONTHLY"}, "InvalidParameterValue"),
    ({"LBChargeType": "PREPAID", "LBChargePrepaid": {"Period": 13}}, "InvalidParameterValue"),
    ({"LBChargeType": "PREPAID", "LBChargePrepaid": {"Period": 1, "RenewFlag": "SOMETIMES"}}, "InvalidParameterValue"),
    ({"LBChargePrepaid": {"Period": 1}}, "InvalidParameterCombination"),
])
def test_create_load_balancer_bad_charge_terms_refused_nothing_created(server, client, extra, code):
    refused(client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", **extra}, code)
    assert checked(client, "DescribeLoadBalancers", {})["TotalCount"] == 0


def test_renew_load_balancers_extends_expiry_by_months_in_a_task(any_store_server):
    from conftest import sdk_client
    client = sdk_client(any_store_server.url)
    lb_id = create_clb(client, "monthly", **PREPAID)
    was = expiry(client, lb_id)
    request = models.RenewLoadBalancersRequest()
    request.LoadBalancerIds = [lb_id]
    request.LBChargePrepaid = models.LBChargePrepaid()
    request.LBChargePrepaid.Period = 3
    request.LBChargePrepaid.RenewFlag = "MANUAL_RENEW"
    answer = client.RenewLoadBalancers(request)
    assert answer.DealName.isdigit() and len(answer.DealName) == 23
    assert task_status(client, answer.RequestId) == 0
    assert expiry(client, lb_id) == add_months(was, 3)
    assert described(client, lb_id)["PrepaidAttributes"] == {"RenewFlag": "MANUAL_RENEW", "Period": 3}


def test_renew_load_balancers_postpaid_unknown_or_bad_period_refused_nothing_changed(server, client):
    prepaid = create_clb(client, "monthly", **PREPAID)
    hourly = create_clb(client, "hourly")
    was = expiry(client, prepaid)
    renew = {"LBChargePrepaid": {"Period": 1}}
    refused(client, "RenewLoadBalancers", {"LoadBalancerIds": [prepaid, hourly], **renew}, "InvalidParameter", lb_id=prepaid)
    refused(client, "RenewLoadBalancers", {"LoadBalancerIds": [prepaid, "lb-xxxxxxxx"], **renew},
            "InvalidParameter.LBIdNotFound", lb_id=prepaid)
    refused(client, "RenewLoadBalancers", {"LoadBalancerIds": [prepaid], "LBChargePrepaid": {"Period": 5000}},
            "InvalidParameterValue", lb_id=prepaid)
    refused(client, "RenewLoadBalancers", {"LoadBalancerIds": [], **renew}, "InvalidParameter", lb_id=prepaid)
    assert expiry(client, prepaid) == was


def test_inquiry_price_create_load_balancer_default_table(server, client):
    request = models.InquiryPriceCreateLoadBalancerRequest()
    request.LoadBalancerType = "OPEN"
    request.LoadBalancerChargeType = "POSTPAID"
    request.InternetAccessible = models.InternetAccessible()
    request.InternetAccessible.InternetChargeType = "BANDWIDTH_POSTPAID_BY_HOUR"
    request.InternetAccessible.InternetMaxBandwidthOut = 1
    price = client.InquiryPriceCreateLoadBalancer(request).Price
    assert (price.InstancePrice.UnitPrice, price.InstancePrice.ChargeUnit) == (0.2, "HOUR")
    assert (price.BandwidthPrice.UnitPrice, price.BandwidthPrice.ChargeUnit) == (0.04, "HOUR")
    prepaid = checked(client, "InquiryPriceCreateLoadBalancer", {
        "LoadBalancerType": "OPEN", "LoadBalancerChargeType": "PREPAID", "GoodsNum": 2,
        "InternetAccessible": {"InternetChargeType": "BANDWIDTH_PREPAID", "InternetMaxBandwidthOut": 1},
        "LoadBalancerChargePrepaid": {"Period": 3}})["Price"]
    assert prepaid["InstancePrice"]["OriginalPrice"] == 144 * 3 * 2
    assert prepaid["BandwidthPrice"]["OriginalPrice"] == 23 * 3 * 2
    internal = checked(client, "InquiryPriceCreateLoadBalancer", {
        "LoadBalancerType": "INTERNAL", "LoadBalancerChargeType": "POSTPAID_BY_HOUR"})["Price"]
    assert internal["BandwidthPrice"] is None and internal["InstancePrice"]["UnitPrice"] == 0.2


def test_inquiry_price_create_load_balancer_operator_price_table_applies(server_factory, tmp_path):
    from conftest import sdk_client
    data_dir = tmp_path / "priced"
    data_dir.mkdir()
    (data_dir / "prices.json").write_text(json.dumps({"InstancePerHour": 1.5, "Discount": 50}))
    client = sdk_client(server_factory(data_dir=data_dir).url)
    price = checked(client, "InquiryPriceCreateLoadBalancer", {
        "LoadBalancerType": "OPEN", "LoadBalancerChargeType": "POSTPAID_BY_HOUR"})["Price"]["InstancePrice"]
    assert (price["UnitPrice"], price["UnitPriceDiscount"], price["Discount"]) == (1.5, 0.75, 50)
    (data_dir / "prices.json").write_text(json.dumps({"InstancePerHour": -1}))
    message = refused(client, "InquiryPriceCreateLoadBalancer", {
        "LoadBalancerType": "OPEN", "LoadBalancerChargeType": "POSTPAID_BY_HOUR"}, "FailedOperation")
    assert "InstancePerHour" in message


@pytest.mark.parametrize("params,code", [
    ({"LoadBalancerType": "PUBLIC", "LoadBalancerChargeType": "POSTPAID"}, "InvalidParameterValue"),
    ({"LoadBalancerType": "OPEN", "LoadBalancerChargeType": "FREE"}, "InvalidParameterValue"),
    ({"LoadBalancerType": "OPEN", "LoadBalancerChargeType": "POSTPAID", "GoodsNum": 0}, "InvalidParameterValue.Range"),
    ({"LoadBalancerType": "OPEN", "LoadBalancerChargeType": "POSTPAID",
      "InternetAccessible": {"InternetChargeType": "FREE"}}, "InvalidParameterValue"),
    ({"LoadBalancerType": "OPEN", "LoadBalancerChargeType": "POSTPAID",
      "InternetAccessible": {"InternetMaxBandwidthOut": 5000}}, "InvalidParameterValue.Range"),
])
def test_inquiry_price_create_load_balancer_bad_input_refused(server, client, params, code):
    refused(client, "InquiryPriceCreateLoadBalancer", params, code)


def test_inquiry_price_modify_renew_refund_of_a_prepaid_clb(server, client):
    lb_id = create_clb(client, "monthly", LBChargeType="PREPAID", LBChargePrepaid={"Period": 1},
                       InternetAccessible={"InternetChargeType": "BANDWIDTH_PREPAID", "InternetMaxBandwidthOut": 2})
    request = models.InquiryPriceModifyLoadBalancerRequest()
    request.LoadBalancerId = lb_id
    request.InternetAccessible = models.InternetAccessible()
    request.InternetAccessible.InternetChargeType = "BANDWIDTH_PREPAID"
    request.InternetAccessible.InternetMaxBandwidthOut = 20
    modified = client.InquiryPriceModifyLoadBalancer(request).Price
    assert (modified.InstancePrice.OriginalPrice, modified.BandwidthPrice.OriginalPrice) == (144, 23 * 20)
    renew = checked(client, "InquiryPriceRenewLoadBalancer", {
        "LoadBalancerId": lb_id, "LoadBalancerChargePrepaid": {"Period": 12}})["Price"]
    assert (renew["InstancePrice"]["OriginalPrice"], renew["BandwidthPrice"]["OriginalPrice"]) == (144 * 12, 23 * 2 * 12)
    refund = checked(client, "InquiryPriceRefundLoadBalancer", {"LoadBalancerId": lb_id})["Price"]["InstancePrice"]
    assert 0.99 * (144 + 46) <= refund["OriginalPrice"] <= 144 + 46
    refund_request = models.InquiryPriceRefundLoadBalancerRequest()
    refund_request.LoadBalancerId = lb_id
    assert client.InquiryPriceRefundLoadBalancer(refund_request).Price.BandwidthPrice is None
    renew_request = models.InquiryPriceRenewLoadBalancerRequest()
    renew_request.LoadBalancerId = lb_id
    renew_request.LoadBalancerChargePrepaid = models.LBChargePrepaid()
    renew_request.LoadBalancerChargePrepaid.Period = 2
    assert client.InquiryPriceRenewLoadBalancer(renew_request).Price.InstancePrice.OriginalPrice == 288


def test_inquiry_price_of_postpaid_or_unknown_clb_refused(server, client):
    hourly = create_clb(client, "hourly")
    refused(client, "InquiryPriceRefundLoadBalancer", {"LoadBalancerId": hourly}, "InvalidParameterValue")
    refused(client, "InquiryPriceRenewLoadBalancer", {
        "LoadBalancerId": hourly, "LoadBalancerChargePrepaid": {"Period": 1}}, "InvalidParameterValue")
    for action, extra in (("InquiryPriceRefundLoadBalancer", {}),
                          ("InquiryPriceRenewLoadBalancer", {"LoadBalancerChargePrepaid": {"Period": 1}}),
                          ("InquiryPriceModifyLoadBalancer", {"InternetAccessible": {"InternetMaxBandwidthOut": 2}})):
        refused(client, action, {"LoadBalancerId": "lb-dr0mo6w4", **extra}, "InvalidParameter", lb_id=hourly)
    hourly_price = checked(client, "InquiryPriceModifyLoadBalancer", {
        "LoadBalancerId": hourly, "InternetAccessible": {"InternetChargeType": "BANDWIDTH_POSTPAID_BY_HOUR",
                                                         "InternetMaxBandwidthOut": 5}})["Price"]
    assert hourly_price["BandwidthPrice"]["UnitPrice"] == 0.2


def test_prepaid_term_exported_in_state_and_gone_after_reset(server, client):
    admin_api = admin_client(server.url)
    lb_id = create_clb(client, "monthly", **PREPAID)
    (lb,) = export_document(admin_api)["LoadBalancers"]
    assert lb["Settings"]["lb_charge_type"] == "PREPAID"
    assert lb["Settings"]["expire_at"] == described(client, lb_id)["ExpireTime"]
    assert lb["Settings"]["lb_charge_prepaid"] == {"period": 2, "renew_flag": "AUTO_RENEW"}
    admin(admin_api, "ResetState")
    assert checked(client, "DescribeLoadBalancerOverview", {})["TotalCount"] == 0
    assert export_document(admin_api)["LoadBalancers"] == []


def test_import_state_unreadable_prepaid_term_refused_nothing_imported(server, client):
    admin_api = admin_client(server.url)
    lb_id = create_clb(client, "monthly", **PREPAID)
    document = export_document(admin_api)
    document["LoadBalancers"][0]["Settings"]["expire_at"] = "next spring"
    message = admin_refused(admin_api, "ImportState", {"State": json.dumps(document), "Replace": True},
                            "InvalidParameterValue")
    assert "LoadBalancers.0" in message
    assert described(client, lb_id)["ExpireTime"] != "next spring"


def test_renew_load_balancers_busy_clb_raises_resource_in_operating_expiry_kept(server_factory):
    from conftest import sdk_client
    server = server_factory(fault_injection=True)
    client, admin_api = sdk_client(server.url), admin_client(server.url)
    lb_id = create_clb(client, "monthly", **PREPAID)
    was = expiry(client, lb_id)
    admin(admin_api, "InjectFault", {"Kind": "TaskDelay", "Action": "CreateListener", "Seconds": 30})
    checked(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP", "Ports": [7300]})
    refused(client, "RenewLoadBalancers", {"LoadBalancerIds": [lb_id], "LBChargePrepaid": {"Period": 1}},
            "FailedOperation.ResourceInOperating", lb_id=lb_id)
    assert expiry(client, lb_id) == was
    admin(admin_api, "ClearFaults")
