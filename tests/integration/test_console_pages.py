"""The console's HTTP answers on the API port: CSP, content types, caching, the redirect from `/`.

The page is served beside the API without changing it: a browser's plain ``GET /`` is sent to
``/console/``, while API calls on ``/`` (POST, or GET with a query) answer as before.
"""

from __future__ import annotations

import re
from pathlib import Path

import requests

from clb_support import checked
from conftest import sdk_client

STATIC = Path(__file__).resolve().parents[2] / "openclb" / "console" / "static"
MAX_MODULE_LINES = 500


def test_console_page_has_strict_csp_and_no_inline_script_or_style(server):
    answer = requests.get(f"{server.url}/console/", timeout=10)

    policy = answer.headers["Content-Security-Policy"]
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    html = answer.text
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="js/main.js">']
    assert "</script>" in html and not re.search(r"<script[^>]*>[^<]+</script>", html)
    assert "<style" not in html and " style=" not in html and " on" not in re.sub(r"\son(?![a-z]+=)", "", html)
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)


def test_console_modules_served_with_types_and_relative_imports_only(server):
    for path in sorted(STATIC.rglob("*")):
        if path.is_dir():
            continue
        name = path.relative_to(STATIC).as_posix()
        answer = requests.get(f"{server.url}/console/{name}", timeout=10)
        expected = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}[path.suffix]
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(expected), name
        assert answer.content == path.read_bytes()
        assert answer.headers["Cache-Control"] == "no-cache" and answer.headers["ETag"]
        if path.suffix == ".js":
            imports = re.findall(r"""^import .* from "([^"]+)";""", answer.text, re.M)
            assert all(spec.startswith("./") for spec in imports), (name, imports)
            assert ".innerHTML" not in answer.text and "eval(" not in answer.text, name
            assert len(answer.text.splitlines()) < MAX_MODULE_LINES, name


def test_console_static_unchanged_revalidates_with_304(server):
    first = requests.get(f"{server.url}/console/js/main.js", timeout=10)
    again = requests.get(f"{server.url}/console/js/main.js", headers={"If-None-Match": first.headers["ETag"]}, timeout=10)

    assert again.status_code == 304 and again.content == b""


def test_console_unknown_file_is_404_and_post_is_405(server):
    assert requests.get(f"{server.url}/console/js/nothing.js", timeout=10).status_code == 404
    assert requests.get(f"{server.url}/console/%2e%2e/pyproject.toml", timeout=10).status_code == 404
    assert requests.post(f"{server.url}/console/", data=b"x", timeout=10).status_code == 405


def test_root_browser_get_redirects_to_console_and_api_calls_still_answer(server):
    page = requests.get(f"{server.url}/", headers={"Accept": "text/html,application/xhtml+xml"}, allow_redirects=False,
                        timeout=10)
    bare = requests.get(f"{server.url}/", timeout=10)
    query = requests.get(f"{server.url}/?Action=DescribeLoadBalancers", headers={"Accept": "text/html"}, timeout=10)

    assert page.status_code == 302 and page.headers["Location"] == "/console/"
    assert bare.json()["Response"]["Error"]["Code"] == "MissingParameter"
    assert query.json()["Response"]["Error"]["Code"] == "MissingParameter"
    assert checked(sdk_client(server.url), "DescribeLoadBalancers", {})["TotalCount"] == 0


def test_console_catalog_lists_every_served_action_with_structure(server):
    catalog = requests.get(f"{server.url}/console/catalog.json", timeout=10).json()

    services = {s["service"]: s for s in catalog["services"]}
    clb = services["clb"]
    actions = {a["name"]: a for a in clb["actions"]}
    ports = next(m for m in clb["shapes"]["CreateListenerRequest"] if m["name"] == "Ports")
    assert {"CreateListener", "RegisterTargets", "DescribeTaskStatus"} <= set(actions)
    assert {a["name"] for a in services["openclb"]["actions"]} >= {"ExportState", "ImportState", "ResetState"}
    assert ports == {**ports, "type": "list", "member": "int64", "required": True}
    assert actions["CreateListener"]["write"] and not actions["DescribeListeners"]["write"]
    assert "HealthCheck" in clb["shapes"] and "CertificateInput" in clb["shapes"]
    assert "CertKey" in {m["name"] for m in clb["shapes"]["CertificateInput"]}
