"""Deadlines and retries of the embedded HTTP proxy, driven directly on asyncio and on uvloop.

The listener specs carry short timeouts (a fraction of a second) so every test is bounded:
a target that accepts and never answers costs the client a 504 (not a hang), one that stalls
after its head a reset; a client whose head is too slow gets 408 (or a silent close when it
sent nothing), while a keep-alive connection idle between requests is left alone. A refused
connect is retried at once on another target; a request that may have reached a target
whose pooled connection then died is retried only when it is idempotent.
"""

from __future__ import annotations

import asyncio
import time

from backends import free_port
from embedded_support import closed_by_peer, fresh_vip, run, state
from openclb.engine.embedded.engine import EmbeddedEngine
from openclb.engine.spec import ListenerSpec, RuleSpec, TargetSpec
from openclb.protocols import ListenerProtocol

TIMEOUT = 0.5
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def spec(port: int, *targets: TargetSpec, **extra) -> ListenerSpec:
    rule = RuleSpec("loc-1", ("e.test",), "/", targets, default_server=True)
    return ListenerSpec("lbl-1", ListenerProtocol.HTTP, port, rules=(rule,), **extra)


async def serve(handler) -> tuple[asyncio.AbstractServer, TargetSpec]:
    """A target on the test's loop; each connection is ``handler(reader, writer)``, and the proxy
    dropping it is no error of the target's."""
    async def quietly(reader, writer):
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()

    server = await asyncio.start_server(quietly, "127.0.0.1", 0)
    return server, TargetSpec("127.0.0.1", server.sockets[0].getsockname()[1])


async def listening(*targets: TargetSpec, **extra) -> tuple[EmbeddedEngine, str, int]:
    engine = EmbeddedEngine()
    vip = fresh_vip()
    port = free_port(vip)
    assert (await engine.apply(state(vip, spec(port, *targets, **extra)))).ok
    return engine, vip, port


async def response(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    """One whole response with a Content-Length body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await asyncio.wait_for(reader.readexactly(length), timeout)


def test_request_target_never_answering_gets_504_after_response_timeout_and_connection_kept(loop_kind):
    async def main():
        held = []

        async def silent(reader, writer):
            held.append(writer)
            await reader.read()

        server, target = await serve(silent)
        engine, vip, port = await listening(target, target_response_timeout=TIMEOUT)
        reader, writer = await asyncio.open_connection(vip, port)
        for _ in range(2):
            started = time.monotonic()
            writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
            answer = await response(reader)
            waited = time.monotonic() - started
            assert answer.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n"), answer
            assert TIMEOUT <= waited < TIMEOUT + 1.0, waited
        assert len(held) == 2
        writer.close()
        await engine.close()
        server.close()

    run(loop_kind, main)


def test_request_target_stalling_after_head_client_connection_reset(loop_kind):
    async def main():
        async def stalls(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
            await reader.read()

        server, target = await serve(stalls)
        engine, vip, port = await listening(target, target_response_timeout=TIMEOUT)
        reader, writer = await asyncio.open_connection(vip, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200 OK\r\n")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"half"
        assert await closed_by_peer(reader, timeout=TIMEOUT + 2)
        writer.close()
        await engine.close()
        server.close()

    run(loop_kind, main)


def test_request_slow_target_answering_within_timeout_is_not_cut(loop_kind):
    async def main():
        async def trickles(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
            for piece in (b"a", b"b", b"c", b"d"):
                await asyncio.sleep(TIMEOUT * 0.6)
                writer.write(piece)
            await writer.drain()

        server, target = await serve(trickles)
        engine, vip, port = await listening(target, target_response_timeout=TIMEOUT)
        reader, writer = await asyncio.open_connection(vip, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
        assert (await response(reader)).endswith(b"\r\n\r\nabcd")
        writer.close()
        await engine.close()
        server.close()

    run(loop_kind, main)


def test_request_head_slower_than_head_timeout_gets_408_and_silent_client_closed(loop_kind):
    async def main():
        async def closes(reader, writer):
            writer.close()

        server, target = await serve(closes)
        engine, vip, port = await listening(target, client_head_timeout=TIMEOUT)
        partial_reader, partial_writer = await asyncio.open_connection(vip, port)
        silent_reader, silent_writer = await asyncio.open_connection(vip, port)
        started = time.monotonic()
        partial_writer.write(b"GET / HTTP/1.1\r\nHost: e.")
        for _ in range(3):
            await asyncio.sleep(TIMEOUT / 3)
            partial_writer.write(b"t")
        answer = await asyncio.wait_for(partial_reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
        assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 1.0
        assert await asyncio.wait_for(silent_reader.read(), 5) == b""
        partial_writer.close()
        silent_writer.close()
        await engine.close()
        server.close()

    run(loop_kind, main)


def test_request_keepalive_connection_idle_past_head_timeout_serves_next_request(loop_kind):
    async def main():
        async def answers(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(OK)

        server, target = await serve(answers)
        engine, vip, port = await listening(target, client_head_timeout=TIMEOUT, target_response_timeout=TIMEOUT)
        reader, writer = await asyncio.open_connection(vip, port)
        for _ in range(2):
            writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
            assert (await response(reader)).endswith(b"\r\n\r\nok")
            await asyncio.sleep(TIMEOUT * 2)
        writer.write(b"GET / HTTP/1.1\r\nHost: e.")
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 408 ")
        writer.close()
        await engine.close()
        server.close()

    run(loop_kind, main)


def test_request_connect_refused_retried_at_once_on_other_target(loop_kind):
    async def main():
        async def answers(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(OK)

        server, alive = await serve(answers)
        dead = TargetSpec("127.0.0.1", free_port())
        engine, vip, port = await listening(dead, alive)
        started = time.monotonic()
        for method in (b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"POST") * 5:
            reader, writer = await asyncio.open_connection(vip, port)
            writer.write(method + b" / HTTP/1.1\r\nHost: e.test\r\nContent-Length: 0\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n"), (method, head)
            writer.close()
        assert time.monotonic() - started < 5
        await engine.close()
        server.close()

    run(loop_kind, main)


def test_request_post_on_pooled_connection_dying_unanswered_gets_502_not_resent(loop_kind):
    async def main():
        seen = []

        async def answer_once(reader, writer):
            seen.append((await reader.readuntil(b"\r\n\r\n")).split(b" ")[0])
            writer.write(OK)
            await writer.drain()
            if len(seen) == 1:
                seen.append((await reader.readuntil(b"\r\n\r\n")).split(b" ")[0])
            writer.close()

        server, target = await serve(answer_once)
        engine, vip, port = await listening(target, keepalive=True)
        reader, writer = await asyncio.open_connection(vip, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
        assert (await response(reader)).endswith(b"\r\n\r\nok")
        writer.write(b"POST / HTTP/1.1\r\nHost: e.test\r\n\r\n")
        assert (await response(reader)).startswith(b"HTTP/1.1 502 ")
        assert seen == [b"GET", b"POST"]
        writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n")
        assert (await response(reader)).endswith(b"\r\n\r\nok")
        writer.close()
        await engine.close()
        server.close()

    run(loop_kind, main)
