"""The pytest plugin openclb ships (entry point ``pytest11``, name ``openclb.testing``).

Installed with openclb, it gives every test suite two fixtures, both yielding an
``OpenClbServer`` (``openclb/local_server.py``: endpoint, key, admin helpers):

- ``openclb_server``: a fresh openclb for one test: a free port on 127.0.0.1, a new data dir,
  a new key pair, fault injection on (``--faults``); stopped, ports closed, at the test's end.
- ``openclb_session_server``: one server for the whole session; call ``reset()`` between
  tests (milliseconds) for a clean account.

Override the ``openclb_options`` fixture (a dict of ``openclb.config.Settings`` fields, e.g.
``{"engine": "haproxy"}``) to change how ``openclb_server`` starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from openclb.local_server import OpenClbServer, start_openclb

__all__ = ["OpenClbServer", "start_openclb"]


@pytest.fixture
def openclb_options() -> dict[str, Any]:
    """Settings fields for ``openclb_server``; override this fixture to change them."""
    return {}


@pytest.fixture
def openclb_server(
    tmp_path_factory: pytest.TempPathFactory, openclb_options: dict[str, Any]
) -> Iterator[OpenClbServer]:
    """A fresh openclb for one test (its own port, data dir and key; fault injection on)."""
    with start_openclb(tmp_path_factory.mktemp("openclb"), **openclb_options) as server:
        yield server


@pytest.fixture(scope="session")
def openclb_session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenClbServer]:
    """One openclb for the session: ``reset()`` it between tests."""
    with start_openclb(tmp_path_factory.mktemp("openclb-session")) as server:
        yield server
