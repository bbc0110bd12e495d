"""An HTTP/3 load generator on aioquic's client (no h2load here speaks QUIC): ``python -m
benchmarks.h3_load HOST PORT DOMAIN REQUESTS CONNECTIONS STREAMS`` prints one JSON line with
requests/s, succeeded and failed. Each connection keeps STREAMS requests in flight; the
certificate is not verified (the benchmark's own, self-signed)."""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration


class _Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.waiting: dict[int, list] = {}

    def quic_event_received(self, event) -> None:
        for h3_event in self.h3.handle_event(event):
            entry = self.waiting.get(getattr(h3_event, "stream_id", -1))
            if entry is None:
                continue
            if isinstance(h3_event, HeadersReceived):
                entry[1] = dict(h3_event.headers).get(b":status", b"0")
            if isinstance(h3_event, (HeadersReceived, DataReceived)) and h3_event.stream_ended:
                entry[0].set_result(entry[1])

    async def get(self, authority: bytes) -> bool:
        stream_id = self._quic.get_next_available_stream_id()
        entry = self.waiting[stream_id] = [asyncio.get_running_loop().create_future(), b"0"]
        self.h3.send_headers(stream_id, [(b":method", b"GET"), (b":scheme", b"https"),
                                         (b":authority", authority), (b":path", b"/")], end_stream=True)
        self.transmit()
        status = await entry[0]
        del self.waiting[stream_id]
        return status == b"200"


async def _connection(host: str, port: int, domain: str, count: int, streams: int, results: list) -> None:
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=domain,
                                      verify_mode=ssl.CERT_NONE)
    authority = f"{domain}:{port}".encode()
    async with connect(host, port, configuration=configuration, create_protocol=_Client) as client:
        remaining = [count]

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                results.append(await client.get(authority))
        await asyncio.gather(*(worker() for _ in range(streams)))


async def main(host: str, port: int, domain: str, requests: int, connections: int, streams: int) -> dict:
    results: list[bool] = []
    started = time.perf_counter()
    async with asyncio.timeout(300):
        await asyncio.gather(*(_connection(host, port, domain, requests // connections, streams, results)
                               for _ in range(connections)))
    elapsed = time.perf_counter() - started
    succeeded = sum(results)
    return {"rps": succeeded / elapsed, "succeeded": succeeded, "failed": len(results) - succeeded}


if __name__ == "__main__":
    host, port, domain, requests, connections, streams = sys.argv[1:7]
    print(json.dumps(asyncio.run(main(host, int(port), domain, int(requests), int(connections), int(streams)))))
