"""Helpers for tests through the CLB API: checked SDK calls, set-up calls, refusals, test PKI.

``checked`` is how these tests call openclb: through the official SDK's ``call_json``, then the
response is checked against the spec (``validate_response``) and parsed into the SDK's typed
response model with warnings turned into errors, so an unknown or misspelt field fails the test.
``write`` is a checked asynchronous write whose task must succeed; the set-up helpers
(``create_clb``, ``create_listener``, ``register``, ``listener_with_targets``) are built on it,
so set-up that went wrong fails where it went wrong.
``refused`` asserts the exact error code *and* that DescribeListeners / DescribeLoadBalancers
read the same before and after, because a refused write must leave nothing behind.
``make_pki`` makes the certificates the certificate rules need (CA, server certificates signed by
it, an expired one, a mismatched key; RSA and ECDSA) once per test session; ``upload`` is one of
them as a CreateListener ``Certificate``.
"""

from __future__ import annotations

import ssl
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from tencentcloud.clb.v20180317 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from openclb.api.validate import validate_response

TASK_POLLS = 300


def typed(action: str, response: dict[str, Any]) -> Any:
    """The SDK's typed response model of ``action`` parsed from ``response``; unknown fields fail."""
    model = getattr(models, f"{action}Response")()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model._deserialize(response)
    return model


def checked(client, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """``call_json`` whose response conforms to the spec and parses into the SDK's model."""
    response = client.call_json(action, params)["Response"]
    problems = validate_response(action, response)
    assert not problems, problems
    typed(action, response)
    return response


def task_status(client, task_id: str) -> int:
    """DescribeTaskStatus(TaskId) once it has left Status 2 (running)."""
    status = 2
    for _ in range(TASK_POLLS):
        status = checked(client, "DescribeTaskStatus", {"TaskId": task_id})["Status"]
        if status != 2:
            return status
        time.sleep(0.01)
    return status


def write(client, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """An asynchronous write whose task (TaskId = RequestId) ends with Status 0."""
    response = checked(client, action, params)
    assert task_status(client, response["RequestId"]) == 0, action
    return response


def create_clb(client, name: str = "clb-test", **extra: Any) -> str:
    response = write(client, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "LoadBalancerName": name, **extra})
    return response["LoadBalancerIds"][0]


def create_clb_with_vip(client, name: str = "clb-test", **extra: Any) -> tuple[str, str]:
    """A new CLB: its id and its VIP."""
    lb_id = create_clb(client, name, **extra)
    described = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})
    return lb_id, described["LoadBalancerSet"][0]["LoadBalancerVips"][0]


def create_listener(client, lb_id: str, protocol: str, ports: list[int], **extra: Any) -> list[str]:
    response = write(client, "CreateListener", {"LoadBalancerId": lb_id, "Protocol": protocol, "Ports": ports, **extra})
    assert len(response["ListenerIds"]) == len(ports)
    return response["ListenerIds"]


def create_rules(client, lb_id: str, listener_id: str, rules: list[dict]) -> list[str]:
    """CreateRule with health checks off unless a rule says otherwise; the new LocationIds."""
    no_check = {"HealthCheck": {"HealthSwitch": 0}}
    response = write(client, "CreateRule", {
        "LoadBalancerId": lb_id, "ListenerId": listener_id, "Rules": [{**no_check, **rule} for rule in rules]})
    return response["LocationIds"]


def register(client, lb_id: str, listener_id: str, ports: list[int], location_id: str | None = None) -> None:
    """RegisterTargets 127.0.0.1:<port> for each port, on the listener or on one of its rules."""
    params: dict[str, Any] = {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                              "Targets": [{"EniIp": "127.0.0.1", "Port": port} for port in ports]}
    if location_id:
        params["LocationId"] = location_id
    write(client, "RegisterTargets", params)


def listener_with_targets(client, protocol: str, port: int, targets: list[dict], **extra: Any) -> tuple[str, str, str]:
    """A new CLB with one listener on ``port`` serving ``targets``: CLB id, VIP, listener id."""
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, protocol, [port], **extra)
    write(client, "RegisterTargets", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "Targets": targets})
    return lb_id, vip, listener_id


def listeners(client, lb_id: str, **filters: Any) -> list[dict[str, Any]]:
    return checked(client, "DescribeListeners", {"LoadBalancerId": lb_id, **filters})["Listeners"]


def listener(client, lb_id: str, listener_id: str) -> dict[str, Any]:
    (found,) = listeners(client, lb_id, ListenerIds=[listener_id])
    return found


def snapshot(client, lb_id: str | None) -> tuple[Any, Any]:
    """What a refused write must not change: the CLB's listeners and every CLB of the account."""
    lbs = checked(client, "DescribeLoadBalancers", {"Limit": 100})
    lbs.pop("RequestId")
    if lb_id is None:
        return None, lbs
    found = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})
    found.pop("RequestId")
    return found, lbs


def refused(client, action: str, params: dict[str, Any], code: str, lb_id: str | None = None) -> str:
    """Assert ``action`` fails with exactly ``code`` and leaves listeners and CLBs as they were.

    ``lb_id`` is the CLB whose listeners are compared (default: ``params["LoadBalancerId"]``).
    Returns the error message for further checks.
    """
    watched = lb_id if lb_id is not None else params.get("LoadBalancerId")
    before = snapshot(client, watched)
    with pytest.raises(TencentCloudSDKException) as caught:
        client.call_json(action, params)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    assert snapshot(client, watched) == before
    return caught.value.message


# Health ------------------------------------------------------------------------------------

FAST_CHECK = {"HealthSwitch": 1, "TimeOut": 2, "IntervalTime": 3, "HealthNum": 2, "UnHealthNum": 2}


def target_health(client, lb_id: str) -> dict[int, str]:
    """Port -> HealthStatusDetail of the targets of the CLB's first listener."""
    response = client.call_json("DescribeTargetHealth", {"LoadBalancerIds": [lb_id]})["Response"]
    rules = response["LoadBalancers"][0]["Listeners"][0]["Rules"]
    return {t["Port"]: t["HealthStatusDetail"] for t in rules[0]["Targets"]}


def wait_for(predicate, timeout: float) -> float:
    """Poll ``predicate`` until it holds; the seconds that took, or an AssertionError."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


# Test PKI ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pem:
    cert: str
    key: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _issue(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool, days: tuple[int, int]) -> str:
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class Pki:
    """A CA and certificates signed by it; every private key is an unencrypted PKCS#8 PEM."""

    ca: Pem
    rsa: Pem
    ecdsa: Pem
    expired: Pem
    not_yet_valid: Pem
    other_key: str


@lru_cache(maxsize=1)
def make_pki() -> Pki:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("openclb test CA")
    ca = Pem(_issue("openclb test CA", ca_key, ca_name, ca_key, ca=True, days=(-1, 365)), _key_pem(ca_key))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    expired_key = ec.generate_private_key(ec.SECP256R1())
    future_key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())
    return Pki(
        ca=ca,
        rsa=Pem(_issue("rsa.example.com", rsa_key, ca_name, ca_key, ca=False, days=(-1, 90)), _key_pem(rsa_key)),
        ecdsa=Pem(_issue("ec.example.com", ec_key, ca_name, ca_key, ca=False, days=(-1, 90)), _key_pem(ec_key)),
        expired=Pem(
            _issue("old.example.com", expired_key, ca_name, ca_key, ca=False, days=(-30, -1)), _key_pem(expired_key)
        ),
        not_yet_valid=Pem(
            _issue("new.example.com", future_key, ca_name, ca_key, ca=False, days=(10, 90)), _key_pem(future_key)
        ),
        other_key=_key_pem(other_key),
    )


def upload(kind: str = "rsa", **extra: Any) -> dict[str, Any]:
    """The ``make_pki`` certificate ``kind`` as an uploaded certificate (CertName = kind)."""
    pem = getattr(make_pki(), kind)
    return {"CertName": kind, "CertContent": pem.cert, "CertKey": pem.key, **extra}


def load_pki_chain(context: ssl.SSLContext, kind: str) -> ssl.SSLContext:
    """``context`` presenting the ``make_pki`` certificate ``kind`` (ssl loads chains from files only)."""
    pem = getattr(make_pki(), kind)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory, "c.pem"), Path(directory, "k.pem")
        cert.write_text(pem.cert)
        key.write_text(pem.key)
        context.load_cert_chain(cert, key)
    return context


def server_context(kind: str) -> ssl.SSLContext:
    return load_pki_chain(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), kind)


def trusting_context(check_hostname: bool = True, client_cert: str | None = None) -> ssl.SSLContext:
    """A client context that trusts the test CA (and presents ``client_cert``: a make_pki kind)."""
    context = ssl.create_default_context(cadata=make_pki().ca.cert)
    context.check_hostname = check_hostname
    if client_cert:
        load_pki_chain(context, client_cert)
    return context
