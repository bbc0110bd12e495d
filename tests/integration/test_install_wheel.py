"""``pip install`` of the built wheel into a fresh virtual environment is the whole installation.

The package is built with ``pip wheel`` from a copy of the sources, installed into a new venv
(``python -m venv``; pip reaches the package index), and nothing of this checkout is on that
venv's path. Then: the wheel holds the package only (with its compiled part: gcc is there), the venv got the runtime dependencies and
no test tool; ``openclb serve`` on an empty data dir generates its key and answers the official
SDK (CLB and the admin API); and the pytest plugin is found through its ``pytest11`` entry point
by a suite that names nothing but the ``openclb_server`` fixture. About a minute, once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import requests

from admin_support import admin, admin_client
from backends import free_port
from clb_support import checked, create_clb
from conftest import sdk_client, unique_vip_pool
from gateway_support import REPO, ServeProcess

pytestmark = pytest.mark.timeout(900)

PLUGIN_SUITE = '''
def test_plugin_fixture_from_entry_point(openclb_server):
    created = openclb_server.admin.clb("CreateLoadBalancer", {"LoadBalancerType": "OPEN"})
    assert openclb_server.admin.wait_for_task(created["RequestId"])["Status"] == 0
    assert openclb_server.export_state()["LoadBalancers"][0]["LoadBalancerId"] == created["LoadBalancerIds"][0]
'''


def outside_checkout_env() -> dict[str, str]:
    """This process's environment (pip's index settings and HOME included) without this checkout or keys."""
    return {k: v for k, v in os.environ.items()
            if k != "PYTHONPATH" and not k.startswith("OPENCLB_") and not k.startswith("PYTEST_")}


def run(args: list, env: dict, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_pip_install_wheel_fresh_venv_serve_empty_dir_answers_sdk_and_plugin_loads(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    shutil.copytree(REPO / "openclb", source / "openclb", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, source / name)
    env = outside_checkout_env()
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], env)
    pip, python = venv / "bin" / "pip", venv / "bin" / "python"

    run([pip, "wheel", "-q", "--no-deps", "-w", tmp_path / "wheels", source], env)
    (wheel,) = (tmp_path / "wheels").glob("openclb-*.whl")
    run([pip, "install", "-q", wheel, "pytest"], env)

    names = zipfile.ZipFile(wheel).namelist()
    assert all(n.startswith(("openclb/", "openclb-")) for n in names), names
    # make test provisions gcc: the wheel carries the compiled access-log parts, and they load.
    for compiled in ("openclb/engine/embedded/_access_lines.", "openclb/engine/haproxy/_log_lines."):
        assert any(n.startswith(compiled) and n.endswith(".so") for n in names), names
    installed = {line.split("==")[0].lower() for line in run([pip, "freeze"], env).stdout.split()}
    assert {"aiohttp", "sqlalchemy", "cryptography", "httptools"} <= installed
    assert not installed & {"hypothesis", "pytest-xdist", "tencentcloud-sdk-python-clb", "tccli-intl-en", "py-spy"}
    location = run([python, "-c", "import openclb.engine.embedded.http_access_log as h; assert h.compiled; "
                                  "import openclb.engine.haproxy._log_lines; "
                                  "import openclb; print(openclb.__file__)"], env, cwd=tmp_path).stdout
    assert location.startswith(str(venv)), location

    serve = ServeProcess(["--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "empty"),
                          "--vip-pool", unique_vip_pool(), "--metrics-listen", "off"],
                         env, tmp_path / "serve.log", binary=str(venv / "bin" / "openclb"))
    try:
        serve.start()
        secret_id, secret_key = serve.banner_value("OPENCLB_SECRET_ID"), serve.banner_value("OPENCLB_SECRET_KEY")
        client = sdk_client(serve.url, secret_id=secret_id, secret_key=secret_key)
        lb_id = create_clb(client)
        described = checked(client, "DescribeLoadBalancers", {})
        state = json.loads(admin(admin_client(serve.url, secret_id, secret_key), "ExportState")["State"])
        page = requests.get(f"{serve.url}/console/js/main.js", timeout=10)
        catalog = requests.get(f"{serve.url}/console/catalog.json", timeout=10).json()
    finally:
        serve.stop()
    assert [lb["LoadBalancerId"] for lb in described["LoadBalancerSet"]] == [lb_id]
    assert state["LoadBalancers"][0]["LoadBalancerId"] == lb_id
    assert {"openclb/console/static/index.html", "openclb/console/static/js/main.js"} <= set(names)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/javascript")
    assert catalog["descriptions"] is False  # no tccli in a runtime-only install: the page works without prose

    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "test_plugin.py").write_text(textwrap.dedent(PLUGIN_SUITE))
    plugin_run = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plugin.py"], env,
                     cwd=tmp_path / "suite")
    assert "1 passed" in plugin_run.stdout
