"""The recorders of logged HTTP requests: the compiled one and the Python one keep the same requests
from the same sessions and update the sessions alike (no sockets, no event loop). ``make test``
provisions gcc and builds the extension: a missing build fails the import here, never skips."""

from __future__ import annotations

import json
from types import SimpleNamespace

from openclb.engine.embedded import _access_lines as compiled, http_access_log
from openclb.engine.embedded.access_log import BatchContext
from openclb.engine.embedded.http_headers import RequestHead


class _Parser:
    def get_http_version(self) -> str:
        return "1.0"


def _session(keep_alive: bool, target: bool) -> SimpleNamespace:
    rule = SimpleNamespace(spec=SimpleNamespace(domains=["a.test", "b.test"]))
    return SimpleNamespace(
        log_connection=None, log_started=0.0, log_version="1.1", log_head=None, log_bytes_in=0, log_bytes_out=0,
        log_requests=0, bytes_in=0, bytes_out=0, parser=_Parser(), rule=rule,
        target=SimpleNamespace(ip="127.0.0.7", port=8080) if target else None,
        connection_fields=(False, "127.1.0.1", 80, "127.0.0.2", 4000, None), keep_alive=keep_alive)


def _exchange(started, finished, session: SimpleNamespace, n: int) -> None:
    head = RequestHead(b"GET", b"/item/%d?x=\"1\"" % n,
                       [(b"host", b"a.test"), (b"user-agent", b"ua\xe9"), (b"x-other", b"1")], session.keep_alive, False)
    session.log_connection = session.connection_fields
    started(session, head)
    session.bytes_in += 100 + n
    session.bytes_out += 200
    finished(session, 200 if session.target else 404, 200 if session.target else 0, 0 if session.target else 57)


def _recorded(recorder_type, started, lines) -> tuple[bytes, list]:
    recorder = recorder_type(lambda: None, 100)
    finished = recorder.record
    sessions = [_session(keep_alive=n % 2 == 0, target=n % 3 != 0) for n in range(6)]
    for n, session in enumerate(sessions * 2):
        _exchange(started, finished, session, n)
    state = [(s.log_bytes_in, s.log_bytes_out, s.log_requests, s.log_head, s.log_version) for s in sessions]
    taken = recorder.take()
    for item in range(0, len(taken), 15) if isinstance(taken, list) else ():
        taken[item] = taken[item + 1] + 0.25  # the same request time for both recorders
    return lines(taken), state


def test_record_compiled_and_python_recorders_keep_the_same_requests():
    batch = BatchContext()
    python_lines, python_state = _recorded(http_access_log.PythonRequests, http_access_log.python_request_started,
                                           lambda values: http_access_log.python_request_lines(values, batch))
    compiled_lines, compiled_state = _recorded(compiled.RequestRecorder, compiled.request_started,
                                               lambda taken: compiled.request_lines(taken, batch.offset))
    assert compiled_state == python_state
    strip = [{k: v for k, v in json.loads(line).items() if k not in ("request_time", "upstream_response_time",
                                                                        "time_local")}
             for line in python_lines.splitlines()]
    assert strip == [{k: v for k, v in json.loads(line).items() if k not in ("request_time", "upstream_response_time",
                                                                             "time_local")}
                     for line in compiled_lines.splitlines()]
    assert len(strip) == 12 and {line["server_protocol"] for line in strip} == {"HTTP/1.1", "HTTP/1.0"}


def test_record_past_the_limit_counts_dropped_and_arms_once():
    armed = []
    recorders = [http_access_log.PythonRequests(lambda: armed.append(1), 2),
                 compiled.RequestRecorder(lambda: armed.append(1), 2)]
    for recorder in recorders:
        armed.clear()
        session = _session(keep_alive=True, target=True)
        for n in range(5):
            _exchange(http_access_log.python_request_started, recorder.record, session, n)
        assert (len(recorder), recorder.dropped, len(armed), session.log_requests) == (2, 3, 1, 5)
        assert recorder.take() is not None and recorder.take() is None
