"""The access-log writer: JSON lines from records, size rotation (no sockets, no event loop)."""

from __future__ import annotations

import json

from openclb.engine.embedded.access_log import connection_record, rotate, write_batch
import openclb.engine.embedded.http_access_log  # noqa: F401  (registers the request line format)


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
    write_batch(path, [], 1 << 20, 3, requests=list(request))
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


def test_write_batch_kept_templates_lines_carry_each_requests_own_fields(tmp_path):
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
    write_batch(path, [layer4], 1 << 20, 3, {}, requests)
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert lines[0]["protocol_type"] == "TCP" and len(lines) == 601
    assert [(line["uri"], line["bytes_sent"]) for line in lines[1:]] == [(f"/n/{n}", n) for n in range(1, 601)]
    assert {line["request_time"] for line in lines[1:]} == {0.5}
