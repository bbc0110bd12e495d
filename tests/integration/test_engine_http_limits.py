"""Request head limits of the embedded HTTP proxy, driven directly on asyncio and on uvloop.

A head of exactly ``MAX_REQUEST_HEAD`` bytes (or ``MAX_REQUEST_HEADERS`` lines) is forwarded,
one byte or one line more gets 431 and reaches no target, whether the head arrives in one
write or one byte per loop iteration. Requests that are not HTTP/1.0 or 1.1 get 400.
"""

from __future__ import annotations

import asyncio

import pytest

from backends import free_port
from embedded_support import fresh_vip, run, state
from openclb.engine.embedded.engine import EmbeddedEngine
from openclb.engine.embedded.http_headers import MAX_REQUEST_HEAD, MAX_REQUEST_HEADERS
from openclb.engine.spec import ListenerSpec, RuleSpec, TargetSpec
from openclb.protocols import ListenerProtocol

PREFIX = b"GET / HTTP/1.1\r\nHost: e.test\r\nX-Fill: "


def head_of(size: int) -> bytes:
    """A canonical request head of exactly ``size`` bytes (its size as parsed too)."""
    return PREFIX + b"f" * (size - len(PREFIX) - 4) + b"\r\n\r\n"


def head_with_lines(count: int) -> bytes:
    """A request head with ``count`` header lines, Host included."""
    return b"GET / HTTP/1.1\r\nHost: e.test\r\n" + b"".join(b"x-%d: v\r\n" % n for n in range(count - 1)) + b"\r\n"


class Target:
    """An HTTP target answering 200 to every request head it reads; counts the heads."""

    def __init__(self) -> None:
        self.heads = 0
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> TargetSpec:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=1 << 20)
        return TargetSpec("127.0.0.1", self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.heads += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()


async def listener_with_target(engine: EmbeddedEngine) -> tuple[str, int, Target]:
    target = Target()
    target_spec = await target.start()
    vip = fresh_vip()
    port = free_port(vip)
    rule = RuleSpec("loc-1", ("e.test",), "/", (target_spec,), default_server=True)
    assert (await engine.apply(state(vip, ListenerSpec("lbl-1", ListenerProtocol.HTTP, port, rules=(rule,))))).ok
    return vip, port, target


async def answer_to(vip: str, port: int, head: bytes, byte_by_byte: bool) -> bytes:
    """The status line the proxy answers ``head`` with."""
    reader, writer = await asyncio.open_connection(vip, port, limit=1 << 20)
    if byte_by_byte:
        for index in range(len(head)):
            writer.write(head[index:index + 1])
            await asyncio.sleep(0)
    else:
        writer.write(head)
    status = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
    writer.close()
    return status


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["one-write", "byte-by-byte"])
def test_request_head_at_and_just_over_size_limit_forwarded_then_431(loop_kind, byte_by_byte):
    async def main():
        engine = EmbeddedEngine()
        vip, port, target = await listener_with_target(engine)
        assert await answer_to(vip, port, head_of(MAX_REQUEST_HEAD), byte_by_byte) == b"HTTP/1.1 200 OK\r\n"
        assert target.heads == 1
        over = await answer_to(vip, port, head_of(MAX_REQUEST_HEAD + 1), byte_by_byte)
        assert over == b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        assert target.heads == 1
        await engine.close()
        target.server.close()

    run(loop_kind, main, timeout=60)


def test_request_head_at_and_just_over_header_count_limit_forwarded_then_431(loop_kind):
    async def main():
        engine = EmbeddedEngine()
        vip, port, target = await listener_with_target(engine)
        at_limit = await answer_to(vip, port, head_with_lines(MAX_REQUEST_HEADERS), False)
        assert at_limit == b"HTTP/1.1 200 OK\r\n"
        over = await answer_to(vip, port, head_with_lines(MAX_REQUEST_HEADERS + 1), False)
        assert over == b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        flood = await answer_to(vip, port, head_with_lines(20_000), False)
        assert flood == b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        assert target.heads == 1
        await engine.close()
        target.server.close()

    run(loop_kind, main)


def test_request_second_pipelined_head_over_limit_431_after_first_answered(loop_kind):
    async def main():
        engine = EmbeddedEngine()
        vip, port, target = await listener_with_target(engine)
        reader, writer = await asyncio.open_connection(vip, port, limit=1 << 20)
        writer.write(b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n" + head_of(MAX_REQUEST_HEAD + 1))
        first = await asyncio.wait_for(reader.readuntil(b"ok"), 10)
        assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b"\r\n\r\nok")
        assert await asyncio.wait_for(reader.readuntil(b"\r\n"), 10) == (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        writer.close()
        assert target.heads == 1
        await engine.close()
        target.server.close()

    run(loop_kind, main)


@pytest.mark.parametrize("head", [
    b"GET /\r\n\r\n", b"GET /\r\nHost: e.test\r\n\r\n", b"GET / HTTP/0.9\r\nHost: e.test\r\n\r\n",
], ids=["http09", "http09-with-headers", "version-0.9"])
def test_request_not_http_1_gets_400_and_is_not_forwarded(loop_kind, head):
    async def main():
        engine = EmbeddedEngine()
        vip, port, target = await listener_with_target(engine)
        assert await answer_to(vip, port, head, False) == b"HTTP/1.1 400 Bad Request\r\n"
        assert await answer_to(vip, port, b"GET / HTTP/1.0\r\nHost: e.test\r\n\r\n", False) == (
            b"HTTP/1.1 200 OK\r\n")
        assert target.heads == 1
        await engine.close()
        target.server.close()

    run(loop_kind, main)
