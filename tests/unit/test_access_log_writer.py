"""The access-log writer: JSON lines from records, size rotation (no sockets, no event loop).

The compiled formatter is imported directly: ``make test`` provisions gcc and builds it, so a
missing build fails here instead of skipping the comparison with the Python one."""

from __future__ import annotations

import json
import random

import pytest

from openclb.engine.embedded import _access_lines as compiled, http_access_log
from openclb.engine.embedded.access_log import REQUEST_LOG, BatchContext, connection_record, rotate, write_batch


def _taken(values: list):
    """``values`` (REQUEST_FIELDS a request) as the running recorder hands them to the writer."""
    recorder = REQUEST_LOG["recorder"](lambda: None, 1_000_000)
    for at in range(0, len(values), 15):
        recorder.append(tuple(values[at:at + 15]))
    return recorder.take()


def test_write_batch_connection_record_is_one_json_line_with_clb_fields(tmp_path):
    path = tmp_path / "logset" / "topic.log"
    record = connection_record(1_800_000_000.5, "TCP_SSL", "127.1.0.1", 443, "127.0.0.9", 50001, "127.0.0.1", 8443,
                               120, 4096, 0.25, ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "www.example.test"))
    write_batch(path, [record], 1 << 20, 3)
    (line,) = [json.loads(text) for text in path.read_text().splitlines()]
    assert line["protocol_type"] == "TCP_SSL" and line["server_addr"] == "127.1.0.1" and line["server_port"] == 443
    assert (line["remote_addr"], line["remote_port"], line["upstream_addr"]) == ("127.0.0.9", 50001, "127.0.0.1:8443")
    assert (line["request_length"], line["bytes_sent"], line["request_time"]) == (120, 4096, 0.25)
    assert (line["ssl_protocol"], line["ssl_server_name"]) == ("TLSv1.3", "www.example.test")


def test_write_batch_request_record_escapes_what_the_client_sent(tmp_path):
    path = tmp_path / "t.log"
    headers = [(b"host", b"a.test"), (b"user-agent", b'quote" back\\slash')]
    connection = (True, "127.1.0.1", 443, "127.0.0.2", 4000, None)
    request = (10.01, 10.0, b"GET", b'/p?q="x"', "1.1", tuple(headers), connection, "a.test", "127.0.0.1", 80, 200, 200,
               80, 300, 2)
    write_batch(path, [], 1 << 20, 3, requests=_taken(list(request)))
    line = json.loads(path.read_text())
    assert line["http_user_agent"] == 'quote" back\\slash' and line["request"] == 'GET /p?q="x" HTTP/1.1'
    assert (line["protocol_type"], line["uri"], line["connection_requests"]) == ("HTTPS", "/p", 2)


def test_write_batch_past_max_bytes_rotates_keeping_backups(tmp_path):
    path = tmp_path / "t.log"
    record = connection_record(1_800_000_000.0, "TCP", "v", 1, "c", 2, "t", 3, 4, 5, 0.0, None)
    for _ in range(5):
        write_batch(path, [record] * 10, 1500, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.log", "t.log.1", "t.log.2"]
    assert all(len(p.read_text().splitlines()) == 10 for p in tmp_path.iterdir())


def test_rotate_without_backups_drops_the_file(tmp_path):
    path = tmp_path / "t.log"
    path.write_text("x\n")
    rotate(path, 0)
    assert not path.exists()


def test_write_batch_kept_templates_lines_carry_each_requests_own_fields(tmp_path, monkeypatch):
    monkeypatch.setitem(REQUEST_LOG, "lines", http_access_log.python_request_lines)
    path = tmp_path / "t.log"
    connection = (False, "127.1.0.1", 80, "127.0.0.2", 4000, None)
    def request(agent: bytes, ended: float, sent: int, count: int) -> tuple:
        return (ended, ended - 0.25, b"GET", b"/a", "1.1", ((b"host", b"a.test"), (b"user-agent", agent)),
                connection, "a.test", "127.0.0.1", 80, 200, 200, 80, sent, count)
    memo: dict = {}
    write_batch(path, [], 1 << 20, 3, memo, [*request(b"one", 10.0, 300, 1)])
    write_batch(path, [], 1 << 20, 3, memo, [*request(b"one", 11.0, 301, 2), *request(b'tw"o', 12.0, 302, 3)])
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert [(line["bytes_sent"], line["connection_requests"], line["http_user_agent"]) for line in lines] == [
        (300, 1, "one"), (301, 2, "one"), (302, 3, 'tw"o')]
    assert {line["request_time"] for line in lines} == {0.25} and len(memo) == 2


def test_write_batch_connection_records_and_many_requests_all_become_lines_in_chunks(tmp_path):
    path = tmp_path / "t.log"
    connection = (False, "127.1.0.1", 80, "127.0.0.2", 4000, None)
    requests = [value for count in range(1, 601) for value in (
        10.5, 10.0, b"GET", b"/n/%d" % count, "1.1", ((b"host", b"a.test"),), connection, "a.test", "127.0.0.1", 80,
        200, 200, 80, count, count)]
    layer4 = connection_record(1_800_000_000.0, "TCP", "127.1.0.1", 81, "127.0.0.3", 5, "127.0.0.1", 9, 4, 5, 0.0, None)
    write_batch(path, [layer4], 1 << 20, 3, {}, _taken(requests))
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert lines[0]["protocol_type"] == "TCP" and len(lines) == 601
    assert [(line["uri"], line["bytes_sent"]) for line in lines[1:]] == [(f"/n/{n}", n) for n in range(1, 601)]
    assert {line["request_time"] for line in lines[1:]} == {0.5}


def _tricky_requests(count: int) -> list:
    """Requests whose client text holds every byte JSON escapes, non-ASCII and '?', with and without
    TLS, target, upstream status, repeated headers, and request times on and near rounding ties."""
    chooser = random.Random(16)
    alphabet = [0, 8, 9, 10, 12, 13, 31, 34, 39, 63, 92, 127, 128, 200, 255] + list(range(32, 127)) * 3

    def sent(most: int) -> bytes:
        return bytes(chooser.choice(alphabet) for _ in range(chooser.randint(0, most)))

    values: list = []
    for n in range(count):
        started = 5000.0 + n * 0.37
        taken = chooser.choice([0.0, 0.0005, 0.0015, 0.0625, 1.2345, 1e-9, 12.0005, chooser.random() * 3])
        headers = tuple(chooser.sample([(b"host", sent(20)), (b"user-agent", sent(8)), (b"referer", sent(8)),
                                        (b"accept", b"*/*"), (b"host", b"second.test")], chooser.randint(0, 5)))
        tls = chooser.choice([None, ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "a.test"), ("TLSv1.2", 'x"y', "\u00e9\n")])
        connection = (chooser.random() < 0.5, "127.1.0.1", 443, "127.0.0.2", chooser.randint(0, 65535), tls)
        target_ip = chooser.choice([None, "127.0.0.5"])
        values += (started + taken, started, chooser.choice([b"GET", b"POST", sent(4), b"M\xe9"]), sent(40),
                   chooser.choice(["1.1", "1.0", "2.0", "3.0"]), headers, connection,
                   chooser.choice(["", "a.test", 'd\u00e9"x']), target_ip, 8080 if target_ip else 0,
                   chooser.choice([200, 404, 502]), chooser.choice([0, 200, 503]), chooser.randint(0, 10 ** 12),
                   chooser.randint(0, 99_999), chooser.randint(1, 9))
    return values


def test_request_lines_compiled_and_python_write_the_same_bytes():
    values = _tricky_requests(700)
    recorder = compiled.RequestRecorder(lambda: None, 10_000)
    for at in range(0, len(values), 15):
        recorder.append(tuple(values[at:at + 15]))
    batch = BatchContext()
    written = compiled.request_lines(recorder.take(), batch.offset)
    assert written == http_access_log.python_request_lines(values, batch)
    assert len(written.splitlines()) == 700 and all(json.loads(line) for line in written.splitlines())


def test_request_lines_compiled_value_of_wrong_type_raises_type_error():
    values = _tricky_requests(3)
    recorder = compiled.RequestRecorder(lambda: None, 10)
    recorder.append(tuple(values[:15]))
    with pytest.raises(TypeError):
        recorder.append(tuple(values[15:18]) + ("/not-bytes",) + tuple(values[19:30]))
    assert len(recorder) == 1
    recorder.append(tuple(values[15:23]) + (80,) + tuple(values[24:30]))  # a target address that is no str
    with pytest.raises(TypeError):
        compiled.request_lines(recorder.take(), 0.0)
