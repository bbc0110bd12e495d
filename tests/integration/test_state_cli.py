"""``openclb state`` and ``openclb faults`` as users run them, against ``openclb serve`` child processes.

On a data dir: export while the server runs, import and reset only while it is stopped (the
server's ``serve.lock`` refuses them otherwise), and the next start serves what was imported.
With ``--endpoint``: the same commands through the admin API of a running server, and fault
injection on a server started with ``--faults``, met by the official SDK.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from admin_support import admin_client, export_text, tcp_listener
from backends import NamedBackend, first_bytes
from clb_support import checked, create_clb_with_vip
from conftest import SECRET_ID, SECRET_KEY, sdk_client
from gateway_support import OPENCLB, clean_env, serve_on_own_port

pytestmark = pytest.mark.timeout(180)


def openclb(tmp_path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = clean_env(tmp_path, OPENCLB_SECRET_ID=SECRET_ID, OPENCLB_SECRET_KEY=SECRET_KEY)
    return subprocess.run([OPENCLB, *args], env=env, capture_output=True, text=True, timeout=60, input=stdin)


def serve(tmp_path, name: str, *extra: str):
    (tmp_path / name).mkdir()
    return serve_on_own_port(tmp_path / name, *extra)


@pytest.fixture
def processes():
    started = []
    yield started
    for process in started:
        process.stop()


def test_state_import_data_dir_of_stopped_server_next_start_serves_exported_traffic(tmp_path, processes):
    source = serve(tmp_path, "a").start()
    processes.append(source)
    backend = NamedBackend("moved")
    try:
        lb_id, vip, _ = tcp_listener(sdk_client(source.url), 9401, [backend])
        exported = openclb(tmp_path, "state", "export", "--data-dir", str(tmp_path / "a" / "data"),
                           "--output", str(tmp_path / "state.json"))
        source.stop()
        target = serve(tmp_path, "b")
        processes.append(target)

        imported = openclb(tmp_path, "state", "import", "--data-dir", str(tmp_path / "b" / "data"),
                           str(tmp_path / "state.json"))
        target.start()

        assert exported.returncode == 0 and (tmp_path / "state.json").stat().st_mode & 0o077 == 0
        assert imported.returncode == 0, imported.stderr
        assert "imported 1 load balancers" in imported.stdout
        assert first_bytes(vip, 9401) == b"moved"
        described = checked(sdk_client(target.url), "DescribeLoadBalancers", {})["LoadBalancerSet"]
        assert [lb["LoadBalancerId"] for lb in described] == [lb_id]
        assert export_text(admin_client(target.url)) == (tmp_path / "state.json").read_text()
    finally:
        backend.close()


def test_state_import_and_reset_data_dir_while_server_runs_refused(tmp_path, processes):
    running = serve(tmp_path, "a").start()
    processes.append(running)
    data_dir = str(tmp_path / "a" / "data")
    create_clb_with_vip(sdk_client(running.url))
    document = openclb(tmp_path, "state", "export", "--data-dir", data_dir).stdout

    imported = openclb(tmp_path, "state", "import", "--data-dir", data_dir, "--replace", stdin=document)
    reset = openclb(tmp_path, "state", "reset", "--data-dir", data_dir)

    assert json.loads(document)["Format"] == "openclb-state"
    for refused in (imported, reset):
        assert refused.returncode == 1 and "a server is running" in refused.stderr
    assert checked(sdk_client(running.url), "DescribeLoadBalancers", {})["TotalCount"] == 1


def test_state_reset_data_dir_of_stopped_server_removes_account_resources(tmp_path, processes):
    server = serve(tmp_path, "a").start()
    processes.append(server)
    lb_id, vip = create_clb_with_vip(sdk_client(server.url))
    server.stop()

    reset = openclb(tmp_path, "state", "reset", "--data-dir", str(tmp_path / "a" / "data"))
    server.start()

    assert reset.returncode == 0 and "removed 1 load balancers" in reset.stdout
    assert checked(sdk_client(server.url), "DescribeLoadBalancers", {})["TotalCount"] == 0


def test_state_export_import_reset_endpoint_through_admin_api(tmp_path, processes):
    server = serve(tmp_path, "a").start()
    processes.append(server)
    client = sdk_client(server.url)
    lb_id, vip = create_clb_with_vip(client)
    endpoint = ("--endpoint", server.url)

    exported = openclb(tmp_path, "state", "export", *endpoint)
    reset = openclb(tmp_path, "state", "reset", *endpoint)
    emptied = checked(client, "DescribeLoadBalancers", {})["TotalCount"]
    imported = openclb(tmp_path, "state", "import", *endpoint, stdin=exported.stdout)

    assert exported.returncode == 0 and json.loads(exported.stdout)["LoadBalancers"][0]["Vip"] == vip
    assert (reset.returncode, emptied) == (0, 0)
    assert imported.returncode == 0, imported.stderr
    assert [lb["LoadBalancerId"] for lb in checked(client, "DescribeLoadBalancers", {})["LoadBalancerSet"]] == [lb_id]
    assert export_text(admin_client(server.url)) == exported.stdout


def test_faults_inject_list_clear_endpoint_fault_met_by_sdk(tmp_path, processes):
    server = serve(tmp_path, "a", "--faults").start()
    processes.append(server)
    endpoint = ("--endpoint", server.url)

    injected = openclb(tmp_path, "faults", "inject", *endpoint, "--kind", "ApiError", "--action",
                       "DescribeLoadBalancers", "--code", "RequestLimitExceeded", "--count", "1")
    with pytest.raises(TencentCloudSDKException) as caught:
        sdk_client(server.url).call_json("DescribeLoadBalancers", {})
    listed = openclb(tmp_path, "faults", "list", *endpoint)
    cleared = openclb(tmp_path, "faults", "clear", *endpoint)

    fault_id = injected.stdout.strip()
    assert injected.returncode == 0 and fault_id.startswith("fault-")
    assert caught.value.code == "RequestLimitExceeded"
    assert [(f["FaultId"], f["Hits"]) for f in json.loads(listed.stdout)] == [(fault_id, 1)]
    assert cleared.stdout.strip() == "cleared 1 faults"
    assert any(line.get("message") == "fault injected" and line.get("fault_id") == fault_id
               for line in server.log_lines())
    assert any("fault injection ON" in line for line in server.banner)


def test_faults_inject_server_without_faults_exit_1_unsupported_operation(tmp_path, processes):
    server = serve(tmp_path, "a").start()
    processes.append(server)

    injected = openclb(tmp_path, "faults", "inject", "--endpoint", server.url, "--kind", "ApiLatency",
                       "--seconds", "1")

    assert injected.returncode == 1 and "UnsupportedOperation" in injected.stderr
