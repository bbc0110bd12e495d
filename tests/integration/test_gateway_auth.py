"""Authentication gaps closed: token keys, the scope's service, bare requests, v1 replays across restarts.

A key added with ``--token`` is refused without its token, through the SDK with both
signature versions. A TC3 scope naming a service openclb does not serve is refused even when
the Host says that service. A POST without any credentials is an ``AuthFailure`` code. A v1
call replayed to a restarted server (same store, SQLite and PostgreSQL) is still a replay, and
the store forgets nonces once their window has passed.
"""

from __future__ import annotations

import time

import pytest
import requests

from backends import free_port
from conftest import drop_pg_schema, make_settings, pg_schema_url, sdk_client, start_server
from gateway_support import Tc3Call, error_code, sdk_raises, v1_signed_params
from openclb.api import accounts
from openclb.store.nonces import NonceStore
from openclb.store.store import Store

TOKEN_KEY_ID = "AKIDwithToken1111111111111111111"


@pytest.fixture
def token_server(server_factory, tmp_path):
    data_dir = tmp_path / "token-data"
    accounts.add_account(data_dir / "accounts.json", TOKEN_KEY_ID, "tokenKey", token="session-token-1")
    return server_factory(data_dir=data_dir)


@pytest.mark.parametrize(("sign_method", "req_method"), [("TC3-HMAC-SHA256", "POST"), ("HmacSHA256", "GET")])
def test_describe_load_balancers_key_with_token_used_without_it_raises_token_failure(token_server, sign_method,
                                                                                      req_method):
    def client(token):
        return sdk_client(token_server.url, sign_method, req_method, secret_id=TOKEN_KEY_ID, secret_key="tokenKey",
                          token=token)

    sdk_raises("AuthFailure.TokenFailure", lambda: client(None).call_json("DescribeLoadBalancers", {}))
    assert client("session-token-1").call_json("DescribeLoadBalancers", {})["Response"]["TotalCount"] == 0


@pytest.mark.parametrize(("host", "service"), [("cvm.tencentcloudapi.com", "cvm"), ("cvm.example.test", "cvm"),
                                                ("clb.tencentcloudapi.com", "vpc")])
def test_describe_load_balancers_scope_service_not_served_answers_invalid_authorization(server, host, service):
    response = Tc3Call("DescribeLoadBalancers", {}, host=host, service=service).send(server.url)

    assert error_code(response) == "AuthFailure.InvalidAuthorization"
    assert "`Service` in Credential not valid" in response.json()["Response"]["Error"]["Message"]


def test_describe_load_balancers_scope_service_clb_behind_any_host_succeeds(server):
    response = Tc3Call("DescribeLoadBalancers", {}, host="clb.example.test", service="clb").send(server.url)

    assert error_code(response) is None


@pytest.mark.parametrize(
    "headers", [{}, {"Content-Type": "application/json"}, {"Content-Type": "text/plain"}],
)
def test_any_action_bare_post_without_credentials_answers_invalid_authorization(server, headers):
    response = requests.post(f"{server.url}/", data=b'{"Limit": 1}', headers=headers, timeout=10)

    assert error_code(response) == "AuthFailure.InvalidAuthorization"


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_describe_load_balancers_v1_replayed_after_restart_answers_signature_failure(tmp_path, store):
    store_url, schema = pg_schema_url() if store == "postgresql" else ("", None)
    settings = make_settings(tmp_path, store_url, listen_port=free_port())
    try:
        first = start_server(settings)
        host = first.url.removeprefix("http://")
        params = v1_signed_params("GET", host, "DescribeLoadBalancers", {"Limit": 1}, nonce=31337)
        try:
            accepted = requests.get(f"{first.url}/", params=params, timeout=10)
        finally:
            first.stop()
        second = start_server(settings)
        try:
            replayed = requests.get(f"{second.url}/", params=params, timeout=10)
            fresh = v1_signed_params("GET", host, "DescribeLoadBalancers", {"Limit": 1}, nonce=31338)
            other_nonce = requests.get(f"{second.url}/", params=fresh, timeout=10)
        finally:
            second.stop()
    finally:
        if schema:
            drop_pg_schema(schema)

    assert error_code(accepted) is None
    assert error_code(replayed) == "AuthFailure.SignatureFailure"
    assert "replayed" in replayed.json()["Response"]["Error"]["Message"]
    assert error_code(other_nonce) is None


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_nonce_store_prune_forgets_only_nonces_past_their_window(tmp_path, store):
    store_url, schema = pg_schema_url() if store == "postgresql" else ("", None)
    backing = Store(store_url or f"sqlite:///{tmp_path / 'nonces.db'}")
    try:
        nonces = NonceStore(backing.engine)
        now = int(time.time())
        assert nonces.remember("AKID1", "1", now - 400, now - 100)
        assert nonces.remember("AKID1", "2", now, now + 300)
        assert not nonces.remember("AKID1", "2", now, now + 300)
        assert nonces.remember("AKID2", "2", now, now + 300)

        pruned = nonces.prune(now)

        assert pruned == 1
        assert nonces.remember("AKID1", "1", now - 400, now - 100)
        assert not nonces.remember("AKID1", "2", now, now + 300)
    finally:
        backing.close()
        if schema:
            drop_pg_schema(schema)
