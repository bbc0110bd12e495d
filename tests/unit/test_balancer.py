"""Schedulers, session pins, rate buckets and QUIC id parsing of the embedded engine, socket-free."""

from __future__ import annotations

import errno
from collections import Counter

import pytest

from openclb.engine.spec import Scheduler
from openclb.engine.embedded import quic
from openclb.engine.embedded.balancer import Balancer, SessionTable, TargetState, TokenBucket
from openclb.engine.embedded.binding import bind_error


def make_targets(*weights: int) -> list[TargetState]:
    return [TargetState(f"10.0.0.{i + 1}", 80, weight) for i, weight in enumerate(weights)]


def make_balancer(scheduler: Scheduler, targets, healthy=None, sessions=None) -> Balancer:
    is_healthy = (lambda t: t in healthy) if healthy is not None else (lambda t: True)
    balancer = Balancer(scheduler, is_healthy, sessions)
    balancer.set_targets(targets)
    return balancer


def picks(balancer: Balancer, count: int, client_ip: str = "1.1.1.1", now: float = 0.0) -> list[TargetState]:
    return [balancer.pick(client_ip, now) for _ in range(count)]


# -- WRR ------------------------------------------------------------------------------


def test_wrr_weights_10_30_split_one_to_three():
    light, heavy = make_targets(10, 30)
    counts = Counter(picks(make_balancer(Scheduler.WRR, [light, heavy]), 400))
    assert counts[light] == 100
    assert counts[heavy] == 300


def test_wrr_weights_10_30_every_window_of_four_holds_one_light():
    light, heavy = make_targets(10, 30)
    sequence = picks(make_balancer(Scheduler.WRR, [light, heavy]), 40)
    for start in range(len(sequence) - 3):
        assert sequence[start:start + 4].count(light) == 1
    longest_run = max(len(run) for run in "".join("h" if t is heavy else "l" for t in sequence).split("l"))
    assert longest_run == 3


def test_wrr_nginx_example_5_1_1_is_smooth():
    a, b, c = make_targets(5, 1, 1)
    sequence = picks(make_balancer(Scheduler.WRR, [a, b, c]), 7)
    assert sequence == [a, a, b, a, c, a, a]


def test_wrr_equal_weights_alternate():
    first, second = make_targets(10, 10)
    assert picks(make_balancer(Scheduler.WRR, [first, second]), 4) == [first, second, first, second]


@pytest.mark.parametrize("scheduler", list(Scheduler))
def test_pick_weight_zero_target_gets_nothing(scheduler):
    zero, live = make_targets(0, 10)
    balancer = make_balancer(scheduler, [zero, live])
    chosen = [balancer.pick(f"10.1.0.{i}", 0.0) for i in range(50)]
    assert zero not in chosen


@pytest.mark.parametrize("scheduler", list(Scheduler))
def test_pick_all_weights_zero_returns_none(scheduler):
    assert make_balancer(scheduler, make_targets(0, 0)).pick("1.1.1.1", 0.0) is None


def test_pick_no_targets_returns_none():
    assert make_balancer(Scheduler.WRR, []).pick("1.1.1.1", 0.0) is None


def test_wrr_weight_change_applies_to_next_picks():
    first, second = make_targets(10, 10)
    balancer = make_balancer(Scheduler.WRR, [first, second])
    picks(balancer, 3)
    first.weight = 0
    assert set(picks(balancer, 10)) == {second}


# -- health ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", list(Scheduler))
def test_pick_unhealthy_target_excluded(scheduler):
    sick, well = make_targets(10, 10)
    balancer = make_balancer(scheduler, [sick, well], healthy={well})
    assert {balancer.pick(f"10.1.0.{i}", 0.0) for i in range(30)} == {well}


def test_pick_all_unhealthy_falls_back_to_every_weighted_target():
    first, second, zero = make_targets(10, 10, 0)
    balancer = make_balancer(Scheduler.WRR, [first, second, zero], healthy=set())
    assert set(picks(balancer, 10)) == {first, second}


def test_pick_excluded_targets_skipped():
    first, second = make_targets(10, 10)
    balancer = make_balancer(Scheduler.WRR, [first, second])
    assert {balancer.pick("1.1.1.1", 0.0, exclude=[first]) for _ in range(4)} == {second}
    assert balancer.pick("1.1.1.1", 0.0, exclude=[first, second]) is None


# -- LEAST_CONN -----------------------------------------------------------------------


def test_least_conn_picks_fewest_active():
    busy, idle = make_targets(10, 10)
    busy.active = 5
    idle.active = 1
    assert make_balancer(Scheduler.LEAST_CONN, [busy, idle]).pick("1.1.1.1", 0.0) is idle


def test_least_conn_compares_active_relative_to_weight():
    small, big = make_targets(10, 40)
    small.active = 2   # 0.2 per weight unit
    big.active = 6     # 0.15 per weight unit
    assert make_balancer(Scheduler.LEAST_CONN, [small, big]).pick("1.1.1.1", 0.0) is big


def test_least_conn_tie_prefers_higher_weight():
    small, big = make_targets(10, 20)
    assert make_balancer(Scheduler.LEAST_CONN, [small, big]).pick("1.1.1.1", 0.0) is big


def test_least_conn_tie_same_weight_round_robins():
    targets = make_targets(10, 10, 10)
    balancer = make_balancer(Scheduler.LEAST_CONN, targets)
    assert set(picks(balancer, 3)) == set(targets)


def test_least_conn_fills_to_weight_proportions():
    small, big = make_targets(10, 30)
    balancer = make_balancer(Scheduler.LEAST_CONN, [small, big])
    for _ in range(40):
        balancer.pick("1.1.1.1", 0.0).active += 1
    assert (small.active, big.active) == (10, 30)


# -- IP_HASH --------------------------------------------------------------------------


def test_ip_hash_same_client_same_target():
    balancer = make_balancer(Scheduler.IP_HASH, make_targets(10, 10, 10))
    for i in range(20):
        ip = f"192.0.2.{i}"
        assert len({balancer.pick(ip, 0.0) for _ in range(5)}) == 1


def test_ip_hash_spreads_clients_by_weight():
    small, big = make_targets(10, 30)
    balancer = make_balancer(Scheduler.IP_HASH, [small, big])
    counts = Counter(balancer.pick(f"10.{i // 250}.{i % 250}.1", 0.0) for i in range(4000))
    assert 0.70 < counts[big] / 4000 < 0.80


def test_ip_hash_removing_a_target_moves_only_its_clients():
    targets = make_targets(10, 10, 10, 10)
    balancer = make_balancer(Scheduler.IP_HASH, targets)
    clients = [f"198.51.100.{i}" for i in range(200)]
    before = {ip: balancer.pick(ip, 0.0) for ip in clients}
    balancer.set_targets(targets[:3])
    after = {ip: balancer.pick(ip, 0.0) for ip in clients}
    moved = [ip for ip in clients if before[ip] is not after[ip]]
    assert moved and all(before[ip] is targets[3] for ip in moved)


# -- session persistence --------------------------------------------------------------


def test_session_pins_client_to_target_within_expiry():
    first, second = make_targets(10, 10)
    balancer = make_balancer(Scheduler.WRR, [first, second], sessions=SessionTable(30))
    pinned = balancer.pick("203.0.113.5", now=100.0)
    assert [balancer.pick("203.0.113.5", now=100.0 + 10 * i) for i in range(1, 10)] == [pinned] * 9


def test_session_expires_after_inactivity():
    first, second = make_targets(10, 10)
    sessions = SessionTable(30)
    balancer = make_balancer(Scheduler.WRR, [first, second], sessions=sessions)
    pinned = balancer.pick("203.0.113.5", now=100.0)
    assert sessions.lookup("203.0.113.5", 129.9) is pinned
    assert sessions.lookup("203.0.113.5", 130.0) is None
    assert balancer.pick("203.0.113.5", now=130.0) is not pinned


def test_session_pinned_target_weight_zero_repins():
    first, second = make_targets(10, 10)
    balancer = make_balancer(Scheduler.WRR, [first, second], sessions=SessionTable(30))
    pinned = balancer.pick("203.0.113.5", 0.0)
    pinned.weight = 0
    other = balancer.pick("203.0.113.5", 1.0)
    assert other is not pinned
    pinned.weight = 10
    assert balancer.pick("203.0.113.5", 2.0) is other


def test_session_pinned_target_removed_or_unhealthy_repins():
    first, second, third = make_targets(10, 10, 10)
    healthy = {first, second, third}
    balancer = make_balancer(Scheduler.WRR, [first, second, third], healthy=healthy, sessions=SessionTable(30))
    pinned = balancer.pick("203.0.113.5", 0.0)
    healthy.discard(pinned)
    repinned = balancer.pick("203.0.113.5", 1.0)
    assert repinned is not pinned
    balancer.set_targets([t for t in (first, second, third) if t is not repinned])
    assert balancer.pick("203.0.113.5", 2.0) not in (pinned, repinned)


def test_session_refresh_only_for_same_target_and_prune_drops_expired():
    first, second = make_targets(10, 10)
    sessions = SessionTable(10)
    sessions.touch("a", first, 0.0)
    sessions.refresh("a", second, 8.0)
    assert sessions.lookup("a", 10.0) is None
    sessions.touch("b", first, 0.0)
    sessions.refresh("b", first, 8.0)
    assert sessions.lookup("b", 17.0) is first
    sessions.prune(30.0)
    assert len(sessions) == 0


def test_session_table_full_schedules_without_pinning():
    sessions = SessionTable(30, max_entries=1)
    first, second = make_targets(10, 10)
    sessions.touch("a", first, 0.0)
    sessions.touch("b", second, 0.0)
    assert sessions.lookup("b", 1.0) is None
    assert sessions.lookup("a", 1.0) is first


# -- rate bucket ----------------------------------------------------------------------


def test_token_bucket_allows_rate_per_second():
    bucket = TokenBucket(5, now=0.0)
    assert [bucket.take(0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert bucket.take(0.1) is False
    assert bucket.take(0.2) is True
    assert sum(bucket.take(10.0) for _ in range(20)) == 5


# -- QUIC connection ids --------------------------------------------------------------


def long_header(dcid: bytes, scid: bytes = b"", version: bytes = b"\x00\x00\x00\x01") -> bytes:
    return bytes([0xC3]) + version + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid + b"\x00" * 20


def test_quic_long_header_destination_cid_parsed():
    dcid = bytes(range(1, 13))
    assert quic.destination_cid(long_header(dcid, b"\xaa\xbb")) == dcid


def test_quic_long_header_source_cid_parsed():
    scid = b"\x10\x20\x30\x40\x50\x60\x70\x80"
    assert quic.source_cid(long_header(b"\x01\x02", scid)) == scid


def test_quic_short_header_destination_cid_uses_configured_length():
    packet = bytes([0x43]) + b"ABCDEFGHIJKL" + b"payload"
    assert quic.destination_cid(packet) == b"ABCDEFGH"
    assert quic.destination_cid(packet, short_cid_length=4) == b"ABCD"


@pytest.mark.parametrize("packet", [
    b"",
    b"\xc3\x00\x00",                              # truncated long header
    bytes([0xC3, 0, 0, 0, 1, 8]) + b"\x01\x02",   # DCID shorter than announced
    bytes([0xC3, 0, 0, 0, 1, 0]) + b"\x00" * 4,   # empty DCID: nothing to pin on
    b"\x43\x01\x02",                              # short header shorter than the CID
])
def test_quic_malformed_packet_yields_none(packet):
    assert quic.destination_cid(packet) is None


def test_quic_source_cid_of_short_header_is_none():
    assert quic.source_cid(bytes([0x43]) + b"\x00" * 20) is None


# -- bind failure messages ------------------------------------------------------------


def test_bind_error_port_in_use_names_port_and_vip():
    error = bind_error(OSError(errno.EADDRINUSE, "Address already in use"), "127.1.0.5", 7569, "TCP", "lbl-1")
    assert error.user_message == "Port 7569 on 127.1.0.5 is already in use by another process"
    assert "lbl-1" in error.operator_message and "98" in error.operator_message


def test_bind_error_low_port_permission_mentions_capability():
    error = bind_error(OSError(errno.EACCES, "Permission denied"), "127.1.0.5", 80, "TCP", "lbl-1")
    assert error.user_message == (
        "Permission denied binding port 80 on 127.1.0.5 (ports below 1024 need CAP_NET_BIND_SERVICE)")


def test_bind_error_unknown_address_says_so():
    error = bind_error(OSError(errno.EADDRNOTAVAIL, "Cannot assign"), "10.9.9.9", 8080, "UDP", "lbl-1")
    assert error.user_message == "Address 10.9.9.9 is not available on this host"
