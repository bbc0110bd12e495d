"""The access-log record of one HTTP/HTTPS request (see ``access_log`` for where records go).

An ``HttpSession`` whose listener is logged calls ``request_started`` when a request head is
taken and ``request_finished`` when its response is complete (from a target, or answered by
the load balancer itself). Nothing here runs for a listener that is not logged, and what runs
for one that is only gathers references and numbers: what the connection fixes (addresses,
ports, TLS) is gathered once per connection (``connection_fields``), what a request under way
needs is kept in its session's own slots, and the request line and headers stay bytes until the
writer thread turns them into JSON lines. The values are strings, bytes, numbers and tuples of
them (no parser or target objects: the format is named, not referenced). Byte counts are the
client connection's, from the end of the previous request's record to the end of this one, so
the records of one connection add up to what it carried.

Both hooks, the log's recorder and the formatter are compiled code where the extension
``_access_lines`` was built (``_access_records.c``: C records, no Python object per request;
``_access_lines.c``: lines written without the GIL), else the Python below
(``python_request_started``, ``PythonRequests``, ``_request_lines``, where what requests share is
formatted once into a template). Both write the same bytes (a unit test compares them); issue
16's budget (logging at most 10% of a request's cost) is met only by the compiled ones.
"""

from __future__ import annotations

import time
from itertools import repeat
from operator import sub

from openclb.engine.embedded.access_log import (
    CHUNK_RECORDS,
    REQUEST_FIELDS,
    REQUEST_LOG,
    BatchContext,
    json_text,
    tls_fields,
    tls_json,
)
from openclb.engine.embedded.http_headers import RequestHead

try:
    from openclb.engine.embedded import _access_lines as compiled
except ImportError:  # built without a C compiler (setup.py: the extension is optional)
    compiled = None

_monotonic = time.monotonic


def python_request_started(session, request: RequestHead) -> None:
    """Note a request's start, head (kept as it is, not taken apart) and HTTP version on its session.

    Kept in the session's own slots, not a tuple: a request then allocates nothing here. A
    keep-alive request is HTTP/1.1 (``HttpSession.on_headers_complete`` keeps only those alive),
    so only the others ask the parser, whose answer is a new string each time."""
    if session.log_connection is None:
        session.log_connection = connection_fields(session)
    session.log_started = _monotonic()
    session.log_version = "1.1" if request.keep_alive else session.parser.get_http_version()
    session.log_head = request


def python_request_finished(session, status: int, upstream_status: int = 0, sent: int = 0) -> None:
    """Hand the session's current request to its listener's log; ``sent``: bytes the session wrote
    itself (a local response), which its counters do not see."""
    log = session.listener.access_log
    if log is None:
        session.log_head = None
        return
    log.requests.record(session, status, upstream_status, sent)


def connection_fields(session) -> tuple:
    """(HTTPS, VIP, listen port, client IP, client port, TLS) of a session: the same for each of its requests."""
    listener = session.listener
    transport = session.transport
    peer = transport.get_extra_info("peername")
    https = listener.tls is not None
    return (https, listener.vip, session.listen_port, session.client_ip, peer[1] if peer else 0,
            tls_fields(transport.get_extra_info("ssl_object")) if https else None)


class PythonRequests:
    """The HTTP requests of one log, where the compiled ``RequestRecorder`` was not built:
    ``REQUEST_FIELDS`` values a request, end to end in one flat list, so that a logged request
    leaves one new container behind (its headers' tuple, plain values only, untracked by the
    garbage collector at its first pass) and no record object."""

    __slots__ = ("values", "limit", "arm", "armed", "dropped")

    def __init__(self, arm, limit: int) -> None:
        self.values: list = []
        self.arm = arm
        self.limit = limit * REQUEST_FIELDS
        self.armed = False
        self.dropped = 0

    def record(self, session, status: int, upstream_status: int = 0, sent: int = 0) -> None:
        """The session's current request (``RequestRecorder.record`` in Python)."""
        head = session.log_head
        session.log_head = None
        bytes_in = session.bytes_in
        bytes_out = session.bytes_out + sent
        requests = session.log_requests + 1
        target = session.target if upstream_status or status >= 500 else None
        if target is None:
            server_name, target_ip, target_port = "", None, 0
        else:
            rule = session.rule
            server_name = rule.spec.domains[0] if rule is not None else ""
            target_ip, target_port = target.ip, target.port
        fields = (_monotonic(), session.log_started, head.method, head.target, session.log_version,
                  tuple(head.headers), session.log_connection, server_name, target_ip, target_port, status,
                  upstream_status, bytes_in - session.log_bytes_in, bytes_out - session.log_bytes_out, requests)
        session.log_bytes_in = bytes_in
        session.log_bytes_out = bytes_out
        session.log_requests = requests
        self.append(fields)

    def append(self, fields: tuple) -> None:
        values = self.values
        if len(values) >= self.limit:
            self.dropped += 1
            return
        values += fields
        if not self.armed:
            self.armed = True
            self.arm()

    def take(self) -> list | None:
        self.armed = False
        values, self.values = self.values, []
        return values or None

    def __len__(self) -> int:
        return len(self.values) // REQUEST_FIELDS


def stream_finished(exchange, version: str) -> None:
    """Hand an HTTP/2 or HTTP/3 stream's request to the log: the HTTP/1.1 line with ``version``
    (``2.0``, ``3.0``); ``request_length`` counts the head as its fields would be written in
    HTTP/1.1 plus the body. A stream reset before any answer writes nothing, as a connection
    closed before a whole request does on HTTP/1.1."""
    status = exchange.log_status
    if not status:
        return
    session = exchange.session
    connection = session.log_connection
    if connection is None:
        connection = session.log_connection = _stream_connection(session)
    method = path = b""
    kept = []
    head_size = 0
    for name, value in exchange.request_headers:
        head_size += len(name) + len(value) + 4
        if name == b":method":
            method = value
        elif name == b":path":
            path = value
        elif name == b":authority":
            kept.append((b"host", value))
        elif name in _STREAM_LOGGED:
            kept.append((name, value))
    requests = session.log_requests = session.log_requests + 1
    upstream = exchange.log_upstream
    target = exchange.target if upstream or status >= 500 else None
    rule = exchange.log_rule
    if target is None:
        server_name, target_ip, target_port = "", None, 0
    else:
        server_name = rule.spec.domains[0] if rule is not None else ""
        target_ip, target_port = target.ip, target.port
    session.listener.access_log.requests.append((
        _monotonic(), exchange.log_started, method, path, version, tuple(kept), connection, server_name, target_ip,
        target_port, status, upstream, head_size + exchange.log_in, exchange.log_out, requests))


def _stream_connection(session) -> tuple:
    """``connection_fields`` of an HTTP/2 session (TCP) or an HTTP/3 one (QUIC: TLS 1.3 always)."""
    quic = getattr(session, "quic", None)
    if quic is None:
        return connection_fields(session)
    listener = session.listener
    return (True, listener.vip, listener.spec.port, session.client_ip, session.client_port,
            ("TLSv1.3", "", quic.tls.sni_seen))


_STREAM_LOGGED = frozenset((b"host", b"user-agent", b"referer"))


def python_request_lines(values: list, batch: BatchContext) -> bytes:
    """The JSON lines of a ``PythonRequests`` batch, ``CHUNK_RECORDS`` requests at a time."""
    step = CHUNK_RECORDS * REQUEST_FIELDS
    return b"".join([_request_lines(values[at:at + step], batch).encode() for at in range(0, len(values), step)])


def _request_lines(values: list, batch) -> str:
    """The JSON lines of requests (``REQUEST_FIELDS`` values each, in ``request_finished``'s
    order, end to end), in the field names of the CLB's CLS access log.

    A line is a template made from the fields a request shares with others (its connection,
    rule, target, statuses, request line, host, user agent, referer) and five that are its own
    (time, byte counts, time taken, request count on its connection). Templates are kept in
    ``batch.memo`` between batches (the writer's alone, bounded by ``MEMO_ENTRIES``), so a
    client repeating requests costs one f-string a line. Columns are taken apart and looked up
    with C-level loops (``zip``, ``map``), not a Python frame per record and field.
    """
    (ended, started, methods, targets, versions, headers, connections, server_names, target_ips, target_ports,
     statuses, upstream_statuses, request_lengths, bytes_sent, requests) = [
        values[at::REQUEST_FIELDS] for at in range(REQUEST_FIELDS)]
    found = list(map(dict, headers))
    keys = list(zip(connections, server_names, target_ips, target_ports, statuses, upstream_statuses, methods, targets,
                    versions, map(dict.get, found, _HOST, _NONE), map(dict.get, found, _AGENT, _NONE),
                    map(dict.get, found, _REFERER, _NONE)))
    templates = batch.memo
    found = list(map(templates.get, keys))
    if None in found:
        missing = {key for key, template in zip(keys, found) if template is None}
        if len(templates) + len(missing) > MEMO_ENTRIES:
            templates.clear()
        templates.update(zip(missing, map(_template, missing)))
        found = list(map(templates.__getitem__, keys))
    offset = batch.offset
    seconds = list(map(int, map(offset.__add__, ended)))
    stamps = {second: batch.time_local(second) for second in set(seconds)}
    return "".join([
        f'{{"time_local":"{stamp}",{middle}"request_length":{length},"bytes_sent":{sent},"request_time":{taken},'
        f'"upstream_response_time":{taken if timed else _DASH},"connection_requests":{count}{tail}}}\n'
        for (middle, timed, tail), stamp, length, sent, taken, count in zip(
            found, map(stamps.__getitem__, seconds), request_lengths, bytes_sent,
            map(_SECONDS.__mod__, map(sub, ended, started)), requests)])


def _template(key: tuple) -> tuple[str, bool, str]:
    """The parts of a request line its fixed fields make: after ``time_local``, whether
    ``upstream_response_time`` is a time, and after ``connection_requests``. Client-sent text is
    escaped (``json_text``); the rest is ours and needs none."""
    (connection, server_name, target_ip, target_port, status, upstream_status, method, target, version, host, agent,
     referer) = key
    https, vip, port, client_ip, client_port, tls = connection
    uri = _client_text(target)[1:-1]
    return (
        f'"protocol_type":"{"HTTPS" if https else "HTTP"}","server_addr":"{vip}","server_port":{port},'
        f'"server_name":{json_text(server_name)},"remote_addr":"{client_ip}","remote_port":{client_port},'
        f'"status":{status},"upstream_addr":"{"-" if target_ip is None else f"{target_ip}:{target_port}"}",'
        f'"upstream_status":"{upstream_status or "-"}",'
        f'"request":"{_METHODS.get(method) or _client_text(method)[1:-1]} {uri} HTTP/{version}",'
        f'"uri":"{uri.partition("?")[0]}","server_protocol":"HTTP/{version}","http_host":{_client_text(host)},'
        f'"http_user_agent":{_client_text(agent)},"http_referer":{_client_text(referer)},',
        bool(upstream_status), tls_json(tls))


def _client_text(sent: bytes) -> str:
    return json_text(sent.decode("latin-1"))


MEMO_ENTRIES = 4096
_DASH = '"-"'
_SECONDS = "%.3f"
_HOST, _AGENT, _REFERER, _NONE = repeat(b"host"), repeat(b"user-agent"), repeat(b"referer"), repeat(b"")
_METHODS = {method: method.decode() for method in (
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE")}

if compiled is None:
    request_started, request_finished = python_request_started, python_request_finished
    REQUEST_LOG.update(recorder=PythonRequests, lines=python_request_lines)
else:
    compiled.configure(connection_fields)
    request_started, request_finished = compiled.request_started, compiled.request_finished
    REQUEST_LOG.update(recorder=compiled.RequestRecorder,
                       lines=lambda batch, context: compiled.request_lines(batch, context.offset))
