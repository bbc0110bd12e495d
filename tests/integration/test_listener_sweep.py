"""The engine's one sweep timer: which listeners it sweeps, how often, and with how many timers."""

from __future__ import annotations

import asyncio

from embedded_support import run, wait_until
from openclb.protocols import ListenerProtocol
from openclb.engine.spec import ListenerSpec, TargetSpec
from openclb.engine.embedded.listener import ListenerCore, ListenerSettings, Sweeper

TARGET = TargetSpec("127.0.0.1", 9)


class FakeConnection:
    """A tracked connection as the sweep sees it (see ``listener`` for the attributes)."""

    def __init__(self, client_ip: str = "10.0.0.1") -> None:
        self.client_ip = client_ip
        self.target = None
        self.busy = True
        self.idle_since = 0.0
        self.bytes_in = self.bytes_out = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def listener(settings: ListenerSettings, name: str = "lbl-1", **options) -> ListenerCore:
    spec = ListenerSpec(name, ListenerProtocol.TCP, 10000, targets=(TARGET,), **options)
    return ListenerCore("lb-1", "127.0.0.1", spec, settings)


def with_connection(core: ListenerCore) -> FakeConnection:
    connection = FakeConnection()
    connection.target = core.targets[(TARGET.ip, TARGET.port)]
    core.opened(connection, connection.target)
    return connection


class ExtendsSweep(ListenerCore):
    """A listener kind with state of its own that its sweep tends, without ``needs_sweep``."""

    def sweep(self, now: float) -> None:
        super().sweep(now)


class ExtendsSweepAndSaysWhen(ExtendsSweep):
    def needs_sweep(self) -> bool:
        return False


class FailingSweep(ListenerCore):
    def sweep(self, now: float) -> None:
        raise RuntimeError("sweep failed")


def test_needs_sweep_idle_listener_false_with_connection_or_pin_true():
    settings = ListenerSettings()
    idle = listener(settings)
    assert idle.needs_sweep() is False
    busy = listener(settings, "lbl-2")
    connection = with_connection(busy)
    assert busy.needs_sweep() is True
    busy.closed(connection)
    assert busy.needs_sweep() is False
    pinned = listener(settings, "lbl-3", session_expire_time=30)
    assert pinned.needs_sweep() is False
    pinned.balancer.sessions.touch("10.0.0.1", pinned.targets[(TARGET.ip, TARGET.port)], 0.0)
    assert pinned.needs_sweep() is True


def test_needs_sweep_subclass_extending_sweep_always_unless_it_says_when():
    settings = ListenerSettings()
    spec = ListenerSpec("lbl-1", ListenerProtocol.TCP, 10000)
    assert ExtendsSweep("lb-1", "127.0.0.1", spec, settings).needs_sweep() is True
    assert ExtendsSweepAndSaysWhen("lb-1", "127.0.0.1", spec, settings).needs_sweep() is False


def test_sweeper_thousand_listeners_one_timer_and_busy_one_swept():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        timers = []
        call_later = loop.call_later

        settings = ListenerSettings()

        def counting_call_later(delay, callback, *args):
            if getattr(callback, "__self__", None) is settings.sweeper:
                timers.append(delay)
            return call_later(delay, callback, *args)

        loop.call_later = counting_call_later
        cores = [listener(settings, f"lbl-{n}") for n in range(1000)]
        for core in cores:
            core.start_sweeping()
        connection = with_connection(cores[500])
        assert len(timers) == 1
        await wait_until(lambda: not connection.busy)
        assert len(timers) == 2
        for core in cores:
            core.stop_sweeping()
        assert len(settings.sweeper) == 0

    asyncio.run(main())


def test_sweeper_idle_timeout_closes_idle_connection_busy_kept(loop_kind):
    async def main() -> None:
        settings = ListenerSettings()
        core = listener(settings, idle_timeout=1)
        idle, busy = with_connection(core), with_connection(core)
        core.start_sweeping()
        while not idle.closed:
            busy.busy = True
            await asyncio.sleep(0.05)
        assert not busy.closed
        core.stop_sweeping()

    run(loop_kind, main)


def test_sweeper_spec_update_moves_listener_to_its_new_interval(loop_kind):
    async def main() -> None:
        settings = ListenerSettings()
        core = listener(settings)
        core.start_sweeping()
        assert settings.sweeper.interval_of(core) == 1.0
        core.update(ListenerSpec("lbl-1", ListenerProtocol.TCP, 10000, targets=(TARGET,), idle_timeout=1))
        assert settings.sweeper.interval_of(core) == 0.25
        core.stop_sweeping()
        assert settings.sweeper.interval_of(core) is None
        core.update(ListenerSpec("lbl-1", ListenerProtocol.TCP, 10000, targets=(TARGET,)))
        assert settings.sweeper.interval_of(core) is None

    run(loop_kind, main)


def test_sweeper_failing_listener_others_still_swept(loop_kind):
    async def main() -> None:
        settings = ListenerSettings()
        failing = FailingSweep("lb-1", "127.0.0.1", ListenerSpec("lbl-f", ListenerProtocol.TCP, 10001), settings)
        core = listener(settings)
        connection = with_connection(core)
        failing.start_sweeping()
        core.start_sweeping()
        await wait_until(lambda: not connection.busy)
        connection.busy = True
        await wait_until(lambda: not connection.busy)
        failing.stop_sweeping()
        core.stop_sweeping()

    run(loop_kind, main)


def test_sweeper_emptied_then_reused_on_new_loop_sweeps():
    sweeper = Sweeper()
    settings = ListenerSettings(sweeper=sweeper)

    async def sweep_once() -> None:
        core = listener(settings)
        connection = with_connection(core)
        core.start_sweeping()
        await wait_until(lambda: not connection.busy)
        core.stop_sweeping()

    asyncio.run(sweep_once())
    asyncio.run(sweep_once())
    assert len(sweeper) == 0
