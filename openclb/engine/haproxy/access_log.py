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
request's, else ``"-"``), and the connection's request count (``sess.requests``).
``server_name`` (the rule's first domain, when a target was picked) comes from a map of
backend name → domain; ``upstream_addr`` is ``-`` when no target was connected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

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
    'H %f %Ta %[var(txn.upstream_status)] %[var(sess.requests)] '
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
_NO_TARGET = b'"upstream_addr":"-:-"'
_NOT_PARSED = b'"request_length":-,'


def http_log_lines(spec: ListenerSpec, certs_dir: Path, files: dict[Path, str]) -> list[str]:
    """The frontend lines that log each request of an HTTP/HTTPS listener (see the module docstring)."""
    names = certs_dir / f"{spec.listener_id}-server-names.map"
    files[names] = "".join(f"{rule.location_id} {json_text(rule.domains[0])[1:-1]}\n" for rule in spec.rules
                           if rule.targets and rule.redirect is None and rule.domains)
    https = spec.protocol is ListenerProtocol.HTTPS
    log_format = (HTTP_LOG_FORMAT.replace("{protocol}", "HTTPS" if https else "HTTP")
                  .replace("{names}", str(names)).replace("{tls}", HTTPS_LOG_FIELDS if https else ""))
    return [
        "log global",
        # A connection closed before sending a request writes no line, as on the embedded engine.
        "option dontlognull",
        f"log-format {quote(log_format)}",
        f"http-request capture req.fhdr(host) len {CAPTURE_BYTES}",
        f"http-request capture req.fhdr(user-agent) len {CAPTURE_BYTES}",
        f"http-request capture req.fhdr(referer) len {CAPTURE_BYTES}",
        "http-request set-var(txn.request_length) method,length",
        "http-request set-var(txn.request_length) url,length,add(txn.request_length)",
        f"http-request set-var(txn.request_length) req.hdrs,length,add(txn.request_length),add({_LINE_EXTRA})",
        "http-request set-var(txn.request_length) req.body_size,add(txn.request_length)",
        "http-request set-var(sess.requests) var(sess.requests),add(1) if { var(sess.requests) -m found }",
        "http-request set-var(sess.requests) int(1) unless { var(sess.requests) -m found }",
        "http-response set-var(txn.upstream_status) status",
        # A refused connect is answered with the embedded 502 page (render_http's errorfile 503): logged as 502.
        "http-after-response set-status 502 if { status 502 } !{ var(txn.upstream_status) -m found }",
    ]


# listener id → (its access log, its protocol), or None when it is not logged.
LogLookup = Callable[[str], "tuple[AccessLog, str] | None"]


class HaproxyLogReceiver:
    """The UDP socket HAProxy sends its log lines to; ``address`` is what the configuration names.

    Read by a timer every ``DRAIN_SECONDS``, not when a datagram arrives: a loop woken for each
    line cost more than the line (two context switches per request), while a drain reads the
    lines that waited in the socket's buffer (``RECEIVE_BUFFER_BYTES``) one after the other.
    """

    def __init__(self, lookup: LogLookup) -> None:
        self.lookup = lookup
        self.sock: socket.socket | None = None
        self.address = ""
        self._timer: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        sock = self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        _make_room(sock)
        host, port = sock.getsockname()[:2]
        self.address = f"{host}:{port}"
        self._timer = asyncio.get_running_loop().call_later(DRAIN_SECONDS, self._drain)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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
        """An HTTP request's line: its JSON object completed with the fields HAProxy left out."""
        try:
            _, listener, ms, upstream, requests, head = data.rstrip(b"\n").split(b" ", 5)
            seconds = "%.3f" % (max(0, int(ms)) / 1000)
        except ValueError:
            head = b""
        if not head.endswith(b'"request_time":'):
            log.warning("HAProxy log line not understood: %r", data[:200])
            return
        found = self.lookup(listener.decode())
        if found is None:
            return
        if _NO_TARGET in head:
            head = head.replace(_NO_TARGET, b'"upstream_addr":"-"', 1)
        if _NOT_PARSED in head:  # a request HAProxy refused before its rules ran (400)
            head = head.replace(_NOT_PARSED, b'"request_length":0,', 1)
        access_log = found[0]
        access_log.record(("line", head.decode() + (
            f'{seconds},"upstream_response_time":{seconds if upstream != b"-" else _DASH},'
            f'"connection_requests":{requests.decode() if requests != b"-" else 1}}}\n')))


_DASH = '"-"'
RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024
DRAIN_SECONDS = 0.02
MAX_DRAINED = 20_000


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
