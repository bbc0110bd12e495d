"""What only the HAProxy engine has: TLS in HAProxy, the all-dead fallback, connect retries,
reloads, restarts, the bind race and ``openclb render``. (HAProxy outliving openclb:
test_haproxy_adoption.py.)

The shared layer-4 API + traffic tests run against this engine too, in ``make test``'s pass
with ``OPENCLB_TEST_ENGINE=haproxy``. HAProxy must be installed (``make test`` installs it).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from backends import accepts_tcp, first_bytes
from clb_support import (
    FAST_CHECK, create_clb_with_vip as create_clb, create_listener, create_rules, listener_with_targets, make_pki,
    register, target_health, upload, wait_for, write,
)
from conftest import make_settings, sdk_client, start_server, unique_vip_pool
from gateway_support import OPENCLB
from l7_support import assert_served_by_test_engine, connect, send
from openclb.engine.haproxy.process import find_haproxy


@pytest.fixture(autouse=True)
def _haproxy_installed() -> None:
    """The HAProxy engine is tested for real."""
    if find_haproxy() is None:
        pytest.fail("haproxy is not installed: scripts/provision-deps test (make test runs it)")


@pytest.fixture
def haproxy_server(server_factory):
    return server_factory(engine="haproxy")


@pytest.fixture
def client(haproxy_server):
    return sdk_client(haproxy_server.url)


def haproxy_config(running) -> str:
    return (running.server.settings.data_dir / "haproxy" / "haproxy.cfg").read_text()


def test_describe_target_health_haproxy_every_target_dead_traffic_still_flows(client, named_backends):
    """Both answer their name, not PONG, so the check condemns both; the CLB then spreads traffic over all."""
    one, two = named_backends("one"), named_backends("two")
    custom_check = {**FAST_CHECK, "CheckType": "CUSTOM", "ContextType": "TEXT", "SendContext": "PING",
                    "RecvContext": "PONG"}
    lb_id, vip, _ = listener_with_targets(client, "TCP", 8209, [
        {"EniIp": "127.0.0.1", "Port": one.port}, {"EniIp": "127.0.0.1", "Port": two.port}], HealthCheck=custom_check)
    wait_for(lambda: target_health(client, lb_id) == {one.port: "Dead", two.port: "Dead"}, 8)
    assert {first_bytes(vip, 8209) for _ in range(10)} == {b"one", b"two"}


def test_create_listener_haproxy_tcp_ssl_terminates_tls_with_uploaded_certificate(client, named_backends):
    backend = named_backends("behind-tls")
    _, vip, _ = listener_with_targets(client, "TCP_SSL", 8443, [{"EniIp": "127.0.0.1", "Port": backend.port}],
                                      Certificate=upload("rsa"))
    context = ssl.create_default_context(cadata=make_pki().ca.cert)
    with socket.create_connection((vip, 8443), timeout=2) as raw:
        with context.wrap_socket(raw, server_hostname="rsa.example.com") as tls:
            assert tls.getpeercert()["subject"] == ((("commonName", "rsa.example.com"),),)
            assert tls.recv(16) == b"behind-tls"


def test_create_listener_haproxy_server_restart_binds_listeners_again(tmp_path, named_backends):
    backend = named_backends("again")
    settings = make_settings(tmp_path / "restart", engine="haproxy")
    first = start_server(settings)
    try:
        client = sdk_client(first.url)
        _, vip, _ = listener_with_targets(client, "TCP", 7901, [{"EniIp": "127.0.0.1", "Port": backend.port}])
        assert first_bytes(vip, 7901) == b"again"
    finally:
        first.stop()
    assert not accepts_tcp(vip, 7901)
    second = start_server(settings)
    try:
        assert first_bytes(vip, 7901) == b"again"
    finally:
        second.stop()


def test_modify_target_weight_haproxy_reload_keeps_health_verdicts(haproxy_server, client, named_backends):
    """Health survives the reload a weight change causes (server-state file, weights retargeted)."""
    alive, gone = named_backends("alive"), named_backends("gone")
    gone.close()
    lb_id, vip, listener_id = listener_with_targets(client, "TCP", 8210, [
        {"EniIp": "127.0.0.1", "Port": alive.port}, {"EniIp": "127.0.0.1", "Port": gone.port}], HealthCheck=FAST_CHECK)
    wait_for(lambda: target_health(client, lb_id) == {alive.port: "Alive", gone.port: "Dead"}, 8)
    write(client, "ModifyTargetWeight", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Weight": 20,
                                         "Targets": [{"EniIp": "127.0.0.1", "Port": gone.port}]})
    assert f"127.0.0.1:{gone.port} weight 20" in haproxy_config(haproxy_server)
    assert target_health(client, lb_id) == {alive.port: "Alive", gone.port: "Dead"}


def _greeting(vip: str, port: int) -> bytes | str:
    """What the target behind ``vip:port`` says first, or why nothing was said."""
    try:
        with socket.create_connection((vip, port), timeout=3) as conn:
            conn.settimeout(3)
            return conn.recv(16)
    except OSError as exc:
        return type(exc).__name__


@pytest.mark.parametrize("settings", [
    {"Scheduler": "WRR", "HealthCheck": FAST_CHECK},
    {"Scheduler": "LEAST_CONN", "SessionExpireTime": 30, "HealthCheck": {"HealthSwitch": 0}},
], ids=["wrr-checked", "sticky-unchecked"])
def test_connect_haproxy_one_of_two_targets_dead_every_new_connection_served(client, named_backends, settings):
    """A refused connect goes to the other target at once, even for a client pinned to the dead one;
    a checked target that refuses is marked down by its traffic, sooner than UnHealthNum failed
    checks IntervalTime apart could (3 s here)."""
    one, two = named_backends("one"), named_backends("two")
    lb_id, vip, _ = listener_with_targets(client, "TCP", 8211, [
        {"EniIp": "127.0.0.1", "Port": one.port}, {"EniIp": "127.0.0.1", "Port": two.port}], **settings)
    checked_targets = settings["HealthCheck"]["HealthSwitch"] == 1
    if checked_targets:
        wait_for(lambda: target_health(client, lb_id) == {one.port: "Alive", two.port: "Alive"}, 8)
    victim, survivor = (one, two) if first_bytes(vip, 8211) == b"one" else (two, one)
    victim.close()
    killed = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: _greeting(vip, 8211), range(50)))
    assert answers == [survivor.name.encode()] * 50
    assert time.monotonic() - killed < 2.5
    if checked_targets:
        wait_for(lambda: target_health(client, lb_id)[victim.port] == "Dead", 3)
        assert time.monotonic() - killed < 2.5


def test_render_cli_prints_haproxy_config_of_one_clb(haproxy_server, client):
    lb_id, vip = create_clb(client)
    (tcp_id,), (udp_id,) = (
        write(client, "CreateListener", {"LoadBalancerId": lb_id, "Ports": [7610], "Protocol": protocol})["ListenerIds"]
        for protocol in ("TCP", "UDP"))
    data_dir = haproxy_server.server.settings.data_dir
    printed = subprocess.run([OPENCLB, "render", "--data-dir", str(data_dir), lb_id],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    assert f"listen {tcp_id}" in printed and f"bind {vip}:7610" in printed
    assert f"# {udp_id} (UDP 7610) is served by the embedded engine" in printed
    assert printed.split("\n# lbl-")[0].strip() == haproxy_config(haproxy_server).strip()


@pytest.mark.parametrize("already_running", [False, True])
def test_apply_haproxy_bind_lost_race_blames_listener_and_serves_the_rest(tmp_path, already_running):
    """A port taken between the engine's probe and HAProxy's bind: that listener fails, the rest serve."""
    from openclb.protocols import ListenerProtocol
    from openclb.engine.spec import ListenerSpec, LoadBalancerState
    from openclb.engine.haproxy import HaproxyEngine

    vip = unique_vip_pool().replace(".0/24", ".9")
    free, taken, warm = 7620, 7621, 7622

    async def scenario():
        engine = HaproxyEngine(tmp_path / "haproxy")
        engine._precheck = lambda vip, spec, served: None  # the race: the probe saw the port free
        await engine.start()
        try:
            if already_running:
                assert (await engine.apply(LoadBalancerState("lb-other", vip.replace(".9", ".8"), (
                    ListenerSpec("lbl-warm", ListenerProtocol.TCP, warm),)))).ok
            result = await engine.apply(LoadBalancerState("lb-race", vip, (
                ListenerSpec("lbl-free", ListenerProtocol.TCP, free), ListenerSpec("lbl-taken", ListenerProtocol.TCP, taken))))
            warm_served = accepts_tcp(vip.replace(".9", ".8"), warm) if already_running else True
            return result, accepts_tcp(vip, free), warm_served, "lbl-taken" in engine.render_config()
        finally:
            await engine.close()

    with socket.socket() as squatter:
        squatter.bind((vip, taken))
        squatter.listen()
        result, free_served, warm_served, taken_rendered = asyncio.run(scenario())
    assert list(result.failed) == ["lbl-taken"]
    assert f"Port {taken} on {vip} is already in use" in result.failed["lbl-taken"].user_message
    assert free_served and warm_served and not taken_rendered


def test_register_and_weight_haproxy_http_no_reload_keepalive_connection_served_on(
        haproxy_server, client, http_backends):
    """Weights and targets change through the runtime API: no reload, so an open keep-alive client
    connection (which a reload would close after its response) keeps being served, by the new target."""
    old, new = http_backends.start("old"), http_backends.start("new")
    lb_id, vip = create_clb(client)
    (listener_id,) = create_listener(client, lb_id, "HTTP", [8230])
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": "w.test", "Url": "/"}])
    register(client, lb_id, listener_id, [old.port], location_id)
    assert_served_by_test_engine(haproxy_server, listener_id)
    kept = connect(vip, 8230)
    assert send(kept, "/before", host="w.test").json()["name"] == "old"
    write(client, "ModifyTargetWeight", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": location_id,
                                         "Weight": 40, "Targets": [{"EniIp": "127.0.0.1", "Port": old.port}]})
    assert f"127.0.0.1:{old.port} weight 40" in haproxy_config(haproxy_server)
    register(client, lb_id, listener_id, [new.port], location_id)
    write(client, "DeregisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "LocationId": location_id,
                                        "Targets": [{"EniIp": "127.0.0.1", "Port": old.port}]})
    assert f"127.0.0.1:{old.port}" not in haproxy_config(haproxy_server)
    assert [send(kept, f"/after/{i}", host="w.test").json()["name"] for i in range(3)] == ["new"] * 3
    kept.close()
