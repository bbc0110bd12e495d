"""The console view in a real browser: resources created from the page, live target health.

Creating a CLB, a listener and registering a real backend go through the page's own signed
calls (CreateLoadBalancer, CreateListener, RegisterTargets, each followed with
DescribeTaskStatus); the traffic check goes through the CLB's VIP to the backend; the target's
``data-health`` turns ``healthy`` within the health-check interval (5 s by default) plus one
poll of the page, and a connection held open through the VIP shows in its ``data-connections``.
"""

from __future__ import annotations

import socket
import time

from backends import NamedBackend, first_bytes, free_port
from clb_support import checked
from conftest import REGION, SECRET_ID, SECRET_KEY, sdk_client
from console_support import Console, browser  # noqa: F401  (the fixture)

HEALTH_INTERVAL = 5.0
POLL = 1.5


def select(console: Console, test_id: str, text_part: str) -> None:
    from selenium.webdriver.support.ui import Select

    chooser = Select(console.by_test_id(test_id))
    console.wait(lambda: any(text_part in o.text for o in chooser.options), what=f"{text_part} in {test_id}")
    chooser.select_by_visible_text(next(o.text for o in chooser.options if text_part in o.text))


def test_register_targets_from_console_backend_turns_healthy_within_interval(server, browser):
    backend = NamedBackend("console-web")
    client = sdk_client(server.url)
    console = Console(browser, server.url).open()
    console.login(SECRET_ID, SECRET_KEY, REGION)
    console.click("tab-resources")

    console.type("create-clb-name", "from-console")
    console.click("create-clb")
    console.wait(lambda: "CreateLoadBalancer: task success" in console.text("resources-message"), what="CLB created")
    (lb,) = checked(client, "DescribeLoadBalancers", {})["LoadBalancerSet"]
    console.wait(lambda: console.exists(f"clb-{lb['LoadBalancerId']}"), what="the CLB in the console view")
    port = free_port(lb["LoadBalancerVips"][0])
    select(console, "create-listener-lb", lb["LoadBalancerId"])
    console.type("create-listener-port", str(port))
    console.type("create-listener-name", "web")
    console.click("create-listener")
    console.wait(lambda: "CreateListener: task success" in console.text("resources-message"), what="listener created")
    (listener,) = checked(client, "DescribeListeners", {"LoadBalancerId": lb["LoadBalancerId"]})["Listeners"]
    select(console, "register-listener", listener["ListenerId"])
    console.type("register-ip", "127.0.0.1")
    console.type("register-port", str(backend.port))
    console.click("register-target")
    console.wait(lambda: "RegisterTargets: task success" in console.text("resources-message"), what="target registered")
    registered = time.monotonic()
    target_id = f"target-{listener['ListenerId']}-127.0.0.1-{backend.port}"
    console.wait(lambda: console.by_test_id(target_id).get_attribute("data-health") == "healthy",
                 timeout=HEALTH_INTERVAL + 2 * POLL + 3, what="the target healthy")

    assert time.monotonic() - registered <= HEALTH_INTERVAL + 2 * POLL + 3
    assert listener["Port"] == port and listener["ListenerName"] == "web"
    assert first_bytes(lb["LoadBalancerVips"][0], port).startswith(b"console-web")
    with socket.create_connection((lb["LoadBalancerVips"][0], port), timeout=3) as held:
        assert held.recv(11) == b"console-web"
        console.wait(lambda: console.by_test_id(target_id).get_attribute("data-connections") == "1",
                     what="the open connection counted in the console view")
    assert console.exists(f"listener-{listener['ListenerId']}")
    assert "CreateLoadBalancer" in console.text("resources") and "success" in console.text("resources")
    backend.close()


def test_describe_target_health_dead_backend_shown_unhealthy(server, browser):
    backend = NamedBackend("gone")
    client = sdk_client(server.url)
    lb_id = checked(client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "LoadBalancerName": "dead"})["LoadBalancerIds"][0]
    console = Console(browser, server.url).open()
    console.login(SECRET_ID, SECRET_KEY, REGION)
    console.click("tab-resources")
    console.wait(lambda: console.exists(f"clb-{lb_id}"), what="the CLB")
    select(console, "create-listener-lb", lb_id)
    console.type("create-listener-port", "9000")
    console.click("create-listener")
    console.wait(lambda: "CreateListener: task success" in console.text("resources-message"), what="listener created")
    (listener,) = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})["Listeners"]
    dead_port = backend.port
    backend.close()
    select(console, "register-listener", listener["ListenerId"])
    console.type("register-ip", "127.0.0.1")
    console.type("register-port", str(dead_port))
    console.click("register-target")

    target_id = f"target-{listener['ListenerId']}-127.0.0.1-{dead_port}"
    console.wait(lambda: console.by_test_id(target_id).get_attribute("data-health") == "unhealthy",
                 timeout=3 * HEALTH_INTERVAL + 2 * POLL + 3, what="the dead target unhealthy")
