"""Access logs of the listeners HAProxy serves: its log lines, received and written like the embedded engine's.

A TCP/TCP_SSL listener of a CLB bound to a CLS log set and topic is rendered with ``log global``
and a ``log-format`` that prints one JSON object per connection (``LOG_FORMAT``), and the global
section sends HAProxy's logs to a UDP socket on 127.0.0.1 this receiver holds (a port, not a
Unix path: a deep data dir would pass the 108-byte limit of socket paths). Each datagram is a
syslog line; its JSON object names the listener (``%f``, the listen section is the listener id),
and the receiver turns it into the same record the embedded engine writes for a connection, in
the same log file (``engine.embedded.access_log``), so both engines' lines read alike.

An HTTP/HTTPS frontend logs one line per request (``http_log_lines``): HAProxy itself prints
the CLS line's fields in the embedded engine's names and values (``http_access_log``), so the
receiver does not take a request's line apart. Client-sent text (URI, Host, User-Agent,
Referer, SNI) passes through HAProxy's ``json(ascii)`` converter, which escapes quotes,
backslashes, control and non-ASCII bytes: a header can neither end the line nor add a field.
Headers are captured (``http-request capture``) before any rule rewrites them, raw and
truncated at ``CAPTURE_BYTES`` (escaping happens at log time, so truncation never cuts an
escape). ``request_length`` is the request as the client wrote it (request line, headers as
``req.hdrs`` rebuilds them, body): HAProxy's ``%U`` counts its internal representation, a few
bytes off. What 2.6's log-format cannot compute is left to the receiver, written before the JSON
object: ``%Ta`` in milliseconds (CLS wants seconds with three decimals), whether a target
answered (``txn.upstream_status``, set by ``http-response``: the upstream time is then the
request's, else ``"-"``), and the connection's request count (``sess.requests``); ``log_lines``
completes them (in C when ``_log_lines`` is built). ``server_name`` (the rule's first domain,
when a target was picked) comes from a map of backend name → domain; ``upstream_addr`` is ``-``
when no target was connected.

Request lines do not go by datagram (a ``sendto`` per request was most of what a logged request
cost HAProxy's worker) but into a ``ring`` (``RING``), a buffer in the worker's memory that
HAProxy forwards over one TCP connection to this receiver (``RingConnection``), many lines per
``send``, as octet-counted frames (``<length> <line>``). Two things a ring cannot carry go by UDP
instead, the frontend's second log target, taking only lines of level ``err``: a line logged
while the worker stops (HAProxy closes a ring's connection at once when a reload starts, and the
lines the old worker still writes would be lost), and a line that may pass the 16 KiB a forwarded
frame holds (``tune.bufsize``; a head over ``RING_HEAD_BYTES`` has its method and client text
measured escaped, and goes past ``RING_ESCAPED_BYTES``: escaping makes text up to six times
longer). Such a line carries a mark (``txn.udp``) and is logged at ``err``; the ring has its copy
too (a log target takes every level up to its own), which the receiver skips. The mark is set
when the request or its response head is taken; a response whose head came before a reload and
whose body ends after it is logged to the ring the stopping worker has closed, and its line is
lost (as is what the old worker's ring still held when the reload began).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from openclb.engine.haproxy import log_lines

from openclb.engine.embedded.access_log import AccessLog, connection_record, json_text
from openclb.engine.haproxy.section_lines import quote
from openclb.engine.spec import ListenerSpec
from openclb.protocols import ListenerProtocol

log = logging.getLogger("openclb.engine.haproxy.access_log")

LOG_FORMAT = (
    '{"listener":"%f","client":"%ci","client_port":%cp,"vip":"%fi","port":%fp,"server":"%si","server_port":%sp,'
    '"bytes_in":%U,"bytes_out":%B,"ms":%Tt,"tls":"%sslv","cipher":"%sslc","sni":"%[ssl_fc_sni]"}'
)

CAPTURE_BYTES = 2048
# A datagram holds a whole line, escaped captures at their longest included (``format raw``: no syslog header).
LOG_LINE_BYTES = 65000
HTTP_LOG_FORMAT = (
    'H %f %Ta %[var(txn.upstream_status)] %[var(sess.requests)] %[var(txn.udp)] '
    '{"time_local":"%Tl","protocol_type":"{protocol}","server_addr":"%fi","server_port":%fp,'
    '"server_name":%{+Q}[be_name,map({names})],"remote_addr":"%ci","remote_port":%cp,"status":%ST,'
    '"upstream_addr":"%si:%sp","upstream_status":"%[var(txn.upstream_status)]",'
    '"request":"%HM %[capture.req.uri,json(ascii)] %HV","uri":"%[capture.req.uri,field(1,?),json(ascii)]",'
    '"server_protocol":"%HV","http_host":%{+Q}[capture.req.hdr(0),json(ascii)],'
    '"http_user_agent":%{+Q}[capture.req.hdr(1),json(ascii)],"http_referer":%{+Q}[capture.req.hdr(2),json(ascii)],'
    '{tls}"request_length":%[var(txn.request_length)],"bytes_sent":%B,"request_time":'
)
HTTPS_LOG_FIELDS = '"ssl_protocol":"%sslv","ssl_cipher":"%sslc","ssl_server_name":%{+Q}[ssl_fc_sni,json(ascii)],'
# The request line's two spaces, "HTTP/1.x" and CRLF around method and URI.
_LINE_EXTRA = 12
RING = "openclb-access-log"
RING_BYTES = 8 * 1024 * 1024
# A head this long may make a line (its URI twice, three headers, escaped up to 6x) pass a ring frame's 16 KiB...
RING_HEAD_BYTES = 1100
# ... and does when its method, escaped URI (twice) and headers pass this: a frame holds 16,378 bytes,
# the rest of the line at most ~1,300 (a 253-byte server name included) and the SNI 1,530 escaped.
RING_ESCAPED_BYTES = 13_000


def ring_lines(address: str) -> list[str]:
    """The ``ring`` section request lines are logged into, forwarded to the receiver's TCP ``address``."""
    return [
        f"ring {RING}",
        "    format raw",
        f"    maxlen {LOG_LINE_BYTES}",
        f"    size {RING_BYTES}",
        "    timeout connect 1s",
        "    timeout server 900s",
        f"    server openclb {address} log-proto octet-count",
    ]


def http_log_lines(spec: ListenerSpec, certs_dir: Path, files: dict[Path, str], udp_address: str) -> list[str]:
    """The frontend lines that log each request of an HTTP/HTTPS listener (see the module docstring)."""
    names = certs_dir / f"{spec.listener_id}-server-names.map"
    files[names] = "".join(f"{rule.location_id} {json_text(rule.domains[0])[1:-1]}\n" for rule in spec.rules
                           if rule.targets and rule.redirect is None and rule.domains)
    https = spec.protocol is ListenerProtocol.HTTPS
    log_format = (HTTP_LOG_FORMAT.replace("{protocol}", "HTTPS" if https else "HTTP")
                  .replace("{names}", str(names)).replace("{tls}", HTTPS_LOG_FIELDS if https else ""))
    return [
        f"log ring@{RING} len {LOG_LINE_BYTES} format raw local0 info",
        f"log {udp_address} len {LOG_LINE_BYTES} format raw local0 err",
        # A connection closed before sending a request writes no line, as on the embedded engine.
        "option dontlognull",
        f"log-format {quote(log_format)}",
        f"http-request capture req.fhdr(host) len {CAPTURE_BYTES}",
        f"http-request capture req.fhdr(user-agent) len {CAPTURE_BYTES}",
        f"http-request capture req.fhdr(referer) len {CAPTURE_BYTES}",
        "http-request set-var(txn.request_length) method,length",
        "http-request set-var(txn.request_length) url,length,add(txn.request_length)",
        f"http-request set-var(txn.request_length) req.hdrs,length,add(txn.request_length),add({_LINE_EXTRA})",
        # Escaped, the client's text of a long head: it may not fit a ring frame.
        f"http-request set-var(txn.escaped) method,length if {{ var(txn.request_length) -m int gt {RING_HEAD_BYTES} }}",
        "http-request set-var(txn.escaped) capture.req.uri,json(ascii),length,mul(2),add(txn.escaped)"
        " if { var(txn.escaped) -m found }",
        *(f"http-request set-var(txn.escaped) capture.req.hdr({n}),json(ascii),length,add(txn.escaped)"
          " if { var(txn.escaped) -m found }" for n in range(3)),
        f"http-request set-var(txn.udp) int(1) if {{ var(txn.escaped) -m int gt {RING_ESCAPED_BYTES} }}"
        " || { stopping }",
        "http-request set-log-level err if { var(txn.udp) -m found }",
        "http-request set-var(txn.request_length) req.body_size,add(txn.request_length)",
        "http-request set-var(sess.requests) var(sess.requests,0),add(1)",
        "http-response set-var(txn.upstream_status) status",
        "http-response set-var(txn.udp) int(1) if { stopping }",
        "http-response set-log-level err if { stopping }",
        # A refused connect is answered with the embedded 502 page (render_http's errorfile 503): logged as 502.
        "http-after-response set-status 502 if { status 502 } !{ var(txn.upstream_status) -m found }",
    ]


# listener id → (its access log, its protocol), or None when it is not logged.
LogLookup = Callable[[str], "tuple[AccessLog, str] | None"]


class HaproxyLogReceiver:
    """The UDP socket and the TCP port HAProxy sends its log lines to; ``address`` (UDP) and
    ``ring_address`` (the ring's TCP forward, ``RingConnection``) are what the configuration names.

    The UDP socket is read by a timer every ``DRAIN_SECONDS``, not when a datagram arrives: a
    loop woken for each line cost more than the line (two context switches per request), while a
    drain reads the lines that waited in the socket's buffer (``RECEIVE_BUFFER_BYTES``) one after
    the other.
    """

    def __init__(self, lookup: LogLookup) -> None:
        self.lookup = lookup
        self.sock: socket.socket | None = None
        self.address = ""
        self.ring_address = ""
        self._timer: asyncio.TimerHandle | None = None
        self._server: asyncio.Server | None = None
        self._rings: set[RingConnection] = set()

    async def start(self) -> None:
        sock = self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        _make_room(sock)
        host, port = sock.getsockname()[:2]
        self.address = f"{host}:{port}"
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: RingConnection(self), "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.ring_address = f"{host}:{port}"
        self._timer = loop.call_later(DRAIN_SECONDS, self._drain)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for ring in list(self._rings):
            ring.close()
        if self.sock is not None:
            self._drain_now()
            self.sock.close()
            self.sock = None

    def _drain(self) -> None:
        self._drain_now()
        self._timer = asyncio.get_running_loop().call_later(DRAIN_SECONDS, self._drain)

    def _drain_now(self) -> None:
        receive = self.sock.recv
        handle = self.datagram_received
        for _ in range(MAX_DRAINED):
            try:
                data = receive(LOG_LINE_BYTES + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                log.exception("HAProxy log socket")
                return
            try:
                handle(data)
            except Exception:
                log.exception("HAProxy log line not written: %r", data[:200])

    def lines_received(self, groups: dict[str, str]) -> None:
        """Request lines from the ring, completed: each listener's lines as one record."""
        lookup = self.lookup
        for listener, text in groups.items():
            found = lookup(listener)
            if found is not None:
                found[0].record(("line", text))

    def datagram_received(self, data: bytes) -> None:
        if data[:2] == b"H ":
            self._request_line(data)
            return
        start = data.find(b"{")
        if start < 0:  # HAProxy's own messages (a proxy stopped at a reload)
            log.debug("HAProxy: %r", data[:200])
            return
        try:
            line = json.loads(data[start:data.rindex(b"}") + 1])
        except ValueError:
            log.warning("HAProxy log line not understood: %r", data[:200])
            return
        found = self.lookup(line.get("listener", ""))
        if found is None:
            return
        access_log, protocol = found
        tls = (line["tls"], line["cipher"], line["sni"] if line["sni"] != "-" else "") if line["tls"] != "-" else None
        access_log.record(connection_record(
            time.time(), protocol, line["vip"], line["port"], line["client"], line["client_port"],
            line["server"], line["server_port"], line["bytes_in"], line["bytes_out"], max(0, line["ms"]) / 1000, tls))

    def _request_line(self, data: bytes) -> None:
        """An HTTP request's line that came by UDP (see the module docstring): completed alone."""
        done = log_lines.complete_line(data)
        if done is None:
            log.warning("HAProxy log line not understood: %r", data[:200])
            return
        self.lines_received({done[0]: done[1]})


class RingConnection(asyncio.BufferedProtocol):
    """HAProxy's ring forwarded over TCP: octet-counted request lines, read every ``DRAIN_SECONDS``.

    After each read the transport pauses until the next drain, so the kernel's socket buffer (and
    behind it HAProxy's ring, ``RING_BYTES``) gathers the lines meanwhile and one ``recv`` takes
    them all into ``buffer``; ``log_lines.complete_frames`` completes a drain's lines per listener.
    A frame cut at the read's end stays at the buffer's start for the next one. A new worker (a
    reload) connects anew; the old one's connection ends when it stops.
    """

    def __init__(self, receiver: HaproxyLogReceiver) -> None:
        self.receiver = receiver
        self.buffer = bytearray(RING_READ_BYTES)
        self.view = memoryview(self.buffer)
        self.filled = 0
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.receiver._rings.add(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        # Never empty: a frame is at most MAX_FRAME_BYTES, half the buffer, and whole frames are used at once.
        return self.view[self.filled:]

    def buffer_updated(self, nbytes: int) -> None:
        self.filled += nbytes
        self._complete()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
            self._timer = asyncio.get_running_loop().call_later(DRAIN_SECONDS, self._resume)

    def _resume(self) -> None:
        self._timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _complete(self) -> None:
        try:
            groups, others, used = log_lines.complete_frames(self.view[:self.filled])
        except ValueError as error:
            log.error("HAProxy's ring stream not understood (%r): connection closed", error)
            self.filled = 0
            if self.transport is not None:
                self.transport.abort()
            return
        if used:
            rest = bytes(self.view[used:self.filled])
            self.buffer[:len(rest)] = rest
            self.filled = len(rest)
        try:
            self.receiver.lines_received(groups)
        except Exception:
            log.exception("HAProxy request lines not written")
        for frame in others:
            if frame[:2] == b"H ":
                log.warning("HAProxy log line not understood: %r", frame[:200])
            else:
                self.receiver.datagram_received(frame)

    def close(self) -> None:
        """Read what waits in the socket (the lines of the last drain period) and close."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        try:
            with socket.socket(fileno=os.dup(sock.fileno())) as own:
                own.setblocking(False)
                while self.transport is not None and (received := own.recv_into(self.view[self.filled:])):
                    self.filled += received
                    self._complete()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            log.exception("HAProxy's ring connection")
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.transport = None
        self.receiver._rings.discard(self)
        if self.filled:
            log.warning("HAProxy's ring connection ended inside a frame: %d bytes dropped", self.filled)
        self.view.release()


RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024
DRAIN_SECONDS = 0.02
MAX_DRAINED = 20_000
# A drain's read: 20 ms of lines at 100,000 requests/s of ~600 bytes fit; a longer backlog takes more drains.
RING_READ_BYTES = 2 * log_lines.MAX_FRAME_BYTES


def _make_room(sock) -> None:
    """A receive buffer that holds a burst of request lines while the loop is busy (a datagram
    that finds it full is dropped by the kernel): forced past ``rmem_max`` when privileged."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER_BYTES)
            return
        except OSError:
            continue
