"""Access logs (CLS): one JSON line per connection (L4) or request (L7), written off the loop.

A CLB bound to a log set and topic (``ListenerSpec.access_log``) has its records appended to
``<directory>/<logset_id>/<topic_id>.log``. The fields are those of the CLB's CLS access-log
format (docs 214/35063: ``time_local``, ``protocol_type``, ``server_addr``/``server_port``,
``remote_addr``/``remote_port``, ``status``, ``upstream_addr``, ``request``, ``request_length``,
``bytes_sent``, ``request_time``, ``upstream_response_time``, ``ssl_protocol``, ...); a layer-4
record carries those a connection has.

The relay's cost is a tuple and a list append (``AccessLog.record``): no formatting, no I/O, no
lock. A record is ``(kind, ...)``: the writer thread formats a batch's records of one kind
together (``LINE_FORMATS[kind](records, context)``, ``BatchContext``: the batch's clock and what
the writer keeps between batches), so field names, decoding and escaping cost the loop nothing.
HTTP requests, the most numerous, are kept by a recorder (``AccessLog.requests``,
``http_access_log``): compiled code that keeps C records and writes their lines without the GIL
(``_access_lines``), or, where it was not built, ``REQUEST_FIELDS`` values a request laid end to
end in one flat list. Either way the loop keeps no Python record object per request. A batch's
request lines follow its layer-4 ones.
A timer on the loop hands each log's batch to the book's one writer thread every
``FLUSH_SECONDS``, short so that the records waiting stay few (what a busy loop allocates
meanwhile then reuses memory still in the CPU's cache, and so does the writer); the thread formats the lines and appends them to the file, which it opens per
batch (no descriptor is held in between) and rotates by size (``<topic>.log`` → ``.1`` … →
``.<backups>``). A log holding ``MAX_PENDING`` unwritten records drops new ones and counts them
(``dropped``): as on the real CLB, forwarding has priority over logging, and the relay never
waits for the disk.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from json.encoder import encode_basestring as json_text
from operator import itemgetter
from pathlib import Path

from openclb.engine.spec import AccessLogSpec

log = logging.getLogger("openclb.engine.access_log")

FLUSH_SECONDS = 0.05
CHUNK_RECORDS = 256
MAX_PENDING = 100_000
REQUEST_FIELDS = 15
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_BACKUPS = 5


class AccessLog:
    """The records of one log topic waiting for the writer thread: ``pending`` (record tuples)
    and ``requests`` (HTTP requests: a recorder, ``REQUEST_LOG["recorder"]``)."""

    __slots__ = ("book", "path", "pending", "requests", "armed", "dropped")

    def __init__(self, book: AccessLogBook, path: Path) -> None:
        self.book = book
        self.path = path
        self.pending: list[tuple] = []
        self.requests = REQUEST_LOG["recorder"](self.arm, MAX_PENDING)
        self.armed = False
        self.dropped = 0

    def record(self, entry: tuple) -> None:
        pending = self.pending
        if len(pending) >= MAX_PENDING:
            self.dropped += 1
            return
        pending.append(entry)
        self.arm()

    def arm(self) -> None:
        if not self.armed:
            self.armed = True
            self.book.loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        self.armed = False
        batch, self.pending = self.pending, []
        requests = self.requests.take()
        if batch or requests is not None:
            self.book.submit(self.path, batch, requests)


class AccessLogBook:
    """Every access log of an engine, by log set and topic, and the one thread that writes them.

    ``directory`` None: nothing is logged (an engine built without a data dir, as in unit tests).
    """

    def __init__(self, directory: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.backups = backups
        self.loop: asyncio.AbstractEventLoop | None = None
        self._logs: dict[tuple[str, str], AccessLog] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._memo: dict = {}

    def log_for(self, spec: AccessLogSpec | None) -> AccessLog | None:
        """The log a listener serving ``spec`` records into (called on the loop); None: none."""
        if spec is None or self.directory is None:
            return None
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        key = (spec.logset_id, spec.topic_id)
        found = self._logs.get(key)
        if found is None:
            found = self._logs[key] = AccessLog(self, self.directory / spec.logset_id / f"{spec.topic_id}.log")
        return found

    def submit(self, path: Path, batch: list[tuple], requests) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="access-log")
        self._executor.submit(write_batch, path, batch, self.max_bytes, self.backups, self._memo, requests)

    async def close(self) -> None:
        """Write what is pending and wait for the writer thread to finish."""
        for access_log in self._logs.values():
            access_log.flush()
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)


def write_batch(path: Path, batch: list[tuple], max_bytes: int, backups: int, memo: dict | None = None,
                requests=None) -> None:
    """Append ``batch`` and then ``requests`` (what ``AccessLog.requests`` gave) as JSON lines to ``path``,
    rotating first if it would pass ``max_bytes``.

    Records are formatted ``CHUNK_RECORDS`` at a time: a formatter passes over a chunk's columns
    several times, and a chunk's stay in the CPU's cache where a whole batch's would not (a
    batch of 3,000 requests formatted at once cost twice as much a line; the compiled request
    formatter takes as many a time as well). ``memo``: what the writer keeps from one batch to the next (``BatchContext.memo``); it is
    only ever touched by the one thread that writes a book's batches.
    """
    try:
        context = BatchContext({} if memo is None else memo)
        formats = LINE_FORMATS
        chunks = []
        for kind, records in groupby(batch, _KIND):
            records = list(records)
            chunks += [formats[kind](records[at:at + CHUNK_RECORDS], context).encode()
                       for at in range(0, len(records), CHUNK_RECORDS)]
        if requests:
            chunks.append(REQUEST_LOG["lines"](requests, context))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + sum(map(len, chunks)) > max_bytes:
            rotate(path, backups)
        with open(path, "ab") as file:
            file.writelines(chunks)
    except Exception:
        log.exception("access log %s: a batch of %d records and %d requests was not written", path, len(batch),
                      len(requests or ()))


def rotate(path: Path, backups: int) -> None:
    """``path`` → ``path.1`` → … → ``path.<backups>`` (the oldest is dropped)."""
    for n in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
    if backups > 0:
        os.replace(path, path.with_name(f"{path.name}.1"))
    else:
        path.unlink()


class BatchContext:
    """What the lines of one batch share: the clock, and what the writer keeps between batches.

    nginx's ``$time_local`` (``29/Nov/2026:21:10:00 +0000``) is formatted once per second. A
    record may carry its time as the monotonic clock (the relay then skips reading the wall
    clock), placed on the wall clock as it stands when the batch is written (``offset``).
    ``memo``: formatted parts of lines by the values they were made from (a request line's
    template by its fixed fields, ``http_access_log``), kept from batch to batch by the one
    writer thread of a book, so a keep-alive client's lines are mostly copied, not formatted.
    """

    __slots__ = ("second", "stamp_text", "offset", "memo")

    def __init__(self, memo: dict | None = None) -> None:
        self.second = -1
        self.stamp_text = ""
        self.offset = time.time() - time.monotonic()
        self.memo = {} if memo is None else memo

    def time_local(self, stamp: float) -> str:
        second = int(stamp)
        if second != self.second:
            self.second = second
            self.stamp_text = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second))
        return self.stamp_text


def tls_fields(ssl_object) -> tuple[str, str, str] | None:
    """(``ssl_protocol``, ``ssl_cipher``, SNI name) of an established TLS connection; None: plain."""
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    return ssl_object.version() or "", cipher[0] if cipher else "", getattr(ssl_object, "sni_name", "")


def tls_json(tls: tuple[str, str, str] | None) -> str:
    if tls is None:
        return ""
    return ',"ssl_protocol":%s,"ssl_cipher":%s,"ssl_server_name":%s' % (
        json_text(tls[0]), json_text(tls[1]), json_text(tls[2]))


def connection_start(connection) -> tuple:
    """What a layer-4 record needs from a connection's start: (time, client port, listen port, TLS)."""
    transport = getattr(connection, "transport", None)
    if transport is not None:  # a TCP relay
        peer = transport.get_extra_info("peername")
        return time.monotonic(), peer[1] if peer else 0, connection.listen_port, tls_fields(
            transport.get_extra_info("ssl_object"))
    return time.monotonic(), connection.client_addr[1], connection.endpoint.port, None  # a UDP flow


def connection_entry(listener, connection, start: tuple) -> tuple:
    """The record of one ended layer-4 connection (TCP, TCP_SSL) or UDP/QUIC flow."""
    started, client_port, listen_port, tls = start
    target = connection.target
    return ("connection", time.time(), listener.spec.protocol, listener.vip, listen_port, connection.client_ip,
            client_port, target.ip, listener.target_port(target, listen_port), connection.bytes_in,
            connection.bytes_out, time.monotonic() - started, tls)


def connection_record(at: float, protocol: str, vip: str, port: int, client_ip: str, client_port: int,
                      target_ip: str, target_port: int, bytes_in: int, bytes_out: int, seconds: float,
                      tls: tuple[str, str, str] | None) -> tuple:
    """A layer-4 record from another engine's account of a connection (HAProxy's log line)."""
    return ("connection", at, protocol, vip, port, client_ip, client_port, target_ip, target_port, bytes_in,
            bytes_out, seconds, tls)


def _connection_lines(records: list[tuple], batch: BatchContext) -> str:
    return "".join([_connection_line(record, batch) for record in records])


def _connection_line(r: tuple, batch: BatchContext) -> str:
    return (
        '{"time_local":"%s","protocol_type":"%s","server_addr":"%s","server_port":%d,"remote_addr":"%s",'
        '"remote_port":%d,"upstream_addr":"%s:%d","request_length":%d,"bytes_sent":%d,"request_time":%.3f%s}\n'
        % (batch.time_local(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], tls_json(r[12])))


def _finished_lines(records: list[tuple], batch: BatchContext) -> str:
    """Lines another engine formatted whole (HAProxy's HTTP requests): ``("line", text)``."""
    return "".join([record[1] for record in records])


_KIND = itemgetter(0)
LINE_FORMATS: dict[str, Callable[[list[tuple], BatchContext], str]] = {
    "connection": _connection_lines, "line": _finished_lines}
# How HTTP requests are kept and written (``http_access_log`` sets both, compiled or Python):
# "recorder" (arm, limit) → the recorder of one log; "lines" (what its take() gave, context) → bytes.
REQUEST_LOG: dict[str, Callable] = {}
