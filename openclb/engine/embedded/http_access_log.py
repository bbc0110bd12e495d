"""The access-log record of one HTTP/HTTPS request (see ``access_log`` for where records go).

An ``HttpSession`` whose listener is logged calls ``request_started`` when a request head is
taken and ``request_finished`` when its response is complete (from a target, or answered by
the load balancer itself). Nothing here runs for a listener that is not logged. Byte counts
are the client connection's, from the end of the previous request's record to the end of
this one, so the records of one connection add up to what it carried.
"""

from __future__ import annotations

import time

from openclb.engine.embedded.access_log import tls_fields
from openclb.engine.embedded.http_headers import RequestHead

_WANTED = {b"host": "http_host", b"user-agent": "http_user_agent", b"referer": "http_referer"}


def request_started(session, request: RequestHead) -> dict:
    """The record of a request as far as its head tells it; ``request_finished`` completes it."""
    listener = session.listener
    transport = session.transport
    peer = transport.get_extra_info("peername")
    version = session.parser.get_http_version()
    target = request.target.decode("latin-1")
    entry = {
        "time_local": 0.0,
        "protocol_type": "HTTPS" if listener.tls is not None else "HTTP",
        "server_addr": listener.vip,
        "server_port": session.listen_port,
        "server_name": "",
        "remote_addr": session.client_ip,
        "remote_port": peer[1] if peer else 0,
        "status": 0,
        "upstream_addr": "-",
        "upstream_status": "-",
        "request": f"{request.method.decode('latin-1')} {target} HTTP/{version}",
        "uri": target.split("?", 1)[0],
        "server_protocol": f"HTTP/{version}",
        "http_host": "", "http_user_agent": "", "http_referer": "",
        "request_length": 0, "bytes_sent": 0, "request_time": 0.0, "upstream_response_time": "-",
        "connection_requests": 0,
        "_started": time.monotonic(),
        **tls_fields(transport.get_extra_info("ssl_object")),
    }
    for name, value in request.headers:
        field = _WANTED.get(name)
        if field is not None:
            entry[field] = value.decode("latin-1")
    return entry


def request_finished(session, status: int, upstream_status: int = 0, sent: int = 0) -> None:
    """Complete the session's current record and hand it to the log; ``sent``: bytes the
    session wrote itself (a local response), which its counters do not see."""
    entry, session.log_entry = session.log_entry, None
    log = session.listener.access_log
    if log is None:
        return
    took = round(time.monotonic() - entry.pop("_started"), 3)
    marks = session.log_marks
    bytes_out = session.bytes_out + sent
    target = session.target
    rule = session.rule
    entry["time_local"] = time.time()
    entry["status"] = status
    entry["request_time"] = took
    entry["request_length"] = session.bytes_in - marks[0]
    entry["bytes_sent"] = bytes_out - marks[1]
    entry["connection_requests"] = marks[2] + 1
    session.log_marks = (session.bytes_in, bytes_out, marks[2] + 1)
    if rule is not None:
        entry["server_name"] = rule.spec.domains[0]
    if target is not None:
        entry["upstream_addr"] = f"{target.ip}:{target.port}"
    if upstream_status:
        entry["upstream_status"] = str(upstream_status)
        entry["upstream_response_time"] = took
    log.record(entry)
