"""PING checks of IPv6 targets are real ICMPv6 echoes: ::1 answers, an unrouted address does not."""

from __future__ import annotations

from embedded_support import run, wait_until
from openclb.engine.embedded.health import HealthChecker
from openclb.engine.spec import HealthCheckSpec, TargetSpec
from openclb.protocols import ListenerProtocol

FAST = {"interval": 1, "timeout": 1, "healthy_threshold": 2, "unhealthy_threshold": 2}
UNROUTED = "fd00:6c62:dead::1"


def test_health_checker_ping_ipv6_loopback_alive_and_unrouted_dead():
    async def scenario() -> None:
        checker = HealthChecker()
        await checker.start()
        targets = (TargetSpec("::1", 53), TargetSpec(UNROUTED, 53))
        checker.set_listener("lbl-udp6", ListenerProtocol.UDP, targets, HealthCheckSpec(check_type="PING", **FAST))
        await wait_until(lambda: {h.ip: h.detail for h in checker.snapshot("lbl-udp6")}
                         == {"::1": "Alive", UNROUTED: "Dead"}, timeout=8)
        await checker.close()

    run("asyncio", scenario, timeout=60)
