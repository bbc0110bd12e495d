"""No secret reaches a log: private keys, sealed keys, SecretKeys and signatures, on both stores.

Every record any server-side logger creates while certificates are uploaded (accepted,
refused by a rule, and refused by the store itself) is captured at DEBUG, and its message,
extra fields, traceback and chained causes are searched for the uploaded private keys (their
PEM armour or any base64 line of them), for the account's SecretKey and for the request
signatures the client sent; records at INFO and above and every error are also searched for
sealed values (``enc:v1:``: statement parameters and PostgreSQL's "Failing row contains"
DETAIL are kept out of store errors; only SQLAlchemy's own DEBUG row dumps show stored rows,
sealed). The records of the
client itself (the SDK and urllib3 log whole requests at DEBUG) are left out: they are the
caller's logs, not the server's.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from clb_support import create_clb, create_listener, listener, make_pki, refused, upload
from conftest import SECRET_KEY, sdk_client
from openclb.obs.logs import JsonFormatter

CLIENT_LOGGERS = ("tencentcloud", "urllib3")
REFUSED_NAME = "refused-by-the-store"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not any(seen is record for seen in self.records[-4:]):
            self.records.append(record)


@pytest.fixture
def all_records() -> Iterator[Collect]:
    """Every record of every logger at DEBUG, whatever the logging set-up, for the test's length."""
    collect = Collect()
    root = logging.getLogger()
    touched = [root, *(logging.getLogger(name) for name in ("openclb", "sqlalchemy", "aiohttp", "asyncio"))]
    levels = [(logger, logger.level) for logger in touched]
    root.addHandler(collect)
    logging.getLogger("openclb").addHandler(collect)
    for logger in touched:
        logger.setLevel(logging.DEBUG)
    try:
        yield collect
    finally:
        root.removeHandler(collect)
        logging.getLogger("openclb").removeHandler(collect)
        for logger, level in levels:
            logger.setLevel(level)


def record_text(record: logging.LogRecord) -> str:
    """All a record carries: message, extra fields, traceback with every chained cause, stack."""
    parts = [record.getMessage(), repr(record.args), repr(record.__dict__)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    parts.append(record.exc_text or "")
    parts.append(record.stack_info or "")
    parts.append(JsonFormatter().format(record))
    return "\n".join(parts)


def key_fragments() -> list[str]:
    pki = make_pki()
    keys = [pki.rsa.key, pki.ecdsa.key, pki.expired.key, pki.other_key, pki.ca.key]
    return [line for key in keys for line in key.splitlines() if "-----" not in line and len(line) >= 16]


def server_side(collect: Collect) -> list[logging.LogRecord]:
    return [r for r in collect.records if not r.name.startswith(CLIENT_LOGGERS)]


def client_signatures(collect: Collect) -> set[str]:
    """The signatures the SDK put on its requests, read from its own DEBUG records."""
    found = set()
    for record in collect.records:
        if record.name.startswith(CLIENT_LOGGERS):
            found.update(re.findall(r"Signature=([0-9a-f]{64})", record.getMessage()))
    return found


def refuse_one_certificate_name(store) -> None:
    """The store itself refuses a certificate row named REFUSED_NAME (a trigger or a CHECK)."""
    with store.engine.begin() as conn:
        if store.is_sqlite:
            conn.execute(text(
                f"CREATE TRIGGER refuse_cert BEFORE INSERT ON certificates WHEN NEW.name = '{REFUSED_NAME}' "
                "BEGIN SELECT RAISE(ABORT, 'certificate refused by the test'); END"))
        else:
            conn.execute(text(f"ALTER TABLE certificates ADD CONSTRAINT refuse_cert CHECK (name <> '{REFUSED_NAME}')"))


@pytest.mark.parametrize("sign_method, req_method", [("TC3-HMAC-SHA256", "POST"), ("HmacSHA256", "GET")])
def test_upload_certificates_accepted_refused_and_store_error_logs_hold_no_secret(
    any_store_server, all_records, sign_method, req_method
):
    client = sdk_client(any_store_server.url, sign_method=sign_method, req_method=req_method)
    pki = make_pki()
    lb_id = create_clb(client)
    (accepted,) = create_listener(client, lb_id, "TCP_SSL", [7443], Certificate=upload("rsa"))
    cert_id = listener(client, lb_id, accepted)["Certificate"]["CertId"]
    create_listener(client, lb_id, "HTTPS", [7444], MultiCertInfo={
        "SSLMode": "UNIDIRECTIONAL", "CertList": [upload("rsa"), upload("ecdsa")]})
    for certificate in ({**upload("rsa"), "CertKey": pki.other_key}, {**upload("ecdsa"), "CertKey": pki.rsa.key},
                        upload("expired"), upload("rsa", CertName="n" * 300),
                        {**upload("rsa"), "CertKey": pki.rsa.key[:-80]}):
        refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP_SSL", "Ports": [7445],
                                           "Certificate": certificate}, "InvalidParameterValue"
                if certificate.get("CertName") != "n" * 300 else "InvalidParameterValue.Length")
    refuse_one_certificate_name(any_store_server.server.store)
    refused(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": "TCP_SSL", "Ports": [7446],
                                       "Certificate": upload("ecdsa", CertName=REFUSED_NAME)}, "InternalError")
    refused(client, "ReplaceCertForLoadBalancers", {"OldCertificateId": cert_id,
                                                    "Certificate": upload("rsa", CertName=REFUSED_NAME)},
            "InternalError", lb_id=lb_id)

    records = server_side(all_records)
    store_errors = [r for r in records if r.exc_info and "refuse" in record_text(r)]
    assert len(store_errors) == 2, [r.getMessage() for r in records if r.exc_info]
    signatures = client_signatures(all_records)
    assert signatures or sign_method != "TC3-HMAC-SHA256"
    fragments = key_fragments()
    for record in records:
        logged = record_text(record)
        assert "PRIVATE KEY" not in logged, record.getMessage()
        assert not [f for f in fragments if f in logged], record.getMessage()
        if record.levelno >= logging.INFO or record.exc_info:
            assert "enc:v1:" not in logged, record.getMessage()
        assert SECRET_KEY not in logged, record.getMessage()
        assert not [s for s in signatures if s in logged], record.getMessage()


def test_json_formatter_private_key_in_message_and_traceback_redacted():
    key = make_pki().rsa.key
    try:
        raise ValueError(f"bad key {key[:200]}")
    except ValueError as exc:
        record = logging.makeLogRecord({"name": "openclb.test", "levelno": logging.ERROR, "levelname": "ERROR",
                                        "msg": "upload %s", "args": (key,), "exc_info": (type(exc), exc, None),
                                        "detail": f"Authorization: TC3 Signature=abc123 {key}"})

    line = JsonFormatter().format(record)

    assert "PRIVATE KEY" not in line and key.splitlines()[1] not in line and "abc123" not in line
    assert "[private key redacted]" in line
