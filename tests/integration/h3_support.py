"""An HTTP/3 client for traffic tests: aioquic's client API (Debian's curl has no HTTP/3).

``h3_request`` runs one request on a fresh QUIC connection in its own event loop and returns
what the client saw; it trusts the test CA and checks the certificate against the domain asked
for, so the certificate the listener chose is verified too. ``quic_answers`` says whether
anything completes a QUIC handshake at an address (False after ``timeout``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration

from clb_support import make_pki
from h2_support import DOMAIN


@dataclass
class H3Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class _H3Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.answers: dict[int, tuple[list, bytearray, asyncio.Future]] = {}

    def quic_event_received(self, event) -> None:
        for h3_event in self.h3.handle_event(event):
            answer = self.answers.get(getattr(h3_event, "stream_id", -1))
            if answer is None:
                continue
            if isinstance(h3_event, HeadersReceived):
                answer[0].extend(h3_event.headers)
            elif isinstance(h3_event, DataReceived):
                answer[1].extend(h3_event.data)
            if getattr(h3_event, "stream_ended", False) and not answer[2].done():
                answer[2].set_result(None)

    async def request(self, method: str, authority: str, path: str, body: bytes, headers: list) -> H3Answer:
        stream_id = self._quic.get_next_available_stream_id()
        done = asyncio.get_running_loop().create_future()
        self.answers[stream_id] = ([], bytearray(), done)
        self.h3.send_headers(stream_id, [
            (b":method", method.encode()), (b":scheme", b"https"), (b":authority", authority.encode()),
            (b":path", path.encode()), *headers], end_stream=not body)
        if body:
            self.h3.send_data(stream_id, body, end_stream=True)
        self.transmit()
        await done
        pairs, data, _ = self.answers.pop(stream_id)
        fields = {name.decode(): value.decode() for name, value in pairs}
        return H3Answer(int(fields.pop(":status")), fields, bytes(data))


def _configuration(domain: str) -> QuicConfiguration:
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=domain)
    configuration.load_verify_locations(cadata=make_pki().ca.cert.encode())
    return configuration


async def _request(vip, port, method, path, body, domain, authority, headers, timeout) -> H3Answer:
    async with asyncio.timeout(timeout):
        async with connect(vip, port, configuration=_configuration(domain), create_protocol=_H3Client) as client:
            return await client.request(method, f"{authority or domain}:{port}", path, body, headers)


def h3_request(vip: str, port: int, path: str = "/", method: str = "GET", body: bytes = b"",
               domain: str = DOMAIN, headers: list[tuple[bytes, bytes]] = (), timeout: float = 10.0,
               authority: str | None = None) -> H3Answer:
    """One HTTP/3 request to ``domain`` (the TLS server name; ``authority``, when given, names
    another host in the request) at ``vip:port`` (UDP)."""
    return asyncio.run(_request(vip, port, method, path, body, domain, authority, list(headers), timeout))


def quic_answers(vip: str, port: int, domain: str = DOMAIN, timeout: float = 2.0) -> bool:
    """Whether a QUIC handshake with ``vip:port`` completes within ``timeout``."""
    async def handshake() -> None:
        async with asyncio.timeout(timeout):
            async with connect(vip, port, configuration=_configuration(domain)):
                pass
    try:
        asyncio.run(handshake())
    except (TimeoutError, ConnectionError):
        return False
    return True
