"""The front door end to end with every official client: Python SDK, tccli and the Node SDK.

Each client is used exactly as its documentation says, pointed at a real openclb server:
the Python SDK with both signature versions over GET and POST, typed models and
``call_json``, and both spellings of a custom endpoint; tccli with ``--endpoint``; the Node
SDK's ``CommonClient`` (pinned by tests/node/package-lock.json and installed, with node and
npm, by ``make test``: scripts/provision-deps), so no test reaches the npm registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tencentcloud.clb.v20180317 import clb_client, models
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from conftest import REGION, SECRET_ID, SECRET_KEY, sdk_client
from gateway_support import REPO, VENV_BIN, assert_uuid4, clean_env

pytestmark = pytest.mark.postgres

NODE_DIR = REPO / "tests" / "node"
NODE_SDK_PACKAGE = NODE_DIR / "node_modules" / "tencentcloud-sdk-nodejs-common" / "package.json"

SIGNATURES = ["TC3-HMAC-SHA256", "HmacSHA1", "HmacSHA256"]


@pytest.mark.parametrize("req_method", ["POST", "GET"])
@pytest.mark.parametrize("sign_method", SIGNATURES)
def test_describe_load_balancers_python_sdk_any_signature_and_method_succeeds(server, sign_method, req_method):
    client = sdk_client(server.url, sign_method, req_method)

    typed = client.DescribeLoadBalancers(models.DescribeLoadBalancersRequest())
    raw = client.call_json("DescribeLoadBalancers", {"Limit": 5, "Offset": 0, "LoadBalancerIds": ["lb-00000000"]})

    assert typed.TotalCount == 0 and typed.LoadBalancerSet == []
    assert_uuid4(typed.RequestId)
    assert raw["Response"]["TotalCount"] == 0 and raw["Response"]["LoadBalancerSet"] == []
    assert_uuid4(raw["Response"]["RequestId"])


@pytest.mark.parametrize("sign_method", SIGNATURES)
@pytest.mark.parametrize("spelling", ["host-port-and-protocol", "url-with-scheme"])
def test_describe_load_balancers_python_sdk_endpoint_spellings_succeed(server, spelling, sign_method):
    if spelling == "host-port-and-protocol":
        http_profile = HttpProfile(endpoint=f"127.0.0.1:{server.port}", protocol="http")
    else:
        http_profile = HttpProfile(endpoint=f"http://127.0.0.1:{server.port}")
    profile = ClientProfile(signMethod=sign_method, httpProfile=http_profile)
    client = clb_client.ClbClient(credential.Credential(SECRET_ID, SECRET_KEY), REGION, profile)

    response = client.DescribeLoadBalancers(models.DescribeLoadBalancersRequest())

    assert response.TotalCount == 0
    assert_uuid4(response.RequestId)


def test_create_load_balancer_python_sdk_typed_model_is_described_afterwards(server):
    client = sdk_client(server.url)
    request = models.CreateLoadBalancerRequest()
    request.LoadBalancerType = "OPEN"
    request.LoadBalancerName = "front-door-e2e"

    created = client.CreateLoadBalancer(request)
    described = client.call_json("DescribeLoadBalancers", {"LoadBalancerIds": created.LoadBalancerIds})

    assert [lb["LoadBalancerName"] for lb in described["Response"]["LoadBalancerSet"]] == ["front-door-e2e"]


def _tccli(server_url: str, home: Path, *args: str, secret_key: str = SECRET_KEY) -> subprocess.CompletedProcess:
    command = [
        str(VENV_BIN / "tccli"), "clb", *args,
        "--endpoint", server_url, "--secretId", SECRET_ID, "--secretKey", secret_key, "--region", REGION,
    ]
    return subprocess.run(command, env=clean_env(home), capture_output=True, text=True, timeout=60)


def test_describe_load_balancers_tccli_with_endpoint_succeeds(server, tmp_path):
    result = _tccli(server.url, tmp_path, "DescribeLoadBalancers", "--Limit", "5")

    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["TotalCount"] == 0 and output["LoadBalancerSet"] == []
    assert_uuid4(output["RequestId"])


def test_describe_listeners_tccli_wrong_key_reports_signature_failure(server, tmp_path):
    result = _tccli(server.url, tmp_path, "DescribeListeners", "--LoadBalancerId", "lb-00000000", secret_key="wrong")

    assert result.returncode != 0
    assert "code:AuthFailure.SignatureFailure" in result.stdout + result.stderr


@pytest.fixture(scope="session")
def node_sdk_dir() -> Path:
    """tests/node with its pinned node_modules, as ``scripts/provision-deps test`` installs them."""
    if not (shutil.which("node") and NODE_SDK_PACKAGE.exists()):
        pytest.fail("node and tests/node's npm packages are needed: scripts/provision-deps test (make test runs it)")
    return NODE_DIR


def _node_call(node_dir: Path, port: int, action: str, params: dict, secret_key: str = SECRET_KEY,
               service: str = "clb", version: str = "2018-03-17") -> dict:
    env = dict(
        os.environ,
        OPENCLB_ENDPOINT=f"127.0.0.1:{port}",
        OPENCLB_SECRET_ID=SECRET_ID,
        OPENCLB_SECRET_KEY=secret_key,
        OPENCLB_REGION=REGION,
        OPENCLB_SERVICE=service,
        OPENCLB_VERSION=version,
    )
    env.pop("HTTP_PROXY", None), env.pop("http_proxy", None)
    result = subprocess.run(
        ["node", "call_action.js", action, json.dumps(params)],
        cwd=node_dir, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_describe_load_balancers_node_sdk_tc3_succeeds(server, node_sdk_dir):
    answer = _node_call(node_sdk_dir, server.port, "DescribeLoadBalancers", {"Limit": 5})

    assert answer["ok"] is True, answer
    assert answer["response"]["TotalCount"] == 0 and answer["response"]["LoadBalancerSet"] == []
    assert_uuid4(answer["response"]["RequestId"])


def test_export_state_node_sdk_common_client_admin_service_answers(server, node_sdk_dir):
    from openclb.api import admin

    answer = _node_call(node_sdk_dir, server.port, "ExportState", {}, service=admin.SERVICE, version=admin.VERSION)

    assert answer["ok"] is True, answer
    assert json.loads(answer["response"]["State"])["Format"] == "openclb-state"


def test_describe_listeners_node_sdk_bad_calls_report_their_codes(server, node_sdk_dir):
    missing = _node_call(node_sdk_dir, server.port, "DescribeListeners", {})
    wrong_key = _node_call(node_sdk_dir, server.port, "DescribeLoadBalancers", {}, secret_key="wrong")

    assert (missing["ok"], missing["code"]) == (False, "MissingParameter")
    assert "LoadBalancerId" in missing["message"]
    assert (wrong_key["ok"], wrong_key["code"]) == (False, "AuthFailure.SignatureFailure")

