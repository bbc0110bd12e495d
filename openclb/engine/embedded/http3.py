"""HTTP/3 towards clients: QUIC on the UDP side of an HTTPS listener's port.

An HTTPS listener serves HTTP/3 when at least one of its domains has Quic on (``RuleSpec.quic``)
with a certificate that needs no client certificate (QUIC with mutual TLS is not offered: those
domains keep HTTP/1.1 and HTTP/2 only). Its ``Http3Endpoint`` is a datagram protocol bound on
the listener's VIP and port in UDP: the engine opens it with the listener, rebinds nothing
when domains change, and closes it when Quic goes off on every domain or the listener stops
(``sync_http3``). A UDP or QUIC listener of the same CLB on that port holds the socket, so the
bind fails and the task that turned Quic on is refused with that reason (and the engine refuses
a datagram listener on a port an HTTP/3 side holds).

QUIC and HTTP/3 are aioquic's sans-IO ``QuicConnection`` and ``H3Connection``; this module is
the I/O around them: datagrams are routed to connections by destination connection id (every
id a connection issues is registered, retired ones removed), versions the server does not
speak get a Version Negotiation, each connection keeps one timer (aioquic's loss detection,
idle timeout). Each request stream becomes an ``http3_exchange.H3Exchange``: routed with the
listener's router, carried to the target as HTTP/1.1 with the same forwarding headers.

Certificates: on SNI listeners the domain's, among the domains that serve HTTP/3 (matched as
``tls.py`` matches: exact, wildcard, regex; the default server's, else the first, when the
server name matches none), else the listener's; the
first certificate of a spec that carries several (aioquic signs with one key). aioquic has no
certificate callback, so the choice is made by peeking at the ClientHello before aioquic reads
it (``_SniContext``): a subclass hook on aioquic internals, pinned by the aioquic version range.

Admission: new connections pass the CLB's security groups as UDP flows to the port and the
listener's max_conn / max_cps; blocked clients get 403 per request as on HTTP/1.1.
"""

from __future__ import annotations

import asyncio

from aioquic.buffer import Buffer
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.h3.exceptions import H3Error
from aioquic.quic import events as quic_events
from aioquic.quic.configuration import SMALLEST_MAX_DATAGRAM_SIZE, QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import QuicPacketType, encode_quic_version_negotiation, pull_quic_header
from aioquic import tls as quic_tls
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from openclb.engine.contract import EngineError
from openclb.engine.spec import ListenerSpec, TlsSpec
from openclb.engine.embedded.binding import BindFailure, bind_datagram_sockets
from openclb.engine.embedded.admission import Admission
from openclb.engine.embedded.routing import DomainTable, normalize_host
from openclb.engine.embedded.tls import TlsConfigError
from openclb.engine.embedded.http3_exchange import H3Exchange
from openclb.engine.embedded.http3_rules import quic_rules

IDLE_TIMEOUT = 60.0
H3_NO_ERROR = 0x100
H3_REQUEST_REJECTED = 0x10B
MAX_CONNECTIONS = 10_000

Served = tuple[x509.Certificate, list[x509.Certificate], object]


def _served(tls: TlsSpec) -> Served:
    certificate = tls.certificates[0]
    try:
        chain = x509.load_pem_x509_certificates(certificate.cert_pem.encode())
        key = load_pem_private_key(certificate.key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise TlsConfigError(f"Certificate {certificate.cert_id} cannot be loaded for QUIC") from None
    return chain[0], chain[1:], key


class CertificateChoice:
    """Which certificate a QUIC handshake presents, by the server name the client asked for:
    only domains that serve HTTP/3 are candidates, so a mutual-TLS domain's certificate is never
    presented without the client certificate it requires."""

    def __init__(self, spec: ListenerSpec) -> None:
        loaded: dict[TlsSpec, Served] = {}
        pairs = []
        if spec.sni:
            for rule in sorted(quic_rules(spec), key=lambda rule: not rule.default_server):
                if rule.tls is not None and rule.tls.certificates:
                    served = loaded.get(rule.tls) or loaded.setdefault(rule.tls, _served(rule.tls))
                    pairs += [(domain, served) for domain in rule.domains]
            if not pairs:
                raise TlsConfigError("No server certificate is configured")
            self.default = pairs[0][1]
        else:
            if spec.tls is None or not spec.tls.certificates:
                raise TlsConfigError("No server certificate is configured")
            self.default = _served(spec.tls)
        self.domains = DomainTable(pairs) if pairs else None

    def lookup(self, server_name: str | None) -> Served:
        if self.domains is not None and server_name:
            found = self.domains.lookup(normalize_host(server_name))
            if found is not None:
                return found
        return self.default


class _SniContext(quic_tls.Context):
    """aioquic's TLS context, choosing its certificate from the ClientHello's server name."""

    choice: CertificateChoice | None = None
    sni_seen = ""  # the ClientHello's server name, for the access log

    def _server_handle_hello(self, input_buf: Buffer, initial_buf: Buffer, handshake_buf: Buffer) -> None:
        if self.choice is not None:
            start = input_buf.tell()
            server_name = quic_tls.pull_client_hello(input_buf).server_name
            self.sni_seen = server_name or ""
            input_buf.seek(start)
            self.certificate, self.certificate_chain, self.certificate_private_key = self.choice.lookup(server_name)
        super()._server_handle_hello(input_buf, initial_buf, handshake_buf)


class _SniQuicConnection(QuicConnection):
    def __init__(self, *, choice: CertificateChoice, **kwargs) -> None:
        super().__init__(**kwargs)
        self._choice = choice

    def _initialize(self, peer_cid: bytes) -> None:
        super()._initialize(peer_cid)
        self.tls.__class__ = _SniContext
        self.tls.choice = self._choice


class Http3Endpoint(asyncio.DatagramProtocol):
    """The UDP side of one HTTPS listener port: its QUIC connections, by connection id."""

    def __init__(self, listener) -> None:
        self.listener = listener
        self.port = listener.spec.port
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[bytes, H3Session] = {}
        self.closed = False
        self.connections_open = 0
        self.connections_total = 0
        self.configure(listener.spec)

    def configure(self, spec: ListenerSpec) -> None:
        """Certificates and security groups of ``spec``, for the next handshakes; raises TlsConfigError."""
        choice = CertificateChoice(spec)
        configuration = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, idle_timeout=IDLE_TIMEOUT)
        configuration.certificate, configuration.certificate_chain, configuration.private_key = choice.default
        self.choice, self.configuration = choice, configuration
        self.admission = Admission(spec.admission, "UDP", True) if spec.admission.rules is not None else None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=self.configuration.connection_id_length)
        except ValueError:
            return
        if (header.packet_type != QuicPacketType.VERSION_NEGOTIATION and header.version is not None
                and header.version not in self.configuration.supported_versions):
            self.transport.sendto(encode_quic_version_negotiation(
                source_cid=header.destination_cid, destination_cid=header.source_cid,
                supported_versions=self.configuration.supported_versions), addr)
            return
        session = self.sessions.get(header.destination_cid)
        if session is None:
            if header.packet_type != QuicPacketType.INITIAL or len(data) < SMALLEST_MAX_DATAGRAM_SIZE:
                return
            if not self._admits(addr[0]):
                return
            session = H3Session(self, header.destination_cid, addr)
            for cid in session.cids:
                self.sessions[cid] = session
            self.connections_open += 1
            self.connections_total += 1
        session.datagram_received(data, addr)

    def _admits(self, client_ip: str) -> bool:
        listener = self.listener
        if self.closed or self.connections_open >= MAX_CONNECTIONS:
            return False
        if self.admission is not None and not self.admission.accepts(client_ip, self.port):
            listener.dropped += 1
            return False
        max_conn = listener.spec.max_conn
        if max_conn > 0 and len(listener.connections) + self.connections_open >= max_conn:
            listener.dropped += 1
            return False
        return listener.bucket is None or listener.bucket.take(listener.loop.time())

    def forget(self, session: H3Session) -> None:
        self.connections_open -= 1
        for cid in session.cids:
            if self.sessions.get(cid) is session:
                del self.sessions[cid]

    def error_received(self, exc: Exception) -> None:
        """ICMP errors for one client's datagrams concern only that client."""

    def close(self) -> None:
        """Close every connection (CONNECTION_CLOSE sent) and the socket."""
        if self.closed:
            return
        self.closed = True
        for session in {id(s): s for s in self.sessions.values()}.values():
            session.close()
        self.sessions.clear()
        if self.transport is not None:
            self.transport.close()


class H3Session:
    """One QUIC connection of a client and its HTTP/3 request streams."""

    def __init__(self, endpoint: Http3Endpoint, original_cid: bytes, client_addr: tuple) -> None:
        self.endpoint = endpoint
        self.listener = endpoint.listener
        self.loop = self.listener.loop
        self.client_ip, self.client_port = client_addr[0], client_addr[1]
        self.client_ip_bytes = self.client_ip.encode()
        self.log_connection = None  # the access log's fields of this connection, once a request is logged
        self.log_requests = 0
        self.quic = _SniQuicConnection(configuration=endpoint.configuration, choice=endpoint.choice,
                                       original_destination_connection_id=original_cid)
        self.h3: H3Connection | None = None
        self.cids: set[bytes] | None = {original_cid, self.quic.host_cid}  # None once forgotten
        self.streams: dict[int, H3Exchange] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None
        self.transmit_pending = False
        self.closed = False
        self.acked = asyncio.Event()

    def datagram_received(self, data: bytes, addr) -> None:
        if self.closed:
            return
        self.quic.receive_datagram(data, addr, now=self.loop.time())
        self._process()
        self.acked.set()

    def _process(self) -> None:
        event = self.quic.next_event()
        while event is not None and not self.closed:
            self._on_quic_event(event)
            event = self.quic.next_event()
        self.transmit()

    def _on_quic_event(self, event) -> None:
        if isinstance(event, quic_events.ProtocolNegotiated) and event.alpn_protocol in H3_ALPN and self.h3 is None:
            self.h3 = H3Connection(self.quic)
        elif isinstance(event, quic_events.ConnectionIdIssued):
            self.cids.add(event.connection_id)
            self.endpoint.sessions[event.connection_id] = self
        elif isinstance(event, quic_events.ConnectionIdRetired):
            self.cids.discard(event.connection_id)
            if self.endpoint.sessions.get(event.connection_id) is self:
                del self.endpoint.sessions[event.connection_id]
        elif isinstance(event, quic_events.ConnectionTerminated):
            self._terminated()
            return
        elif isinstance(event, (quic_events.StreamReset, quic_events.StopSendingReceived)):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                stream.cancel()
        if self.h3 is None:
            return
        try:
            h3_events = self.h3.handle_event(event)
        except H3Error:
            return
        for h3_event in h3_events:
            self._on_h3_event(h3_event)

    def _on_h3_event(self, event) -> None:
        if isinstance(event, HeadersReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                if event.stream_ended:
                    stream.request_ended()  # trailers end the request; their fields are not passed on
                return
            if self.endpoint.closed:
                self.quic.reset_stream(event.stream_id, H3_REQUEST_REJECTED)
                return
            self.listener.requests += 1
            self.streams[event.stream_id] = H3Exchange(self, event.stream_id, event.headers, event.stream_ended)
        elif isinstance(event, DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.body_received(event.data, event.stream_ended)

    # -- what exchanges use ---------------------------------------------------------------

    def transmit(self) -> None:
        """Send what aioquic has queued and set the connection's one timer."""
        self.transmit_pending = False
        if self.closed:
            return
        transport = self.endpoint.transport
        for data, addr in self.quic.datagrams_to_send(now=self.loop.time()):
            transport.sendto(data, addr)
        at = self.quic.get_timer()
        if at != self.timer_at:
            if self.timer is not None:
                self.timer.cancel()
            self.timer_at = at
            self.timer = None if at is None else self.loop.call_at(at, self._timer_fired)

    def transmit_soon(self) -> None:
        """One transmit at the end of this turn of the loop for every frame queued during it."""
        if not self.transmit_pending:
            self.transmit_pending = True
            self.loop.call_soon(self.transmit)

    def unsent(self, stream_id: int) -> int:
        """Bytes of a stream's response not yet acknowledged by the client (aioquic keeps them
        in the stream's send buffer; it offers no public accessor, hence the private read)."""
        stream = self.quic._streams.get(stream_id)
        return len(stream.sender._buffer) if stream is not None else 0

    def stream_done(self, stream: H3Exchange) -> None:
        if self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
        if not stream.request_complete and not self.closed:
            # Answered before the request body ended (404, 413, 502...): the rest is not wanted.
            try:
                self.quic.stop_stream(stream.stream_id, H3_NO_ERROR)
            except ValueError:
                return
            self.transmit_soon()

    def _timer_fired(self) -> None:
        self.timer = self.timer_at = None
        if self.closed:
            return
        self.quic.handle_timer(now=self.loop.time())
        self._process()

    def _terminated(self) -> None:
        if self.cids is None:
            return
        self.closed = True
        self.acked.set()
        if self.timer is not None:
            self.timer.cancel()
        for stream in list(self.streams.values()):
            stream.cancel()
        self.streams.clear()
        self.endpoint.forget(self)
        self.cids = None

    def close(self) -> None:
        if self.closed:
            return
        self.quic.close(error_code=H3_NO_ERROR, reason_phrase="listener stopped")
        self.transmit()
        self._terminated()


async def sync_http3(listener, free_bind: bool = False, reuse_port: bool = False) -> None:
    """Open, reconfigure or close ``listener``'s UDP side as its spec asks (see the module
    docstring); raises BindFailure when the UDP port cannot be bound or a certificate loaded."""
    spec = listener.spec
    endpoint = listener.http3
    if not quic_rules(spec) or listener.closing:
        if endpoint is not None:
            listener.http3 = None
            endpoint.close()
        return
    try:
        if endpoint is not None:
            endpoint.configure(spec)
            return
        endpoint = Http3Endpoint(listener)
    except TlsConfigError as exc:
        raise BindFailure(EngineError(str(exc), f"listener {spec.listener_id}: QUIC: {exc}")) from exc
    try:
        [(_, sock)] = bind_datagram_sockets(listener.vip, range(spec.port, spec.port + 1), spec.listener_id,
                                            free_bind, reuse_port)
    except BindFailure as failure:
        raise BindFailure(EngineError(
            f"UDP port {spec.port} on {listener.vip} (HTTP/3 of a domain with Quic on) is in use: "
            f"{failure.error.user_message}; a UDP or QUIC listener on this port conflicts with Quic",
            failure.error.operator_message)) from None
    try:
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: endpoint, sock=sock)
    except OSError as exc:
        sock.close()
        raise BindFailure(EngineError(f"Cannot serve UDP port {spec.port} on {listener.vip}: {exc.strerror or exc}",
                                      f"listener {spec.listener_id}: QUIC endpoint failed: {exc!r}")) from exc
    listener.http3 = endpoint
