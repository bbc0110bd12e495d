"""The API Explorer in a real browser (headless Chromium from Debian, driven by Selenium).

The acceptance scenario of the console issue: search CreateListener, load the official example
that creates two TCP listeners, enter credentials, send; the response carries two ListenerIds,
the task is followed to success, the listeners serve on the CLB's VIP, and the console view
shows both. The form and the JSON view stay in sync both ways, and the signature the page shows
is the one the official Python SDK computes for the same request and timestamp.
"""

from __future__ import annotations

import json
from unittest import mock

import pytest
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.sign import Sign

from backends import accepts_tcp
from clb_support import checked, create_clb_with_vip
from conftest import REGION, SECRET_ID, SECRET_KEY, sdk_client
from console_support import Console, browser  # noqa: F401  (the fixture)

TWO_TCP_LISTENERS = "Two TCP Listeners"


def example_number(console: Console, title_part: str) -> int:
    """The number of the official example whose title names ``title_part`` (tccli's order)."""
    for element in console.all_by_test_id_prefix("example-"):
        if title_part.lower() in (element.get_attribute("title") or "").lower():
            return int(element.get_attribute("data-testid").split("-")[1])
    raise AssertionError(f"no example titled with {title_part!r}")


def test_create_listener_official_example_from_page_creates_two_listeners_shown_in_console(server, browser):
    client = sdk_client(server.url)
    lb_id, vip = create_clb_with_vip(client, "explorer")
    console = Console(browser, server.url).open()

    console.choose("CreateListener")
    console.click(f"example-{example_number(console, TWO_TCP_LISTENERS)}")
    console.type("param-LoadBalancerId", lb_id)
    console.login(SECRET_ID, SECRET_KEY, REGION)
    console.click("send")

    console.wait(lambda: console.by_test_id("task-status").get_attribute("data-status") == "success", what="task success")
    response = json.loads(console.text("response"))["Response"]
    assert len(response["ListenerIds"]) == 2
    listeners = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})["Listeners"]
    assert sorted((item["Port"], item["ListenerName"]) for item in listeners) == [(7569, "lis0"), (7570, "lis1")]
    assert accepts_tcp(vip, 7569) and accepts_tcp(vip, 7570)
    console.click("tab-resources")
    for listener_id in response["ListenerIds"]:
        console.wait(lambda: console.exists(f"listener-{listener_id}"), what=f"listener-{listener_id} in the console view")
    assert console.exists(f"clb-{lb_id}")
    resources = browser.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert resources and all(name.startswith(server.url + "/") for name in resources), resources


def test_create_rule_form_and_json_view_stay_in_sync_both_ways(server, browser):
    console = Console(browser, server.url).open()
    console.choose("CreateRule")

    console.click("add-Rules")
    console.type("param-Rules.0.Domain", "www.example.com")
    console.type("param-Rules.0.HealthCheck.TimeOut", "3")
    from_form = json.loads(console.value("params-json"))
    console.type("params-json", json.dumps({"LoadBalancerId": "lb-12345678", "Rules": [{"Domain": "a.example", "Url": "/x"},
                                                                                      {"Domain": "b.example"}]}))
    console.wait(lambda: console.exists("param-Rules.1.Domain"), what="the second rule's inputs")

    assert from_form == {"Rules": [{"Domain": "www.example.com", "HealthCheck": {"TimeOut": 3}}]}
    assert console.value("param-LoadBalancerId") == "lb-12345678"
    assert console.value("param-Rules.0.Url") == "/x"
    assert console.value("param-Rules.1.Domain") == "b.example"


def test_create_listener_signature_shown_equals_python_sdk_signature_at_same_timestamp(server, browser):
    timestamp = 1_795_000_000
    params = {"LoadBalancerId": "lb-12345678", "Ports": [80, 81], "Protocol": "TCP", "ListenerNames": ["名字", "b"],
              "HealthCheck": {"HealthSwitch": 1, "TimeOut": 2}}
    console = Console(browser, server.url).open()
    console.login(SECRET_ID, SECRET_KEY, REGION)
    console.choose("CreateListener")
    console.type("params-json", json.dumps(params))
    console.type("signature-timestamp", str(timestamp))
    console.wait(lambda: f"\n{timestamp}\n" in console.text("signature-string-to-sign"), what="the fixed timestamp signed")

    sdk = sdk_client(server.url.removeprefix("http://"))  # signs `host:` as the browser sends it (no scheme)
    request = RequestInternal(sdk._get_endpoint(), "POST", "/")
    with mock.patch("tencentcloud.common.abstract_client.time.time", return_value=timestamp):
        sdk._build_req_with_tc3_signature("CreateListener", params, request)

    assert console.text("signature-body") == request.data
    assert console.text("signature-authorization") == request.header["Authorization"]
    v1_string = console.text("signature-v1-string-to-sign")
    assert v1_string.startswith(f"POST{sdk._get_endpoint()}/?")
    assert console.text("signature-v1-signature") == Sign.sign(SECRET_KEY, v1_string, "HmacSHA256")


@pytest.mark.parametrize("method", ["TC3-HMAC-SHA256", "HmacSHA256"])
def test_describe_load_balancers_sent_from_page_with_each_signature_succeeds(server, browser, method):
    client = sdk_client(server.url)
    lb_id, _ = create_clb_with_vip(client, "signed-" + method.lower())
    console = Console(browser, server.url).open()
    console.login(SECRET_ID, SECRET_KEY, REGION)
    console.choose("DescribeLoadBalancers")
    console.type("params-json", json.dumps({"LoadBalancerIds": [lb_id, "lb-00000000"], "Limit": 5}))
    console.driver.find_element("css selector", '[data-testid="sign-method"]').send_keys(method)
    console.click("send")

    console.wait(lambda: "RequestId" in console.text("response"), what="the response")
    response = json.loads(console.text("response"))["Response"]
    assert [lb["LoadBalancerId"] for lb in response["LoadBalancerSet"]] == [lb_id]
    assert "DescribeLoadBalancers" in console.text("history")


def test_get_caller_identity_sts_sent_from_page_answers_for_the_key(server, browser):
    console = Console(browser, server.url).open()
    console.login(SECRET_ID, SECRET_KEY, REGION)
    console.choose("GetCallerIdentity")
    console.click("send")

    console.wait(lambda: "RequestId" in console.text("response"), what="the response")
    response = json.loads(console.text("response"))["Response"]
    assert "Error" not in response and response["Arn"]
    assert "sts" in console.text("action-name") and "CommonClient(\"sts\"" in console.text("code-python")
    assert "/sts/tc3_request" in console.text("signature-string-to-sign")
