"""HAProxy's HTTP request lines from the ring: completed alike by the C extension and the Python fallback.

The extension is optional at install but not here: ``make test`` provisions gcc and builds it, so a
missing build fails these tests' import instead of skipping them.
"""

import asyncio
import json

import pytest

from openclb.engine.haproxy import log_lines
from openclb.engine.haproxy.log_lines import complete_frames_py, complete_line

from openclb.engine.haproxy._log_lines import complete_frames as complete_frames_c

HEAD = ('{"time_local":"30/Nov/2026:02:00:00 +0000","protocol_type":"HTTP","server_addr":"10.0.0.1",'
        '"server_port":80,"server_name":"a.test","remote_addr":"127.0.0.1","remote_port":5000,"status":200,'
        '"upstream_addr":"%s","upstream_status":"200","request":"GET %s HTTP/1.1","uri":"%s",'
        '"server_protocol":"HTTP/1.1","http_host":"a.test","http_user_agent":"%s","http_referer":"-",'
        '"request_length":%s,"bytes_sent":41,"request_time":')


def line(listener="lbl-1", ms="12", upstream="200", requests="3", via="-", target="10.0.0.2:8080",
         uri="/", agent="curl", length="77") -> bytes:
    return f"H {listener} {ms} {upstream} {requests} {via} {HEAD % (target, uri, uri, agent, length)}".encode()


def frames(*messages: bytes) -> bytes:
    return b"".join(b"%d %s" % (len(m), m) for m in messages)


TRICKY = [
    line(),
    line(listener="lbl-2", ms="0", upstream="-", requests="-", target="-:-", length="-"),
    line(ms="1234567", uri='/a\\"b\\\\c\\u00e9', agent='x\\"upstream_addr\\":\\"-:-\\"'),
    line(ms="-1"),
    line(via="1"),
    line(ms="12x"),
    line(ms="1234567890123456"),
    line(listener="lbl-\u00e9"),
    line(requests=""),
    line(agent="\u00e9t\u00e9"),
    b"H lbl-1 5 200 1 - not a line",
    b"H lbl-1 5",
    b"Proxy lbl-1 stopped (cumulated conns: FE: 2, BE: 0).",
    b"",
    line() + b"\n\n",
    line(listener="lbl-3"),
    line(target="-:-", agent='"upstream_addr":"-:-" "request_length":-,', length="-"),
    line(uri='"request_length":-,', length="5"),
    b'H lbl-1 1 - - - "upstream_addr":"-:-"request_length":-,"request_time":',
    b'H lbl-1 1 - - - "request_length":-,"upstream_addr":"-:-""request_time":',
    b'H lbl-1 1 - - - "request_length":-,"request_length":5,"request_time":',
    b'H lbl-1 1 - - - "request_length":5,"request_length":-,"request_time":',
    b'H lbl-1 1 - - - "upstream_addr":"-:-""request_length":-"request_time":',
    line(listener="lbl-2", uri="/two"),
]


def test_complete_line_request_line_fields_completed():
    listener, text = complete_line(line(ms="1500", upstream="-", requests="-", target="-:-", length="-"))
    record = json.loads(text)
    assert listener == "lbl-1" and text.endswith("}\n")
    assert record["request_time"] == 1.5 and record["upstream_response_time"] == "-"
    assert record["connection_requests"] == 1 and record["upstream_addr"] == "-" and record["request_length"] == 0
    assert '"request_time":1.500,' in text


def test_complete_frames_py_chunk_groups_lines_per_listener():
    groups, others, used = complete_frames_py(frames(*TRICKY))
    assert used == len(frames(*TRICKY))
    assert set(groups) == {"lbl-1", "lbl-2", "lbl-3"}
    assert groups["lbl-2"].count("\n") == 2 and '"upstream_addr":"-"' in groups["lbl-2"]
    for one in (groups["lbl-2"] + groups["lbl-3"]).splitlines():
        json.loads(one)
    assert b"H lbl-1 5" in others and b"" in others and line(ms="12x") in others
    assert line(via="1") not in others and line(listener="lbl-\u00e9") in others


def test_complete_frames_py_partial_frame_waits_for_next_chunk():
    second = frames(line(listener="lbl-2"))
    stream = frames(line()) + second
    for cut in (1, 2, 3, len(second) - 2, len(second) - 1, len(second)):
        groups, _, used = complete_frames_py(stream[:-cut])
        assert used == len(frames(line())) and list(groups) == ["lbl-1"]


def test_complete_frames_py_garbage_length_raises():
    with pytest.raises(ValueError):
        complete_frames_py(b"12a4 hello")
    with pytest.raises(ValueError):
        complete_frames_py(b"123456789 x")
    with pytest.raises(ValueError):
        complete_frames_py(b"9999999 x")


@pytest.mark.parametrize("cut", [0, 1, 5, 40, 300])
def test_complete_frames_c_tricky_chunks_same_as_python(cut):
    stream = frames(*TRICKY)
    chunk = stream[:len(stream) - cut]
    assert complete_frames_c(chunk) == complete_frames_py(chunk)
    assert complete_frames_c(bytearray(chunk)) == complete_frames_py(chunk)
    assert complete_frames_c(memoryview(bytearray(chunk))[:len(chunk)]) == complete_frames_py(chunk)


@pytest.mark.parametrize("chunk", [b"", b"1", b"12", b"12a4 hello", b"123456789 x", b"9999999 x", b" x", b"0 ",
                                   b"3 H a", b"2 H 1 x"])
def test_complete_frames_c_odd_streams_same_as_python(chunk):
    try:
        expected = complete_frames_py(chunk)
    except ValueError:
        with pytest.raises(ValueError):
            complete_frames_c(chunk)
        return
    assert complete_frames_c(chunk) == expected


def test_complete_frames_built_extension_is_the_one_used():
    assert log_lines.complete_frames is complete_frames_c


class _Log:
    def __init__(self) -> None:
        self.records: list[tuple] = []

    def record(self, entry: tuple) -> None:
        self.records.append(entry)


@pytest.mark.parametrize("compiled", [True, False])
def test_ring_connection_frames_split_across_reads_written_once_each(compiled, monkeypatch):
    """The receiver's TCP side as HAProxy's ring forwarder uses it: frames cut anywhere, a
    reconnection (a new worker), and what waits unread when the receiver closes."""
    from openclb.engine.haproxy import access_log
    monkeypatch.setattr(log_lines, "complete_frames", complete_frames_c if compiled else complete_frames_py)

    logs = {"lbl-1": _Log(), "lbl-2": _Log()}

    async def scenario() -> None:
        receiver = access_log.HaproxyLogReceiver(lambda name: (logs[name], "HTTP") if name in logs else None)
        await receiver.start()
        host, port = receiver.ring_address.split(":")
        stream = frames(*[line(listener=f"lbl-{1 + n % 2}", uri=f"/{n}") for n in range(40)], line(via="1"),
                        line(listener="unknown"))
        _, writer = await asyncio.open_connection(host, int(port))
        for at in range(0, len(stream), 997):
            writer.write(stream[at:at + 997])
            await writer.drain()
            await asyncio.sleep(0.005)
        writer.close()
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(frames(line(uri="/again")))
        await writer.drain()
        await asyncio.sleep(0.005)
        writer.write(frames(line(uri="/last")))
        await writer.drain()
        await asyncio.sleep(0.002)
        receiver.close()
        writer.close()

    asyncio.run(scenario())
    uris = {name: [json.loads(one)["uri"] for entry in log.records for one in entry[1].splitlines()]
            for name, log in logs.items()}
    assert uris["lbl-1"] == [f"/{n}" for n in range(0, 40, 2)] + ["/again", "/last"]
    assert uris["lbl-2"] == [f"/{n}" for n in range(1, 40, 2)]
    assert all(kind == "line" for log in logs.values() for kind, _ in log.records)
