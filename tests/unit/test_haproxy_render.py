"""HAProxy configuration rendering against golden files, HAProxy's runtime answers parsed, and the
record a later openclb adopts HAProxy with (saved states, ports a configuration binds).

Each representative desired state renders to exactly ``tests/golden/haproxy/<name>.cfg``
(run dir shown as ``/run/openclb/haproxy``); ``OPENCLB_UPDATE_GOLDEN=1`` rewrites them after
a deliberate change. Each golden configuration must also pass ``haproxy -c`` with its
certificate files in place (HAProxy must be installed; ``make test`` installs it).
No sockets: ``haproxy -c`` binds nothing.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from openclb.protocols import ListenerProtocol
from openclb.engine.spec import (
    AccessLogSpec, CertificateSpec, HealthCheckSpec, ListenerSpec, LoadBalancerState, RedirectSpec, RuleSpec, Scheduler, TargetSpec,
    TlsSpec,
)
from openclb.engine.haproxy import adoption, runtime
from openclb.engine.haproxy.process import find_haproxy
from openclb.engine.haproxy.render import RuntimePaths, render, served_by_haproxy, status_pattern

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "haproxy"
SHOWN_RUN_DIR = "/run/openclb/haproxy"
STATS = "unix@stats.sock"
VIP = "127.1.0.5"


@lru_cache(maxsize=None)
def _self_signed(kind: str) -> CertificateSpec:
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{kind}.example.com")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return CertificateSpec(
        f"cert-{kind}",
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(),
    )


def _targets(*weights: int) -> tuple[TargetSpec, ...]:
    return tuple(TargetSpec("10.0.0.%d" % (i + 1), 8080, w) for i, w in enumerate(weights))


def _states() -> dict[str, list[LoadBalancerState]]:
    """The representative states, by golden file name."""
    tcp_check = HealthCheckSpec(check_type="TCP", timeout=2, interval=5, healthy_threshold=3, unhealthy_threshold=3)
    http_check = HealthCheckSpec(check_type="HTTP", timeout=3, interval=6, healthy_threshold=2, unhealthy_threshold=4,
                                 http_code_mask=2 | 4, http_path="/healthz", http_domain="health.example.com",
                                 http_method="GET", check_port=9000)
    hex_check = HealthCheckSpec(check_type="CUSTOM", context_type="HEX", send_context="0102ff",
                                recv_context="cafe", timeout=2, interval=3)
    pki = TlsSpec(certificates=(_self_signed("rsa"), _self_signed("ecdsa")),
                  ca_pem=_self_signed("rsa").cert_pem, verify_client="ON")
    return {
        "two_tcp_listeners": [LoadBalancerState("lb-golden01", VIP, (
            ListenerSpec("lbl-wrr00001", ListenerProtocol.TCP, 7569, targets=_targets(10, 30), health_check=tcp_check),
            ListenerSpec("lbl-empty001", ListenerProtocol.TCP, 7570),
        ))],
        "schedulers_and_persistence": [LoadBalancerState("lb-golden02", VIP, (
            ListenerSpec("lbl-least001", ListenerProtocol.TCP, 8001, scheduler=Scheduler.LEAST_CONN, targets=_targets(10, 10)),
            ListenerSpec("lbl-hash0001", ListenerProtocol.TCP, 8002, scheduler=Scheduler.IP_HASH, targets=_targets(10, 20)),
            ListenerSpec("lbl-sticky01", ListenerProtocol.TCP, 8003, targets=_targets(10, 10), session_expire_time=30),
        ))],
        "health_checks": [LoadBalancerState("lb-golden03", VIP, (
            ListenerSpec("lbl-http0001", ListenerProtocol.TCP, 8101, targets=_targets(10), health_check=http_check),
            ListenerSpec("lbl-hex00001", ListenerProtocol.TCP, 8102, targets=_targets(10), health_check=hex_check),
            ListenerSpec("lbl-off00001", ListenerProtocol.TCP, 8103, targets=_targets(10),
                         health_check=HealthCheckSpec(enabled=False)),
        ))],
        "limits_and_ranges": [LoadBalancerState("lb-golden04", VIP, (
            ListenerSpec("lbl-limit001", ListenerProtocol.TCP, 8201, targets=_targets(10, 0), max_conn=100, max_cps=50,
                         idle_timeout=60),
            ListenerSpec("lbl-range001", ListenerProtocol.TCP, 9000, end_port=9009,
                         targets=(TargetSpec("10.0.0.1", 9100), TargetSpec("10.0.0.2", 8990))),
        ))],
        "tcp_ssl": [LoadBalancerState("lb-golden05", VIP, (
            ListenerSpec("lbl-tls00001", ListenerProtocol.TCP_SSL, 443, targets=_targets(10), tls=pki, proxy_protocol=True),
        ))],
        **_layer7_states(pki),
        "several_load_balancers_and_delegated": [
            LoadBalancerState("lb-golden07", "127.1.0.7", (
                ListenerSpec("lbl-udp00001", ListenerProtocol.UDP, 53, targets=_targets(10)),
                ListenerSpec("lbl-tcp00007", ListenerProtocol.TCP, 80, targets=_targets(10)),
            )),
            LoadBalancerState("lb-golden06", "127.1.0.6", (
                ListenerSpec("lbl-http0006", ListenerProtocol.HTTP, 80, h2c=True),
                ListenerSpec("lbl-tcp00006", ListenerProtocol.TCP, 80, targets=_targets(10)),
            )),
        ],
    }


def _layer7_states(pki: TlsSpec) -> dict[str, list[LoadBalancerState]]:
    """HTTP/HTTPS listeners: every domain and URL kind, default server, rewrite, persistence,
    backend TLS and gRPC; HTTPS with SNI, mutual TLS and HTTP/2 per domain, and without SNI."""
    off = HealthCheckSpec(enabled=False)
    rsa_only = TlsSpec(certificates=(_self_signed("rsa"),))
    logged = AccessLogSpec("logset-1", "topic-1")
    rules = (
        RuleSpec("loc-exact001", ("www.shop.test",), "/", _targets(10, 20), default_server=True),
        RuleSpec("loc-exurl001", ("www.shop.test",), "=/login", _targets(10), health_check=off),
        RuleSpec("loc-regex001", ("www.shop.test",), "~*\\.png$", _targets(10), scheduler=Scheduler.LEAST_CONN),
        RuleSpec("loc-prefx001", ("*.shop.test", "shop.*"), "/api", _targets(10), session_expire_time=60,
                 cookie_name="pin", forward_type="HTTPS"),
        RuleSpec("loc-redir001", ("~^old[0-9]+\\.test$",), "/", redirect=RedirectSpec(301, "https", 443, take_url=True)),
        RuleSpec("loc-grpc0001", ("grpc.test",), "/", _targets(10), forward_type="GRPC", scheduler=Scheduler.IP_HASH),
    )
    return {
        "http_rules": [LoadBalancerState("lb-golden08", VIP, (
            ListenerSpec("lbl-l7http01", ListenerProtocol.HTTP, 80, rules=rules, client_head_timeout=60,
                         target_response_timeout=30, idle_timeout=75),
            ListenerSpec("lbl-l7keep01", ListenerProtocol.HTTP, 81, keepalive=True, max_conn=1000, rules=(
                RuleSpec("loc-keep0001", ("k.test",), "/", _targets(10), health_check=off,
                         redirect=None),)),
            ListenerSpec("lbl-l7only01", ListenerProtocol.HTTP, 82, rules=(
                RuleSpec("loc-only0001", ("only.test",), "/", _targets(10), default_server=True),)),
        ))],
        "https_sni_mutual_http2": [LoadBalancerState("lb-golden09", VIP, (
            ListenerSpec("lbl-l7sni001", ListenerProtocol.HTTPS, 443, sni=True, rules=(
                RuleSpec("loc-sni00001", ("a.example.com",), "/", _targets(10), tls=pki, http2=True, default_server=True),
                RuleSpec("loc-sni00002", ("*.b.example.com",), "/", _targets(10), tls=rsa_only),
            )),
        ))],
        "access_logged_http_https": [LoadBalancerState("lb-golden11", VIP, (
            ListenerSpec("lbl-l7log001", ListenerProtocol.HTTP, 80, access_log=logged, rules=(
                RuleSpec("loc-log00001", ("~^www\\.log\\.test$",), "/", _targets(10), default_server=True),
                RuleSpec("loc-log00002", ("none.log.test",), "/", ()),
            )),
            ListenerSpec("lbl-l7log002", ListenerProtocol.HTTPS, 443, tls=rsa_only, access_log=logged, rules=(
                RuleSpec("loc-log00003", ("s.log.test",), "/", _targets(10), default_server=True),)),
            ListenerSpec("lbl-tcplog01", ListenerProtocol.TCP, 9000, access_log=logged, targets=_targets(10)),
        ))],
        "https_one_certificate": [LoadBalancerState("lb-golden10", VIP, (
            ListenerSpec("lbl-l7one001", ListenerProtocol.HTTPS, 8443, tls=rsa_only, rules=(
                RuleSpec("loc-one00001", ("h2.example.com",), "/", _targets(10), http2=True, default_server=True),
                RuleSpec("loc-one00002", ("h1.example.com",), "/", _targets(10)),
                RuleSpec("loc-one00003", ("h1.example.com",), "/r", redirect=RedirectSpec(
                    302, "http", 8080, host="new.example.com", path="/moved", take_url=False)),
            )),
        ))],
    }


CASES = sorted(_states())


def _render_into(run_dir: Path, name: str):
    return render(_states()[name], RuntimePaths(run_dir, STATS, log_address="127.0.0.1:5140", log_ring_address="127.0.0.1:5141"))


@pytest.mark.parametrize("name", CASES)
def test_render_representative_state_matches_golden_file(name, tmp_path):
    text = _render_into(tmp_path, name).text.replace(str(tmp_path), SHOWN_RUN_DIR)
    golden = GOLDEN / f"{name}.cfg"
    if os.environ.get("OPENCLB_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("name", CASES)
def test_render_representative_state_passes_haproxy_check(name, tmp_path):
    assert find_haproxy() is not None, "haproxy is not installed: scripts/provision-deps test (make test runs it)"
    rendered = _render_into(tmp_path, name)
    for path, content in rendered.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    config = tmp_path / "haproxy.cfg"
    config.write_text(rendered.text)
    (tmp_path / "server-state").write_text("1\n")
    result = subprocess.run([find_haproxy(), "-c", "-q", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_render_same_states_twice_identical_text():
    states = _states()["schedulers_and_persistence"]
    paths = RuntimePaths(Path("/x"), STATS)
    assert render(states, paths) == render(list(reversed(states)), paths)


def test_render_http_check_path_with_quote_cannot_add_directive():
    check = HealthCheckSpec(check_type="HTTP", http_path="/a' \n    option httpclose '", http_domain="d")
    state = LoadBalancerState("lb-q", VIP, (ListenerSpec("lbl-q", ListenerProtocol.TCP, 1, targets=_targets(10),
                                                         health_check=check),))
    text = render([state], RuntimePaths(Path("/x"), STATS)).text
    assert "uri '/a'\\'' %0A    option httpclose '\\''' ver" in text
    assert not any(line.strip().startswith("option httpclose") for line in text.splitlines())


def test_served_by_haproxy_tcp_keyed_tcp_ssl_and_plain_l7_not_datagrams():
    tls = TlsSpec(certificates=(_self_signed("rsa"),))
    assert served_by_haproxy(ListenerSpec("a", ListenerProtocol.TCP, 1))
    assert served_by_haproxy(ListenerSpec("b", ListenerProtocol.TCP_SSL, 1, tls=tls))
    assert not served_by_haproxy(ListenerSpec("c", ListenerProtocol.TCP_SSL, 1))
    for protocol in (ListenerProtocol.HTTP, ListenerProtocol.HTTPS):
        assert served_by_haproxy(ListenerSpec("d", protocol, 1, tls=tls))
    assert not served_by_haproxy(ListenerSpec("e", ListenerProtocol.HTTPS, 1))
    for protocol in (ListenerProtocol.UDP, ListenerProtocol.QUIC):
        assert not served_by_haproxy(ListenerSpec("f", protocol, 1, tls=tls))


@pytest.mark.parametrize("mask,pattern", [
    (31, "^[12345]"), (2, "^[2]"), (2 | 4, "^[23]"), (16, "^[5]"), (0, "^[12345]")])
def test_status_pattern_http_code_mask_maps_to_status_classes(mask, pattern):
    assert status_pattern(mask) == pattern


# -- runtime answers ---------------------------------------------------------------------

STAT = """# pxname,svname,qcur,scur,stot,bin,bout,status,weight,check_status,dcon,dses,ereq
lbl-1,FRONTEND,,2,7,100,200,OPEN,,,1,0,0
lbl-1,10.0.0.1:80,0,1,4,60,120,UP,10,L4OK,,,
lbl-1,fallback-10.0.0.1:80,0,0,1,5,6,no check,10,,,,
lbl-1,10.0.0.2:80,0,0,0,0,0,DOWN,10,L4CON,,,
lbl-1,10.0.0.3:80,0,0,0,0,0,UP 1/3,10,INI,,,
lbl-1,BACKEND,0,1,7,100,200,UP,20,,,,

"""


def test_classify_health_statuses_map_to_clb_words():
    rows = runtime.parse_show_stat(STAT)
    assert runtime.classify_health(rows[("lbl-1", "10.0.0.1:80")], True) == (True, "Alive")
    assert runtime.classify_health(rows[("lbl-1", "10.0.0.2:80")], True) == (False, "Dead")
    assert runtime.classify_health(rows[("lbl-1", "10.0.0.3:80")], True) == (False, "Unknown")
    assert runtime.classify_health(None, True) == (False, "Unknown")
    assert runtime.classify_health(rows[("lbl-1", "10.0.0.2:80")], False) == (True, "Close")


def test_counters_listener_and_server_with_fallback_twin_summed():
    rows = runtime.parse_show_stat(STAT)
    assert runtime.listener_counters(rows, "lbl-1") == {
        "active": 2, "total": 7, "dropped": 1, "bytes_in": 100, "bytes_out": 200}
    assert runtime.server_counters(rows, "lbl-1", "10.0.0.1:80") == {
        "active": 1, "total": 5, "bytes_in": 65, "bytes_out": 126}
    assert runtime.listener_counters(rows, "lbl-missing") is None


def test_parse_show_proc_current_worker_is_the_one_with_zero_reloads():
    text = ("#<PID>          <type>          <reloads>       <uptime>        <version>\n"
            "100             master          3 [failed: 1]   0d00h00m09s     2.6.12\n"
            "# workers\n"
            "205             worker          0               0d00h00m01s     2.6.12\n"
            "150             worker          1               0d00h00m05s     2.6.12\n"
            "# programs\n\n")
    assert runtime.parse_show_proc(text) == runtime.ProcState(3, 205, (150,), 100)
    assert runtime.parse_show_proc(text[:60]) is None


def test_blamed_listeners_bind_alert_names_the_listener():
    log = ("[NOTICE]   (1) : Reloading HAProxy\n"
           "[ALERT]    (1) : Binding [haproxy.cfg:22] for proxy lbl-def12345: cannot bind socket "
           "(Address already in use) for [127.9.0.1:18042]\n"
           "[ALERT]    (1) : [haproxy.main()] Some protocols failed to start their listeners! Exiting.\n")
    blamed = runtime.blamed_listeners(log)
    assert list(blamed) == ["lbl-def12345"]
    assert runtime.address_in_use(blamed["lbl-def12345"])


def test_server_state_for_sets_weights_and_clears_recorded_check_port():
    header = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
              "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
              "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
              "srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n")
    state = (header
             + "2 lbl-1 1 10.0.0.1:80 10.0.0.1 0 0 10 10 7 8 2 0 6 0 0 0 - 80 - 0 9000 - - 0\n"
             + "2 lbl-1 2 10.0.0.2:80 10.0.0.2 2 0 10 10 7 8 2 0 6 0 0 0 - 80 - 0 0 - - 0\n")
    out = runtime.server_state_for(state, {("lbl-1", "10.0.0.1:80"): 0})
    assert out.startswith(header)
    assert "2 lbl-1 1 10.0.0.1:80 10.0.0.1 0 0 0 0 7 8 2 0 6 0 0 0 - 80 - 0 0 - - 0\n" in out
    assert "2 lbl-1 2 10.0.0.2:80 10.0.0.2 2 0 10 10 7 8 2 0 6 0 0 0 - 80 - 0 0 - - 0\n" in out


# -- what a later openclb adopts HAProxy with --------------------------------------------


def test_save_states_load_states_every_representative_state_round_trips(tmp_path):
    states = {state.load_balancer_id: state for name in CASES for state in _states()[name]}
    adoption.save_states(tmp_path / "served.json", states)
    assert adoption.load_states(tmp_path / "served.json") == states
    assert (tmp_path / "served.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("text", ["", "{", '{"format": 99, "states": []}',
                                  '{"format": 1, "states": [{"load_balancer_id": "lb-1", "vip": "x", "colour": 1}]}'])
def test_load_states_missing_or_unfit_record_is_none(tmp_path, text):
    path = tmp_path / "served.json"
    if text:
        path.write_text(text)
    assert adoption.load_states(path) is None


def test_bound_ports_rendered_config_gives_every_listener_port():
    states = _states()["limits_and_ranges"] + _states()["several_load_balancers_and_delegated"]
    text = render(states, RuntimePaths(Path("/x"), STATS)).text
    assert runtime.bound_ports(text) == (
        {(VIP, 8201)} | {(VIP, port) for port in range(9000, 9010)} | {("127.1.0.6", 80), ("127.1.0.7", 80)})
    assert runtime.bound_ports("bind ipv6@::1:443 ssl crt x\nbind nonsense\n") == {("::1", 443)}


def test_render_https_sni_crt_list_default_first_alpn_and_mutual_per_domain(tmp_path):
    rendered = _render_into(tmp_path, "https_sni_mutual_http2")
    (crt_list,) = [content for path, content in rendered.files.items() if path.suffix == ".crt-list"]
    lines = crt_list.splitlines()
    assert len(lines) == 3  # RSA and ECDSA of a.example.com, then RSA of *.b.example.com
    assert all("[alpn h2,http/1.1 ca-file " in line and " verify required] a.example.com" in line for line in lines[:2])
    assert lines[2].endswith("[alpn http/1.1] *.b.example.com")


def test_served_by_haproxy_l7_features_it_does_not_render_stay_embedded():
    rule = RuleSpec("loc-1", ("a.test",), "/", _targets(10))
    plain = ListenerSpec("lbl-1", ListenerProtocol.HTTP, 80, rules=(rule,))
    assert served_by_haproxy(plain)
    for changed in (
        {"h2c": True}, {"max_body_size": 10}, {"added_headers": (("x", "y"),)},
        {"rules": (RuleSpec("loc-2", ("a.test",), "/", health_check=HealthCheckSpec(check_type="GRPC")),)},
        {"rules": (RuleSpec("loc-3", ("~(unclosed",), "/"),)},
    ):
        assert not served_by_haproxy(ListenerSpec("lbl-1", ListenerProtocol.HTTP, 80, **{"rules": (rule,), **changed}))
    trailing = RuleSpec("loc-4", ("www.example.*",), "/", tls=TlsSpec(certificates=(_self_signed("rsa"),)))
    assert not served_by_haproxy(ListenerSpec("lbl-2", ListenerProtocol.HTTPS, 443, sni=True, rules=(trailing,)))
