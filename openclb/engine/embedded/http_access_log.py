"""The access-log record of one HTTP/HTTPS request (see ``access_log`` for where records go).

An ``HttpSession`` whose listener is logged calls ``request_started`` when a request head is
taken and ``request_finished`` when its response is complete (from a target, or answered by
the load balancer itself). Nothing here runs for a listener that is not logged, and what runs
for one that is only gathers references and numbers: what the connection fixes (addresses,
ports, TLS) is gathered once per connection (``connection_fields``), and the request line
and headers stay bytes until the writer thread turns the record into its JSON line
(``_request_line``), where each connection's part of the line is formatted once per batch.
A record holds only strings, bytes, numbers and tuples of them (no parser or target
objects, the format is named, not referenced): the garbage collector then stops tracking
it at its first pass, so the records waiting for the writer cost no collection work. Byte counts are the client connection's, from the end
of the previous request's record to the end of this one, so the records of one connection
add up to what it carried.
"""

from __future__ import annotations

import time

from openclb.engine.embedded.access_log import LINE_FORMATS, json_text, tls_fields, tls_json
from openclb.engine.embedded.http_headers import RequestHead

_monotonic = time.monotonic


def request_started(session, request: RequestHead) -> tuple:
    """(start, head, HTTP version) of a request; its head is kept as it is, not taken apart."""
    if session.log_connection is None:
        session.log_connection = connection_fields(session)
    return _monotonic(), request, session.parser.get_http_version()


def connection_fields(session) -> tuple:
    """(HTTPS, VIP, listen port, client IP, client port, TLS) of a session: the same for each of its requests."""
    listener = session.listener
    transport = session.transport
    peer = transport.get_extra_info("peername")
    https = listener.tls is not None
    return (https, listener.vip, session.listen_port, session.client_ip, peer[1] if peer else 0,
            tls_fields(transport.get_extra_info("ssl_object")) if https else None)


def request_finished(session, status: int, upstream_status: int = 0, sent: int = 0) -> None:
    """Hand the session's current request to the log; ``sent``: bytes the session wrote itself
    (a local response), which its counters do not see."""
    started, head, version = session.log_entry
    session.log_entry = None
    log = session.listener.access_log
    if log is None:
        return
    marks = session.log_marks
    bytes_in = session.bytes_in
    bytes_out = session.bytes_out + sent
    requests = marks[2] + 1
    session.log_marks = (bytes_in, bytes_out, requests)
    target = session.target if upstream_status or status >= 500 else None
    if target is None:
        log.record(("request", _monotonic(), started, head.method, head.target, version, tuple(head.headers),
                    session.log_connection, "", None, 0, status, upstream_status, bytes_in - marks[0],
                    bytes_out - marks[1], requests))
    else:
        rule = session.rule
        log.record(("request", _monotonic(), started, head.method, head.target, version, tuple(head.headers),
                    session.log_connection, rule.spec.domains[0] if rule is not None else "", target.ip, target.port, status,
                    upstream_status, bytes_in - marks[0], bytes_out - marks[1], requests))


def _request_line(r: tuple, batch) -> str:
    """The JSON line of a request record, in the field names of the CLB's CLS access log.

    ``batch`` (``access_log.BatchContext``) gives ``time_local`` and keeps the formatted parts
    of the line a connection or a target fixes, so a keep-alive connection's are made once.
    Client-sent text is escaped (``json_text``); the rest is ours and needs none.
    """
    _, ended, started, method, target, version, headers, connection, server_name, target_ip, target_port, status, \
        upstream_status, request_length, bytes_sent, requests = r
    parts = batch.parts
    texts = batch.texts
    before, after, tls = parts.get(id(connection)) or batch.keep(connection, _connection_parts(connection))
    found = dict(headers)
    host = found.get(b"host", b"")
    agent = found.get(b"user-agent", b"")
    referer = found.get(b"referer", b"")
    uri, path = batch.targets.get(target) or _target_texts(batch, target)
    seconds = "%.3f" % (ended - started)
    stamp = ended + batch.offset
    time_local = batch.stamp_text if int(stamp) == batch.second else batch.time_local(stamp)
    return (
        f'{{"time_local":"{time_local}",{before}"server_name":{texts.get(server_name) or batch.escaped_text(server_name)},{after}"status":{status},'
        f'"upstream_addr":"{"-" if target_ip is None else f"{target_ip}:{target_port}"}","upstream_status":"{upstream_status or "-"}",'
        f'"request":"{_METHODS.get(method) or _method_text(method)} {uri} HTTP/{version}",'
        f'"uri":{path},"server_protocol":"HTTP/{version}",'
        f'"http_host":{texts.get(host) or batch.escaped(host)},"http_user_agent":{texts.get(agent) or batch.escaped(agent)},'
        f'"http_referer":{texts.get(referer) or batch.escaped(referer)},'
        f'"request_length":{request_length},"bytes_sent":{bytes_sent},"request_time":{seconds},'
        f'"upstream_response_time":{seconds if upstream_status else _DASH},"connection_requests":{requests}{tls}}}\n')


def _connection_parts(connection: tuple) -> tuple[str, str, str]:
    """The parts of a request line its connection fixes: before ``server_name``, after it, and TLS."""
    https, vip, port, client_ip, client_port, tls = connection
    return ('"protocol_type":"%s","server_addr":"%s","server_port":%d,' % ("HTTPS" if https else "HTTP", vip, port),
            '"remote_addr":"%s","remote_port":%d,' % (client_ip, client_port), tls_json(tls))


def _target_texts(batch, target: bytes) -> tuple[str, str]:
    """The request target as it goes inside the ``request`` string, and its path as a JSON string."""
    text = json_text(target.decode("latin-1"))
    query = text.find("?")
    texts = batch.targets[target] = text[1:-1], text if query < 0 else text[:query] + '"'
    return texts


def _method_text(method: bytes) -> str:
    return json_text(method.decode("latin-1"))[1:-1]


_DASH = '"-"'
_METHODS = {method: method.decode() for method in (
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE")}

LINE_FORMATS["request"] = _request_line
