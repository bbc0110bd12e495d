"""Metrics on their own address: off the API port, behind an optional bearer token.

The API port answers ``/metrics`` with the envelope like any unknown path, so API clients see
no resource ids of other accounts; ``GET /metrics`` on ``--metrics-listen`` serves them, and
with ``OPENCLB_METRICS_TOKEN`` only to a scrape carrying the token. The CLI's new flags are
read and checked like the others.
"""

from __future__ import annotations

import pytest
import requests

from clb_support import create_clb_with_vip
from conftest import sdk_client
from gateway_support import error_code
from openclb.cli import _parser, _serve_settings


def test_metrics_on_api_port_answers_envelope_and_on_metrics_address_lists_resources(server):
    lb_id, _ = create_clb_with_vip(sdk_client(server.url))
    listener = sdk_client(server.url).call_json("CreateListener", {"LoadBalancerId": lb_id, "Ports": [8320],
                                                                   "Protocol": "TCP"})
    listener_id = listener["Response"]["ListenerIds"][0]

    on_api_port = requests.get(f"{server.url}/metrics", timeout=10)
    on_metrics_port = requests.get(f"{server.server.metrics_url}/metrics", timeout=10)

    assert error_code(on_api_port) == "InvalidRequest"
    assert listener_id not in on_api_port.text
    assert server.server.metrics_port != server.port
    assert on_metrics_port.status_code == 200 and listener_id in on_metrics_port.text


def test_metrics_with_token_refuses_scrapes_without_it(server_factory):
    server = server_factory(metrics_token="scrape-secret-1")
    url = f"{server.server.metrics_url}/metrics"

    missing = requests.get(url, timeout=10)
    wrong = requests.get(url, headers={"Authorization": "Bearer scrape-secret-2"}, timeout=10)
    right = requests.get(url, headers={"Authorization": "Bearer scrape-secret-1"}, timeout=10)

    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "scrape-secret" not in missing.text + wrong.text
    assert right.status_code == 200


def test_metrics_listen_off_serves_no_metrics_and_the_api_still_answers(server_factory):
    server = server_factory(metrics_port=None)

    assert server.server.metrics_url is None
    assert sdk_client(server.url).call_json("DescribeQuota", {})["Response"]["QuotaSet"]


def test_serve_flags_timeouts_caps_and_metrics_listen_reach_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENCLB_METRICS_TOKEN", "from-env")
    args = _parser().parse_args([
        "serve", "--data-dir", str(tmp_path), "--api-head-timeout", "2.5", "--api-idle-timeout", "30",
        "--api-body-timeout", "12", "--api-max-connections", "77", "--api-calls-per-account", "3",
        "--metrics-listen", "127.0.0.5:9999",
    ])

    settings = _serve_settings(args)

    assert (settings.api_head_timeout, settings.api_idle_timeout, settings.api_body_timeout) == (2.5, 30, 12)
    assert (settings.api_max_connections, settings.api_calls_per_account) == (77, 3)
    assert (settings.metrics_host, settings.metrics_port, settings.metrics_token) == ("127.0.0.5", 9999, "from-env")
    off = _serve_settings(_parser().parse_args(["serve", "--metrics-listen", "off"]))
    assert off.metrics_port is None


@pytest.mark.parametrize("flags", [["--api-head-timeout", "0"], ["--api-max-connections", "0"],
                                   ["--metrics-listen", "nowhere"]])
def test_serve_flags_nonsense_values_are_refused(flags):
    with pytest.raises(ValueError):
        _serve_settings(_parser().parse_args(["serve", *flags]))
