"""``openclb serve --drain-seconds N`` end to end: SIGTERM under traffic waits at most N seconds.

The server is a real child process started as a user would, set up with the official SDK;
a relayed connection is held open when it is sent SIGTERM.
"""

from __future__ import annotations

import socket
import subprocess
import time

from backends import NamedBackend
from clb_support import create_clb_with_vip, write
from conftest import sdk_client, unique_vip_pool
from gateway_support import VENV_BIN, ServeProcess, clean_env


def test_serve_drain_seconds_sigterm_with_open_connection_exits_after_the_grace(tmp_path):
    env = clean_env(tmp_path, OPENCLB_SECRET_ID="AKIDdrainFlag000000000000000000000", OPENCLB_SECRET_KEY="drainKey")
    serve = ServeProcess(["--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"),
                          "--vip-pool", unique_vip_pool(), "--drain-seconds", "1.5"], env, tmp_path / "serve.log").start()
    backend = NamedBackend("echo")
    try:
        client = sdk_client(serve.url, secret_id="AKIDdrainFlag000000000000000000000", secret_key="drainKey")
        lb_id, vip = create_clb_with_vip(client)
        (listener_id,) = write(client, "CreateListener", {
            "LoadBalancerId": lb_id, "Ports": [8641], "Protocol": "TCP",
            "HealthCheck": {"HealthSwitch": 0}})["ListenerIds"]
        write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                          "Targets": [{"EniIp": "127.0.0.1", "Port": backend.port}]})
        with socket.create_connection((vip, 8641), timeout=5) as sock:
            assert sock.recv(4) == b"echo"
            started = time.monotonic()
            serve.process.terminate()
            time.sleep(0.5)
            sock.sendall(b"draining")
            assert sock.recv(64) == b"draining"
            assert serve.process.wait(10) == 0
            assert 1.3 < time.monotonic() - started < 5
            sock.settimeout(1)
            try:
                leftover = sock.recv(64)
            except ConnectionResetError:
                leftover = b""
            assert leftover == b""
    finally:
        serve.stop()
        backend.close()


def test_serve_drain_seconds_negative_is_refused_with_the_flag_named(tmp_path):
    refused = subprocess.run(
        [str(VENV_BIN / "openclb"), "serve", "--data-dir", str(tmp_path / "data"), "--drain-seconds", "-1"],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "--drain-seconds" in refused.stderr
