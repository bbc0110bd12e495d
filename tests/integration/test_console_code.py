"""The SDK code the API Explorer generates runs as-is against the server and succeeds.

For each runnable language on this machine (Python SDK, Node SDK, tccli, curl; Go and Java have
no toolchain here) the page is set to a CreateLoadBalancer call with its own name, the code shown
under ``code-<language>`` is run unchanged with only TENCENTCLOUD_SECRET_ID/KEY in the
environment (curl carries the signature the page computed), and the CLB it asked for exists.
The generated code never contains the SecretKey.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from clb_support import checked, task_status
from conftest import REGION, SECRET_ID, SECRET_KEY, sdk_client
from console_support import Console, browser  # noqa: F401  (the fixture)
from gateway_support import REPO, VENV_BIN, clean_env

NODE_MODULES = REPO / "tests" / "node" / "node_modules"


def run_python(code: str, workdir: Path, env: dict[str, str]) -> dict:
    (workdir / "call.py").write_text(code)
    result = subprocess.run([str(VENV_BIN / "python"), "call.py"], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_node(code: str, workdir: Path, env: dict[str, str]) -> dict:
    if shutil.which("node") is None or not NODE_MODULES.is_dir():
        pytest.fail("node and tests/node's npm packages are needed: scripts/provision-deps test (make test runs it)")
    (workdir / "call.js").write_text(code)
    result = subprocess.run(["node", "call.js"], cwd=workdir, env={**env, "NODE_PATH": str(NODE_MODULES)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_shell(code: str, workdir: Path, env: dict[str, str]) -> dict:
    path = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    result = subprocess.run(["bash", "-c", code], cwd=workdir, env={**env, "PATH": path}, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    return output.get("Response", output)


RUNNERS = {"python": run_python, "node": run_node, "tccli": run_shell, "curl": run_shell}


@pytest.mark.parametrize("language", list(RUNNERS))
def test_create_load_balancer_generated_code_runs_as_is_and_creates_it(server, browser, tmp_path, language):
    name = f"from-{language}"
    console = Console(browser, server.url).open()
    console.login(SECRET_ID, SECRET_KEY, REGION)
    console.choose("CreateLoadBalancer")
    console.type("params-json", json.dumps({"LoadBalancerType": "OPEN", "LoadBalancerName": name}))
    console.wait(lambda: name in console.text(f"code-{language}") and "Signature=" in console.text("code-curl"),
                 what=f"the {language} code for {name}")
    code = console.text(f"code-{language}")
    env = clean_env(tmp_path, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)

    response = RUNNERS[language](code, tmp_path, env)

    assert SECRET_KEY not in code
    (lb_id,) = response["LoadBalancerIds"]
    client = sdk_client(server.url)
    assert task_status(client, response["RequestId"]) == 0
    described = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"]
    assert [lb["LoadBalancerName"] for lb in described] == [name]


def test_export_state_admin_service_python_code_uses_common_client_and_succeeds(server, browser, tmp_path):
    console = Console(browser, server.url).open()
    console.login(SECRET_ID, SECRET_KEY, REGION)
    console.choose("ExportState")
    console.wait(lambda: "CommonClient(\"openclb\"" in console.text("code-python"), what="the admin service's code")
    env = clean_env(tmp_path, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)

    response = run_python(console.text("code-python"), tmp_path, env)

    assert json.loads(response["State"])["LoadBalancers"] == []
    assert "has no \"openclb\" service" in console.text("code-tccli")
