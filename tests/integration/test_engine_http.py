"""The embedded L7 data plane driven directly (no control plane), on asyncio and on uvloop.

What the SDK-level tests cannot reach: the proxy's own buffers under back-pressure, a pooled
target connection that died while idle, certificates swapped and refused in place, and the
per-rule health keys the control plane reads.
"""

from __future__ import annotations

import asyncio
import ssl

from backends import free_port
from clb_support import make_pki
from embedded_support import fresh_vip, run, state
from openclb.protocols import ListenerProtocol
from openclb.engine.spec import CertificateSpec, ListenerSpec, RuleSpec, TargetSpec, TlsSpec
from openclb.engine.embedded.engine import EmbeddedEngine
from openclb.engine.embedded.health import HealthChecker


def http_spec(port: int, target_port: int, **extra) -> ListenerSpec:
    rule = RuleSpec("loc-1", ("e.test",), "/", (TargetSpec("127.0.0.1", target_port),), default_server=True)
    return ListenerSpec("lbl-1", ListenerProtocol.HTTP, port, rules=(rule,), **extra)


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


def test_response_client_not_reading_proxy_holds_about_one_high_water_mark(loop_kind):
    async def main():
        size = 64 << 20
        chunk = b"b" * (1 << 20)

        async def bulk(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            for _ in range(size // len(chunk)):
                writer.write(chunk)
                await writer.drain()
            writer.close()

        target = await asyncio.start_server(bulk, "127.0.0.1", 0)
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine()
        assert (await engine.apply(state(vip, http_spec(port, target.sockets[0].getsockname()[1])))).ok
        reader, writer = await asyncio.open_connection(vip, port)
        writer.write(b"GET /bulk HTTP/1.1\r\nHost: e.test\r\n\r\n")
        await asyncio.sleep(0.5)
        (session,) = engine.listener("lb-test", "lbl-1").connections
        held = session.transport.get_write_buffer_size()
        assert held < 1 << 20
        assert session.bytes_out < 16 << 20
        await read_head(reader)
        assert len(await asyncio.wait_for(reader.readexactly(size), 10)) == size
        writer.close()
        await engine.close()
        target.close()

    run(loop_kind, main)


def test_request_pooled_target_connection_closing_on_reuse_retried_on_fresh_one(loop_kind):
    async def main():
        accepted = []

        async def answer_once(reader, writer):
            accepted.append(writer)
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            if len(accepted) == 1:
                await reader.readuntil(b"\r\n\r\n")  # the race: the reused connection dies unanswered
            writer.close()

        target = await asyncio.start_server(answer_once, "127.0.0.1", 0)
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine()
        spec = http_spec(port, target.sockets[0].getsockname()[1], keepalive=True)
        assert (await engine.apply(state(vip, spec))).ok
        reader, writer = await asyncio.open_connection(vip, port)
        for _ in range(2):
            writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
            assert (await read_head(reader)).startswith(b"HTTP/1.1 200 ")
            assert await reader.readexactly(2) == b"ok"
        assert len(accepted) == 2
        writer.close()
        await engine.close()
        target.close()

    run(loop_kind, main)


def test_apply_rule_url_changed_remembered_route_forgotten_on_open_connection(loop_kind):
    async def main():
        async def answer(reader, writer):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        target = await asyncio.start_server(answer, "127.0.0.1", 0)
        target_port = target.sockets[0].getsockname()[1]
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine()

        def spec(url: str) -> ListenerSpec:
            rule = RuleSpec("loc-1", ("e.test",), url, (TargetSpec("127.0.0.1", target_port),), default_server=True)
            return ListenerSpec("lbl-1", ListenerProtocol.HTTP, port, rules=(rule,), keepalive=True)

        assert (await engine.apply(state(vip, spec("/a")))).ok
        reader, writer = await asyncio.open_connection(vip, port)
        statuses = []
        for url in ("/a", "/b"):
            assert (await engine.apply(state(vip, spec(url)))).ok
            writer.write(b"GET /a HTTP/1.1\r\nHost: e.test\r\n\r\n")
            head = await read_head(reader)
            statuses.append(head.split(b" ")[1])
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        assert statuses == [b"200", b"404"]
        writer.close()
        await engine.close()
        target.close()

    run(loop_kind, main)


def test_apply_https_certificate_swapped_in_place_and_broken_one_refused(loop_kind):
    async def main():
        pki = make_pki()
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine()
        client = ssl.create_default_context(cadata=pki.ca.cert)
        client.check_hostname = False

        async def served_cn() -> str:
            reader, writer = await asyncio.open_connection(vip, port, ssl=client, server_hostname="e.test")
            cert = writer.get_extra_info("ssl_object").getpeercert()
            writer.close()
            return dict(item[0] for item in cert["subject"])["commonName"]

        def spec(cert) -> ListenerSpec:
            tls = TlsSpec((CertificateSpec("cert-1", cert.cert, cert.key),))
            return ListenerSpec("lbl-1", ListenerProtocol.HTTPS, port, tls=tls)

        assert (await engine.apply(state(vip, spec(pki.rsa)))).ok
        assert await served_cn() == "rsa.example.com"
        kept_reader, kept_writer = await asyncio.open_connection(vip, port, ssl=client, server_hostname="e.test")
        assert (await engine.apply(state(vip, spec(pki.ecdsa)))).ok
        assert await served_cn() == "ec.example.com"
        broken = CertificateSpec("cert-bad", pki.ecdsa.cert, pki.rsa.key)
        result = await engine.apply(state(vip, ListenerSpec("lbl-1", ListenerProtocol.HTTPS, port, tls=TlsSpec((broken,)))))
        assert "cert-bad" in result.failed["lbl-1"].user_message
        assert pki.rsa.key not in result.failed["lbl-1"].user_message
        assert await served_cn() == "ec.example.com"
        kept_writer.write(b"GET / HTTP/1.1\r\nHost: nowhere\r\n\r\n")
        assert (await read_head(kept_reader)).startswith(b"HTTP/1.1 404 ")
        kept_writer.close()
        await engine.close()

    run(loop_kind, main)


def test_health_rule_targets_reported_under_location_id(loop_kind):
    async def main():
        vip = fresh_vip()
        port = free_port(vip)
        engine = EmbeddedEngine(health_checker=HealthChecker())
        await engine.start()
        assert (await engine.apply(state(vip, http_spec(port, 9)))).ok
        health = await engine.health("lb-test")
        assert [(h.listener_id, h.ip, h.port) for h in health] == [("loc-1", "127.0.0.1", 9)]
        assert (await engine.apply(state(vip, ListenerSpec("lbl-1", ListenerProtocol.HTTP, port)))).ok
        assert await engine.health("lb-test") == []
        await engine.close()

    run(loop_kind, main)
