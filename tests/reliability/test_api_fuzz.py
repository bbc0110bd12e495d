"""10,000 hostile requests against a running server: every answer is the envelope, nothing logs a traceback.

The requests come from a seeded generator (``fuzz_requests.py``): broken framing, random
methods, paths, headers and bodies, TC3 and v1 calls signed with a real key carrying random
JSON shapes and forms, and signed calls with one byte changed, each on its own connection.
Bounded: a fixed count, a per-connection deadline, and the whole run under a minute on the
two-core machine. The server's loggers (openclb, aiohttp, asyncio) are captured at INFO.
"""

from __future__ import annotations

import collections
import logging
import time
from contextlib import contextmanager

from conftest import SECRET_ID, SECRET_KEY
from fuzz_requests import Generator, Key, check_answers, send

REQUESTS = 10_000
SEED = 20261129
LOGGERS = ("openclb", "aiohttp", "asyncio")


@contextmanager
def captured_logs():
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(handler)
            logger.setLevel(level)


def test_any_action_ten_thousand_fuzzed_requests_answer_only_envelopes_and_log_no_traceback(server):
    generator = Generator(SEED, f"127.0.0.1:{server.port}", Key(SECRET_ID, SECRET_KEY))
    problems: collections.Counter[str] = collections.Counter()
    examples: dict[str, bytes] = {}
    started = time.monotonic()
    with captured_logs() as records:
        for _ in range(REQUESTS):
            case = generator.case()
            for problem in check_answers(case, send(server.port, case)):
                key = f"{case.kind}: {problem[:100]}"
                problems[key] += 1
                examples.setdefault(key, case.data[:300])
    took = time.monotonic() - started

    assert not problems, (problems, examples)
    tracebacks = [r for r in records if r.exc_info or "Traceback" in r.getMessage() or r.levelno >= logging.ERROR]
    assert not tracebacks, [(r.name, r.getMessage()[:200]) for r in tracebacks[:5]]
    assert sum(1 for r in records if r.getMessage() == "api call") >= REQUESTS * 0.9
    assert took < 90, took
