"""Accounts and the ``openclb`` command end to end: keys on disk, first-start key, --auth none, tenancy.

The CLI runs as a child process (``.venv/bin/openclb``) with its own data dir and an
environment without OPENCLB_* variables, exactly as a user starts it; the key it prints is
then used with the official Python SDK.
"""

from __future__ import annotations

import json
import stat
import subprocess

import pytest
from tencentcloud.clb.v20180317 import models

from conftest import sdk_client, unique_vip_pool
from gateway_support import OPENCLB, ServeProcess, assert_uuid4, clean_env, sdk_raises
from openclb.api import accounts


def _openclb(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [OPENCLB, *args], env=clean_env(tmp_path), capture_output=True, text=True, timeout=60
    )


def _serve(tmp_path, data_dir, *extra: str, name: str = "serve") -> ServeProcess:
    args = ["--listen", "127.0.0.1:0", "--data-dir", str(data_dir), "--vip-pool", unique_vip_pool(), *extra]
    return ServeProcess(args, clean_env(tmp_path), tmp_path / f"{name}.log").start()


@pytest.fixture
def serve_processes():
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.stop()


def _describe(url: str, secret_id: str, secret_key: str, **kwargs) -> models.DescribeLoadBalancersResponse:
    client = sdk_client(url, secret_id=secret_id, secret_key=secret_key, **kwargs)
    return client.DescribeLoadBalancers(models.DescribeLoadBalancersRequest())


def test_accounts_add_list_remove_manage_a_0600_file_without_showing_keys(tmp_path):
    data_dir = tmp_path / "data"

    added = _openclb(tmp_path, "accounts", "add", "--data-dir", str(data_dir),
                     "--secret-id", "AKIDcliFirst000000000000000000000", "--secret-key", "cliKeyOne")
    second = _openclb(tmp_path, "accounts", "add", "--data-dir", str(data_dir),
                      "--secret-id", "AKIDcliSecond00000000000000000000", "--secret-key", "cliKeyTwo")
    listed = _openclb(tmp_path, "accounts", "list", "--data-dir", str(data_dir))
    removed = _openclb(tmp_path, "accounts", "remove", "--data-dir", str(data_dir),
                       "--secret-id", "AKIDcliFirst000000000000000000000")
    removed_again = _openclb(tmp_path, "accounts", "remove", "--data-dir", str(data_dir),
                             "--secret-id", "AKIDcliFirst000000000000000000000")
    listed_after = _openclb(tmp_path, "accounts", "list", "--data-dir", str(data_dir))

    assert added.returncode == 0 and second.returncode == 0, added.stderr + second.stderr
    assert "AKIDcliFirst000000000000000000000" in added.stdout and "AppId=" in added.stdout
    assert listed.returncode == 0
    assert "AKIDcliFirst" in listed.stdout and "AKIDcliSecond" in listed.stdout
    assert "cliKeyOne" not in listed.stdout + added.stdout and "cliKeyTwo" not in listed.stdout
    assert removed.returncode == 0 and removed_again.returncode != 0
    assert "AKIDcliFirst" not in listed_after.stdout and "AKIDcliSecond" in listed_after.stdout
    accounts_file = data_dir / "accounts.json"
    assert stat.S_IMODE(accounts_file.stat().st_mode) == 0o600
    assert [entry["secret_id"] for entry in json.loads(accounts_file.read_text())["accounts"]] == [
        "AKIDcliSecond00000000000000000000"
    ]


def test_accounts_add_key_is_accepted_by_server_started_afterwards(tmp_path, serve_processes):
    data_dir = tmp_path / "data"
    added = _openclb(tmp_path, "accounts", "add", "--data-dir", str(data_dir),
                     "--secret-id", "AKIDcliServe000000000000000000000", "--secret-key", "cliServeKey")
    assert added.returncode == 0, added.stderr
    serve_processes.append(server := _serve(tmp_path, data_dir))

    response = _describe(server.url, "AKIDcliServe000000000000000000000", "cliServeKey")

    assert response.TotalCount == 0
    assert server.banner_value("OPENCLB_SECRET_KEY") is None
    sdk_raises("AuthFailure.SecretIdNotFound", lambda: _describe(server.url, "AKIDnotAdded00000000000000000000", "k"))


def test_serve_first_start_without_credentials_prints_generated_key_once(tmp_path, serve_processes):
    data_dir = tmp_path / "data"
    serve_processes.append(first := _serve(tmp_path, data_dir, name="first"))
    secret_id, secret_key = first.banner_value("OPENCLB_SECRET_ID"), first.banner_value("OPENCLB_SECRET_KEY")
    assert secret_id and secret_key, first.banner
    assert first.url.startswith("http://127.0.0.1:") and not first.url.endswith(":0")

    first_answer = _describe(first.url, secret_id, secret_key)
    assert first.stop() is not None
    serve_processes.append(second := _serve(tmp_path, data_dir, name="second"))
    second_answer = _describe(second.url, secret_id, secret_key)

    assert first_answer.TotalCount == 0 and second_answer.TotalCount == 0
    assert second.banner_value("OPENCLB_SECRET_KEY") is None
    assert all(secret_key not in line for line in second.banner)
    assert stat.S_IMODE((data_dir / "accounts.json").stat().st_mode) == 0o600
    call_lines = [line for line in first.log_lines() if line.get("request_id") == first_answer.RequestId]
    assert len(call_lines) == 1
    assert call_lines[0]["action"] == "DescribeLoadBalancers" and call_lines[0]["code"] == "Success"
    assert secret_key not in first.log_path.read_text()


def test_serve_auth_none_warns_loudly_and_accepts_any_credentials(tmp_path, serve_processes):
    serve_processes.append(server := _serve(tmp_path, tmp_path / "data", "--auth", "none"))

    warning = [line for line in server.banner if "WARNING" in line]
    made_up = _describe(server.url, "AKIDmadeUp", "anything")
    wrong_hmac = _describe(server.url, "AKIDmadeUp", "anything", sign_method="HmacSHA1", req_method="GET")
    with_token = _describe(server.url, "AKIDmadeUp", "anything", token="some-sts-token")

    assert warning and "--auth none" in warning[0] and "ANY credentials" in warning[0]
    assert made_up.TotalCount == wrong_hmac.TotalCount == with_token.TotalCount == 0
    assert_uuid4(made_up.RequestId)


def test_serve_bad_flags_exit_with_usage_error_not_traceback(tmp_path):
    for flags in (["--listen", "nonsense"], ["--rate-limit", "DescribeLoadBalancers"], ["--vip-pool", "1.2.3.4/40"]):
        result = _openclb(tmp_path, "serve", "--data-dir", str(tmp_path / "data"), *flags)

        assert result.returncode == 2, (flags, result.stderr)
        assert "Traceback" not in result.stderr and "openclb: error:" in result.stderr


def test_serve_rate_limit_star_sets_the_default_for_every_action(tmp_path, serve_processes):
    serve_processes.append(server := _serve(tmp_path, tmp_path / "data", "--rate-limit", "*=1"))
    secret_id, secret_key = server.banner_value("OPENCLB_SECRET_ID"), server.banner_value("OPENCLB_SECRET_KEY")
    client = sdk_client(server.url, secret_id=secret_id, secret_key=secret_key)

    client.call_json("DescribeQuota", {})
    sdk_raises("RequestLimitExceeded", lambda: [client.call_json("DescribeQuota", {}) for _ in range(3)])


def test_describe_load_balancers_two_accounts_see_only_their_own(server_factory, tmp_path):
    data_dir = tmp_path / "tenants"
    tenant = accounts.add_account(data_dir / "accounts.json", "AKIDtenantB000000000000000000000", "tenantKeyB")
    colleague = accounts.add_account(
        data_dir / "accounts.json", "AKIDtenantB2colleague00000000000", "tenantKeyB2", app_id=tenant.app_id
    )
    server = server_factory(data_dir=data_dir)
    default_client = sdk_client(server.url)
    tenant_client = sdk_client(server.url, secret_id=tenant.secret_id, secret_key="tenantKeyB")
    colleague_client = sdk_client(server.url, secret_id=colleague.secret_id, secret_key="tenantKeyB2")
    request = models.CreateLoadBalancerRequest()
    request.LoadBalancerType = "OPEN"
    request.LoadBalancerName = "tenant-b-only"

    created = tenant_client.CreateLoadBalancer(request)
    lb_id = created.LoadBalancerIds[0]
    seen_by = {
        name: client.call_json("DescribeLoadBalancers", {})["Response"]
        for name, client in (("tenant", tenant_client), ("colleague", colleague_client), ("default", default_client))
    }
    by_id_default = default_client.call_json("DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["Response"]

    assert colleague.app_id == tenant.app_id and colleague.owner_uin == tenant.owner_uin
    assert [lb["LoadBalancerId"] for lb in seen_by["tenant"]["LoadBalancerSet"]] == [lb_id]
    assert [lb["LoadBalancerId"] for lb in seen_by["colleague"]["LoadBalancerSet"]] == [lb_id]
    assert seen_by["default"]["TotalCount"] == 0 and by_id_default["TotalCount"] == 0


def test_describe_quota_serve_quota_flag_overrides_listener_quota(tmp_path):
    """`openclb serve --quota TOTAL_LISTENER_QUOTA=7` is what DescribeQuota reports."""
    from openclb.cli import _parser, _serve_settings

    args = _parser().parse_args(["serve", "--data-dir", str(tmp_path), "--quota", "TOTAL_LISTENER_QUOTA=7"])
    assert _serve_settings(args).quotas.listeners_per_clb == 7
    with pytest.raises(ValueError):
        _serve_settings(_parser().parse_args(["serve", "--quota", "NOPE=1"]))
