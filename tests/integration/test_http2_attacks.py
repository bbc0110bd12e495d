"""The known HTTP/2 attacks against an HTTPS listener with Http2 on: each is refused with a
GOAWAY and a closed connection, reaches no target, and never holds up another client.

Attackers speak raw frames (python-hyper's h2 and hyperframe); the bystander is Debian's curl
on its own connection, timed right after the attack.
"""

from __future__ import annotations

import time

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import ContinuationFrame, HeadersFrame, SettingsFrame

from clb_support import create_clb_with_vip, create_listener, create_rules, register, upload
from h2_support import DOMAIN, RawH2, curl, frames_until_close, goaway_code

pytestmark = pytest.mark.postgres


@pytest.fixture
def h2_listener(server, client, http_backends):
    """(VIP, port, the target backend) of an HTTPS listener whose domain has Http2 on."""
    backend = http_backends.start("calm")
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "HTTPS", [8710], Certificate=upload("rsa"))
    (location_id,) = create_rules(client, lb_id, listener_id, [{"Domain": DOMAIN, "Url": "/", "Http2": True}])
    register(client, lb_id, listener_id, [backend.port], location_id)
    return vip, 8710, backend


def _bystander_served_fast(vip: str, port: int) -> None:
    started = time.monotonic()
    assert curl(vip, port, "/bystander", "--http2")[0] == "2"
    assert time.monotonic() - started < 2.0


def test_request_rapid_reset_flood_goaway_enhance_your_calm_no_target_hit(h2_listener):
    vip, port, backend = h2_listener
    attacker = RawH2(vip, port)
    for _ in range(1000):
        stream_id = attacker.conn.get_next_available_stream_id()
        attacker.conn.send_headers(stream_id, attacker.headers("/reset"))
        attacker.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
    attacker.send()

    assert goaway_code(frames_until_close(attacker.sock)) == ErrorCodes.ENHANCE_YOUR_CALM
    _bystander_served_fast(vip, port)
    assert not [seen for seen in backend.requests if seen["path"] == "/reset"]
    attacker.close()


def test_request_settings_flood_goaway_enhance_your_calm(h2_listener):
    vip, port, _ = h2_listener
    attacker = RawH2(vip, port)
    attacker.send(SettingsFrame(0, settings={SettingCodes.ENABLE_PUSH: 0}).serialize() * 1000)

    assert goaway_code(frames_until_close(attacker.sock)) == ErrorCodes.ENHANCE_YOUR_CALM
    _bystander_served_fast(vip, port)
    attacker.close()


def test_request_continuation_flood_connection_refused_with_goaway(h2_listener):
    vip, port, _ = h2_listener
    attacker = RawH2(vip, port)
    block = attacker.conn.encoder.encode(attacker.headers("/flood"))
    frames = [HeadersFrame(1, data=block, flags=["END_STREAM"]).serialize()]
    frames += [ContinuationFrame(1, data=b"\x40\x01a\x01b").serialize() for _ in range(2000)]
    try:
        attacker.send(b"".join(frames))
    except OSError:
        pass  # the server may close before it read everything
    code = goaway_code(frames_until_close(attacker.sock))
    assert code is not None and code != ErrorCodes.NO_ERROR
    _bystander_served_fast(vip, port)
    attacker.close()


def test_request_header_list_over_limit_connection_refused_with_goaway(h2_listener):
    vip, port, backend = h2_listener
    attacker = RawH2(vip, port)
    attacker.conn.send_headers(1, attacker.headers("/huge", [("x-huge", "h" * 100_000)]), end_stream=True)
    attacker.send()

    code = goaway_code(frames_until_close(attacker.sock))
    assert code is not None and code != ErrorCodes.NO_ERROR
    assert not [seen for seen in backend.requests if seen["path"] == "/huge"]
    _bystander_served_fast(vip, port)
    attacker.close()
