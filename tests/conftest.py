"""Shared fixtures: real openclb servers, official-SDK clients, event loops and backends.

Each server gets its own data dir and its own VIP pool (a /24 of loopback unique to this
pytest worker and test), so tests run in parallel without their listeners colliding, even
on the documented example ports. ``any_store_server`` is parametrised by the tests that must
pass on both SQLite and PostgreSQL; PostgreSQL servers get a fresh schema each.

Which tests run again, and where, is said by markers in the test modules themselves
(``pytestmark = pytest.mark.postgres``), registered in pyproject.toml and enforced by
``--strict-markers`` (a misspelt marker, in a module or after ``-m``, is an error):

- ``postgres``: also runs with PostgreSQL as the store. ``make test``'s second pass is
  ``OPENCLB_TEST_STORE=postgresql pytest -m postgres tests/``: every server ``server_factory``
  starts without naming a store (``server`` and ``client`` included) then uses PostgreSQL.
- ``haproxy``: also runs on the HAProxy engine. The third pass is
  ``OPENCLB_TEST_ENGINE=haproxy pytest -m haproxy tests/``: every server ``make_settings``
  configures then uses that engine. (test_haproxy_engine.py is not marked: it always does.)

The first pass runs every test, marked or not, on the defaults (SQLite, embedded engine). A
module joins a pass by carrying the marker; a pass that selects nothing exits 5 and fails
``make test``.

Every other helper has one home in ``tests/integration`` (on ``sys.path`` through pyproject's
``pythonpath``): ``backends`` (TCP targets on their own threads, free ports, probes),
``clb_support`` (checked SDK calls, set-up calls, refusals, test PKI), ``embedded_support``
(loops, specs and clients for the engine driven directly), ``l7_support`` (HTTP targets and
clients) and ``gateway_support`` (hand-signed requests, ``openclb serve`` as a child process).
Tests import helpers from there, never from another test module.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from tencentcloud.clb.v20180317 import clb_client
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from backends import NamedBackend
from embedded_support import LOOP_KINDS
from l7_support import Backends
from openclb.app import OpenClb
from openclb.config import Settings

SECRET_ID = "AKIDopenclbTESTdefault000000000000"
SECRET_KEY = "openclbTestSecretKey0000000000000"
REGION = "ap-guangzhou"
PG_URL = os.environ.get("OPENCLB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DEFAULT_STORE = os.environ.get("OPENCLB_TEST_STORE", "sqlite")
DEFAULT_ENGINE = os.environ.get("OPENCLB_TEST_ENGINE", "embedded")

_pool_counter = itertools.count()


def _worker_number() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


def unique_vip_pool() -> str:
    """A loopback /24 no other test of this run uses: 127.(20 + slot).(n).0/24.

    The slot is the xdist worker's number, offset by the run (the parent process id), so two
    test runs on one machine at the same time rarely share pools; inside one run, workers
    never do (up to three workers per run).
    """
    n = next(_pool_counter)
    slot = ((os.getppid() % 18) * 3 + _worker_number()) % 56
    return f"127.{20 + slot}.{n % 256}.0/24"


def pg_schema_url() -> tuple[str, str]:
    schema = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{PG_URL}?options=-csearch_path%3D{schema}", schema


def drop_pg_schema(schema: str) -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


@dataclass
class RunningServer:
    """An openclb started in this process on its own event loop thread."""

    server: OpenClb
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.endpoint_url

    @property
    def port(self) -> int:
        return self.server.port

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        """Stop the server (a second call does nothing: tests may stop a server before teardown does)."""
        if self.loop.is_closed():
            return
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def start_server(settings: Settings) -> RunningServer:
    loop = asyncio.new_event_loop()
    server = OpenClb(settings)
    thread = threading.Thread(target=loop.run_forever, daemon=True, name="openclb-test-server")
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    return RunningServer(server, loop, thread)


def make_settings(tmp_path: Path, store_url: str = "", **overrides) -> Settings:
    base = dict(
        listen_host="127.0.0.1",
        listen_port=0,
        data_dir=tmp_path / "data",
        store_url=store_url,
        env_secret_id=SECRET_ID,
        env_secret_key=SECRET_KEY,
        vip_pool=unique_vip_pool(),
        rate_limit_default=10_000,
        engine=DEFAULT_ENGINE,
        metrics_port=0,
        drain_seconds=1.0,
    )
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def server_factory(tmp_path) -> Iterator:
    """Start servers with chosen settings; every one is stopped (and its PG schema dropped) at the end."""
    started: list[RunningServer] = []
    schemas: list[str] = []
    counter = itertools.count()

    def factory(store: str = DEFAULT_STORE, **overrides) -> RunningServer:
        store_url = ""
        if store == "postgresql":
            store_url, schema = pg_schema_url()
            schemas.append(schema)
        running = start_server(make_settings(tmp_path / f"s{next(counter)}", store_url, **overrides))
        started.append(running)
        return running

    yield factory
    for running in started:
        try:
            running.stop()
        except Exception:
            pass
    for schema in schemas:
        drop_pg_schema(schema)


@pytest.fixture
def server(server_factory) -> RunningServer:
    return server_factory()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_server(request, server_factory) -> RunningServer:
    """The same test against SQLite and against PostgreSQL."""
    return server_factory(request.param)


def sdk_client(
    url: str,
    sign_method: str = "TC3-HMAC-SHA256",
    req_method: str = "POST",
    secret_id: str = SECRET_ID,
    secret_key: str = SECRET_KEY,
    region: str = REGION,
    token: str | None = None,
) -> clb_client.ClbClient:
    """The official Python SDK's CLB client, pointed at openclb."""
    profile = ClientProfile(signMethod=sign_method, httpProfile=HttpProfile(endpoint=url, reqMethod=req_method))
    return clb_client.ClbClient(credential.Credential(secret_id, secret_key, token), region, profile)


@pytest.fixture
def client(server) -> clb_client.ClbClient:
    return sdk_client(server.url)


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request) -> str:
    """The event loop an engine test runs on: every such test runs on asyncio and on uvloop."""
    return request.param


@pytest.fixture
def named_backends() -> Iterator:
    """Start ``NamedBackend(name, end=...)`` targets; every one is closed at the end."""
    started: list[NamedBackend] = []

    def make(name: str, end: bytes = b"") -> NamedBackend:
        started.append(NamedBackend(name, end))
        return started[-1]

    yield make
    for backend in started:
        backend.close()


@pytest.fixture(scope="module")
def http_backends() -> Iterator[Backends]:
    """The aiohttp targets of one test module, on their own loop; ``start(name)`` adds one."""
    started = Backends()
    yield started
    started.close()
