"""The same request picks the same rule on both engines: the rendered HAProxy frontend against
the embedded router (``routing.Router``), request by request.

A real HAProxy runs the frontend ``render`` writes for a listener carrying every domain and
URL kind; each rule's backend is replaced by an answer naming its location id, so what
HAProxy chose is read off the response and compared with ``Router.route`` for the same Host
and path (404 when the router finds no rule). Always on HAProxy (not a marked pass).
"""

from __future__ import annotations

import http.client
import re
import subprocess
import time

import pytest

from backends import free_port
from openclb.protocols import ListenerProtocol
from openclb.engine.embedded.routing import Router, normalize_host
from openclb.engine.haproxy.process import find_haproxy
from openclb.engine.haproxy.render import RuntimePaths, render
from openclb.engine.spec import ListenerSpec, LoadBalancerState, RuleSpec

RULES = (
    RuleSpec("loc-root", ("www.shop.test",), "/", default_server=True),
    RuleSpec("loc-login", ("www.shop.test",), "=/login"),
    RuleSpec("loc-png", ("www.shop.test",), "~*\\.png$"),
    RuleSpec("loc-api", ("www.shop.test",), "/api"),
    RuleSpec("loc-apiv2", ("www.shop.test",), "/api/v2"),
    RuleSpec("loc-static", ("www.shop.test",), "~^/static/[a-z]+$"),
    RuleSpec("loc-wild", ("*.shop.test",), "/"),
    RuleSpec("loc-deep", ("*.eu.shop.test",), "/"),
    RuleSpec("loc-trail", ("shop.*",), "/x"),
    RuleSpec("loc-regex", ("~^img[0-9]+\\.cdn\\.test$",), "/"),
    RuleSpec("loc-other", ("other.test",), "/only"),
)
HOSTS = ["www.shop.test", "WWW.Shop.Test:8080", "www.shop.test.", "a.shop.test", "a.b.shop.test", "x.eu.shop.test",
         "shop.test", "shop.io", "img42.cdn.test", "IMG7.CDN.TEST", "img.cdn.test", "other.test", "unknown.test", None]
PATHS = ["/", "/login", "/login/", "/a/b.PNG", "/api", "/api/v2/x", "/api/v3", "/static/abc", "/static/abc/d",
         "/x", "/x/y", "/only", "/only/more", "/nothing", "/a/../login", "//api//v2", "/%6Cogin", "/api/./v2/q?z=1",
         "/a/b/../../api/v2"]


@pytest.fixture
def haproxy_frontend(tmp_path):
    """(port, process) of a HAProxy serving the rendered frontend, backends answering their name."""
    binary = find_haproxy()
    assert binary is not None, "haproxy is not installed: scripts/provision-deps test (make test runs it)"
    port = free_port()
    state = LoadBalancerState("lb-route", "127.0.0.1", (ListenerSpec("lbl-route", ListenerProtocol.HTTP, port,
                                                                     rules=RULES),))
    rendered = render([state], RuntimePaths(tmp_path, "unix@stats.sock"))
    text = re.sub(r"(?m)^(backend (\S+)\n(?:    .*\n)*)",
                  lambda m: m.group(1) + f"    http-request return status 200 hdr x-rule {m.group(2)}\n",
                  rendered.text + "\n")
    text = text.replace("    load-server-state-from-file global\n", "")
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(10)


def _haproxy_choice(port: int, host: str | None, path: str) -> str | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.putrequest("GET", path, skip_host=True)
    if host is not None:
        connection.putheader("Host", host)
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status in (200, 404), (host, path, response.status)
    return response.getheader("x-rule") if response.status == 200 else None


def test_route_every_domain_and_url_kind_haproxy_picks_embedded_routers_rule(haproxy_frontend):
    router = Router([(rule, rule.location_id) for rule in RULES])
    mismatches, picked = [], set()
    for host in HOSTS:
        for path in PATHS:
            expected = router.route(normalize_host(host) if host else "", path)
            chosen = _haproxy_choice(haproxy_frontend, host, path)
            picked.add(chosen)
            if chosen != expected:
                mismatches.append((host, path, expected, chosen))
    assert mismatches == []
    assert picked == {rule.location_id for rule in RULES} | {None}
