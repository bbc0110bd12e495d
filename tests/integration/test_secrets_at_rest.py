"""TLS private keys at rest: sealed in the store, opened after a restart, guarded by the master key.

The store each test restarts on is the pass's store (SQLite in the data dir; PostgreSQL in
``make test``'s second pass). A raw read of ``certificates`` shows only ``enc:v1:`` values; a
TCP_SSL listener still completes a verified TLS handshake after a restart, with the key taken
from ``<data-dir>/master.key`` or from ``OPENCLB_MASTER_KEY``; a wrong, missing or malformed
master key stops the start with ``MasterKeyError`` before any port is bound; and a store
written before sealing existed (clear keys, no check value) is sealed at its next start and
keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from backends import accepts_tcp
from clb_support import create_clb_with_vip, create_listener, make_pki, register, trusting_context, upload
from conftest import (
    DEFAULT_STORE, RunningServer, drop_pg_schema, make_settings, pg_schema_url, sdk_client, start_server,
    unique_vip_pool,
)
from openclb.app import OpenClb
from openclb.config import Settings
from openclb.resources.certificates.sealing import MasterKeyError

pytestmark = pytest.mark.postgres

PORT = 7643


class Restarts:
    """Servers of one test on one store, data dir and VIP pool; each start sees what the last left."""

    def __init__(self, tmp_path: Path, store_url: str) -> None:
        self.tmp_path = tmp_path
        self.store_url = store_url
        self.vip_pool = unique_vip_pool()
        self.running: RunningServer | None = None

    @property
    def data_dir(self) -> Path:
        return self.tmp_path / "data"

    def settings(self, **overrides) -> Settings:
        return make_settings(self.tmp_path, self.store_url, vip_pool=self.vip_pool, **overrides)

    def start(self, **overrides) -> RunningServer:
        self.running = start_server(self.settings(**overrides))
        return self.running

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None

    def refused_start(self, **overrides) -> MasterKeyError:
        """A start that must fail with MasterKeyError (nothing is left running)."""
        with pytest.raises(MasterKeyError) as caught:
            asyncio.run(asyncio.wait_for(OpenClb(self.settings(**overrides)).start(), 30))
        return caught.value

    def database(self) -> sa.Engine:
        return sa.create_engine(self.store_url or f"sqlite:///{self.data_dir / 'openclb.db'}")

    def stored_keys(self) -> dict[str, str | None]:
        engine = self.database()
        try:
            with engine.connect() as conn:
                return dict(conn.execute(sa.text("SELECT id, key_pem FROM certificates")).all())
        finally:
            engine.dispose()


@pytest.fixture
def restarts(tmp_path) -> Iterator[Restarts]:
    schema = None
    store_url = ""
    if DEFAULT_STORE == "postgresql":
        store_url, schema = pg_schema_url()
    servers = Restarts(tmp_path, store_url)
    yield servers
    servers.stop()
    if schema is not None:
        drop_pg_schema(schema)


def tls_listener(running: RunningServer, named_backends) -> tuple[str, str]:
    """A TCP_SSL listener with the uploaded RSA certificate and a named target: the CLB's VIP and id."""
    client = sdk_client(running.url)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP_SSL", [PORT], Certificate=upload("rsa"))
    register(client, lb_id, listener_id, [named_backends("sealed", end=b"\n").port])
    return vip, lb_id


def handshake_greeting(vip: str) -> tuple[str, bytes]:
    """A verified TLS handshake with the listener: the certificate's CN and the target's first line."""
    with socket.create_connection((vip, PORT), timeout=5) as raw:
        with trusting_context().wrap_socket(raw, server_hostname="rsa.example.com") as tls:
            subject = dict(item[0] for item in tls.getpeercert()["subject"])
            return subject["commonName"], tls.recv(64)


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_create_listener_uploaded_keys_stored_sealed_raw_rows_hold_no_pem(restarts):
    client = sdk_client(restarts.start().url)
    lb_id, _ = create_clb_with_vip(client)
    create_listener(client, lb_id, "TCP_SSL", [PORT], Certificate={
        **upload("rsa"), "SSLMode": "MUTUAL", "CertCaName": "ca", "CertCaContent": make_pki().ca.cert})
    create_listener(client, lb_id, "HTTPS", [PORT + 1], MultiCertInfo={
        "SSLMode": "UNIDIRECTIONAL", "CertList": [upload("rsa"), upload("ecdsa")]})

    stored = restarts.stored_keys()

    server_keys = [value for value in stored.values() if value is not None]
    assert len(stored) == 4 and len(server_keys) == 3
    assert all(value.startswith("enc:v1:") and "PRIVATE KEY" not in value for value in server_keys)
    pki = make_pki()
    assert not any(line in value for value in server_keys for line in (pki.rsa.key + pki.ecdsa.key).splitlines()[1:-1])


@pytest.mark.parametrize("source", ["key-file", "environment"])
def test_restart_sealed_key_opens_tls_handshake_after_restart(restarts, named_backends, source):
    key = {"master_key": new_master_key()} if source == "environment" else {}
    vip, _ = tls_listener(restarts.start(**key), named_backends)
    assert handshake_greeting(vip) == ("rsa.example.com", b"sealed\n")
    restarts.stop()
    assert not accepts_tcp(vip, PORT)

    restarts.start(**key)

    assert handshake_greeting(vip) == ("rsa.example.com", b"sealed\n")
    assert (restarts.data_dir / "master.key").exists() == (source == "key-file")


def test_start_wrong_master_key_refused_before_serving(restarts, named_backends):
    vip, _ = tls_listener(restarts.start(), named_backends)
    restarts.stop()
    key_file = restarts.data_dir / "master.key"
    original = key_file.read_text()
    key_file.write_text(new_master_key() + "\n")

    from_file = restarts.refused_start()
    from_environment = restarts.refused_start(master_key=new_master_key())

    assert "is not the key this store's TLS private keys were encrypted with" in str(from_file)
    assert str(key_file) in str(from_file) and "OPENCLB_MASTER_KEY" in str(from_environment)
    assert not accepts_tcp(vip, PORT)
    key_file.write_text(original)
    restarts.start()
    assert handshake_greeting(vip) == ("rsa.example.com", b"sealed\n")


def test_start_master_key_missing_for_sealed_store_refused_no_new_key_made(restarts, named_backends):
    vip, _ = tls_listener(restarts.start(), named_backends)
    restarts.stop()
    key_file = restarts.data_dir / "master.key"
    key_file.unlink()

    error = restarts.refused_start()

    assert "there is no master key" in str(error) and "OPENCLB_MASTER_KEY" in str(error)
    assert not key_file.exists()
    assert not accepts_tcp(vip, PORT)


@pytest.mark.parametrize("master_key", ["not base64!", base64.b64encode(b"short").decode(), ""])
def test_start_malformed_master_key_refused_with_format(restarts, master_key):
    (restarts.data_dir).mkdir(parents=True)
    if master_key:
        error = restarts.refused_start(master_key=master_key)
    else:
        (restarts.data_dir / "master.key").write_text("\n")
        error = restarts.refused_start()

    assert "base64 of 32 random bytes" in str(error)


def test_start_clear_keys_from_older_version_sealed_and_still_served(restarts, named_backends):
    vip, _ = tls_listener(restarts.start(), named_backends)
    restarts.stop()
    clear = make_pki().rsa.key
    engine = restarts.database()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE certificates SET key_pem = :clear"), {"clear": clear})
        conn.execute(sa.text("DROP TABLE store_meta"))
        conn.execute(sa.text("DELETE FROM schema_version WHERE version >= 4"))
    engine.dispose()
    (restarts.data_dir / "master.key").unlink()

    restarts.start()

    assert handshake_greeting(vip) == ("rsa.example.com", b"sealed\n")
    stored = [value for value in restarts.stored_keys().values() if value is not None]
    assert stored and all(value.startswith("enc:v1:") and "PRIVATE KEY" not in value for value in stored)
    restarts.stop()
    restarts.start()
    assert handshake_greeting(vip) == ("rsa.example.com", b"sealed\n")
