"""One JSON object per log line, with the structured fields a record carries.

Request lines carry RequestId, account, action, outcome code and duration; nothing that
holds a secret (keys, signatures, tokens, private keys) is ever passed to a logger, and store
errors carry no statement values (``store/store.py``). As a last guard the formatter blanks
any PEM private-key block and any ``Signature=`` value in a line, traceback included.
"""

from __future__ import annotations

import json
import logging
import re
import sys

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL)
_SIGNATURE = re.compile(r"(Signature=)[^&,\s\"']+")


def redact(text: str) -> str:
    """``text`` without private-key PEM blocks (even cut-off ones) and signature values."""
    return _SIGNATURE.sub(r"\1[redacted]", _PRIVATE_KEY.sub("[private key redacted]", text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        line.update({k: redact(v) if isinstance(v, str) else v for k, v in record.__dict__.items()
                     if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("openclb")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
