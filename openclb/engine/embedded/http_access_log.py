"""The access-log record of one HTTP/HTTPS request (see ``access_log`` for where records go).

An ``HttpSession`` whose listener is logged calls ``request_started`` when a request head is
taken and ``request_finished`` when its response is complete (from a target, or answered by
the load balancer itself). Nothing here runs for a listener that is not logged, and what runs
for one that is only gathers references and numbers: the request line and headers stay bytes
until the writer thread turns the record into its JSON line (``_request_line``). Byte counts
are the client connection's, from the end of the previous request's record to the end of
this one, so the records of one connection add up to what it carried.
"""

from __future__ import annotations

import time

from openclb.engine.embedded.access_log import json_text, tls_fields, tls_json
from openclb.engine.embedded.http_headers import RequestHead

_monotonic = time.monotonic


def request_started(session, request: RequestHead) -> list:
    """What the head tells of a request: [start, method, target, version, headers]."""
    return [_monotonic(), request.method, request.target, session.parser.get_http_version(), request.headers]


def request_finished(session, status: int, upstream_status: int = 0, sent: int = 0) -> None:
    """Hand the session's current request to the log; ``sent``: bytes the session wrote itself
    (a local response), which its counters do not see."""
    started, method, target_bytes, version, headers = session.log_entry
    session.log_entry = None
    log = session.listener.access_log
    if log is None:
        return
    listener = session.listener
    transport = session.transport
    marks = session.log_marks
    bytes_out = session.bytes_out + sent
    session.log_marks = (session.bytes_in, bytes_out, marks[2] + 1)
    target = session.target if upstream_status or status >= 500 else None
    rule = session.rule if target is not None else None
    log.record((
        _request_line, time.time(), listener.tls is not None, listener.vip, session.listen_port,
        rule.spec.domains[0] if rule is not None else "", session.client_ip, transport.get_extra_info("peername"),
        status, f"{target.ip}:{target.port}" if target is not None else "-", upstream_status, method, target_bytes,
        version, headers, session.bytes_in - marks[0], bytes_out - marks[1], _monotonic() - started, marks[2] + 1,
        tls_fields(transport.get_extra_info("ssl_object")) if listener.tls is not None else None,
    ))


def _request_line(r: tuple, time_local: str) -> str:
    """The JSON line of a request record, in the field names of the CLB's CLS access log."""
    (_, _, tls, vip, port, server_name, client_ip, peer, status, upstream_addr, upstream_status, method,
     target_bytes, version, headers, request_length, bytes_sent, took, requests, tls_info) = r
    wanted = {b"host": "", b"user-agent": "", b"referer": ""}
    for name, value in headers:
        if name in wanted:
            wanted[name] = value.decode("latin-1")
    target = target_bytes.decode("latin-1")
    request = f"{method.decode('latin-1')} {target} HTTP/{version}"
    return (
        '{"time_local":"%s","protocol_type":"%s","server_addr":"%s","server_port":%d,"server_name":%s,'
        '"remote_addr":"%s","remote_port":%d,"status":%d,"upstream_addr":"%s","upstream_status":"%s",'
        '"request":%s,"uri":%s,"server_protocol":"HTTP/%s","http_host":%s,"http_user_agent":%s,"http_referer":%s,'
        '"request_length":%d,"bytes_sent":%d,"request_time":%.3f,"upstream_response_time":%s,'
        '"connection_requests":%d%s}\n'
        % (time_local, "HTTPS" if tls else "HTTP", vip, port, json_text(server_name), client_ip, peer[1] if peer else 0,
           status, upstream_addr, upstream_status or "-", json_text(request), json_text(target.split("?", 1)[0]), version,
           json_text(wanted[b"host"]), json_text(wanted[b"user-agent"]), json_text(wanted[b"referer"]), request_length,
           bytes_sent, took, f"{took:.3f}" if upstream_status else '"-"', requests, tls_json(tls_info)))
