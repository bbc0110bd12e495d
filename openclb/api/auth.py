"""Verification of Tencent Cloud API request signatures (TC3-HMAC-SHA256 and v1 HmacSHA1/256).

Pure functions over what the gateway received: no sockets, no HTTP framework. The verifier
never rebuilds what the client sent: the canonical query, body and Host are hashed exactly
as they arrived, because the SDKs disagree on ordering and encoding (Python urlencodes in
insertion order, Go sorts; Python signs a Host of ``http://127.0.0.1:8080`` verbatim).
Where real clients deviate from the documented rule, each known variant is tried in turn
(Host lower-cased, Python's ``_``→``.`` key rewrite, Go's skipping of empty v1 values,
the Node SDK's Host-derived service in the TC3 scope and its port-less signed Host); each
variant still needs the secret key, so tolerance never weakens the check.

The TC3 credential scope must name a service openclb serves (``SERVED_SERVICES``): a signature
made for another Tencent Cloud service (``cvm``) is refused even when the Host says ``cvm.…``,
so a request captured on its way to the real cloud cannot be replayed here. The Node SDK's
Host-derived service is accepted only where it cannot name a service: a Host that is an IP
address or a single label (``127`` from ``127.0.0.1:9180``, ``localhost``).

Invariants: comparisons of signatures and tokens are constant-time; no error message
carries a secret key, token or signature; a v1 Nonce is remembered only once its signature
has verified, so unauthenticated traffic cannot fill or poison the replay memory.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from openclb import errors

TC3_ALGORITHM = "TC3-HMAC-SHA256"
SIGNATURE_WINDOW_SECONDS = 300
_V1_DIGESTS = {"HmacSHA1": hashlib.sha1, "HmacSHA256": hashlib.sha256}
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SCOPE_TERMINATOR = "tc3_request"
# The services whose API this server answers: CLB, its neighbours the Terraform provider calls
# (api/routing.py), and openclb's own admin API (api/admin.py).
SERVED_SERVICES = frozenset({"clb", "tag", "vpc", "ssl", "sts", "openclb"})
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSIGNED_INTEGER = re.compile(r"[0-9]{1,20}")
_AUTHORIZATION_FIELDS = ("Credential", "SignedHeaders", "Signature")


@dataclass(frozen=True)
class Account:
    """One API key and the account it acts for; the secret and token never appear in repr."""

    secret_id: str
    secret_key: str = field(repr=False)
    app_id: int
    owner_uin: str
    token: str | None = field(default=None, repr=False)


KeyLookup = Callable[[str], Account | None]


@dataclass(frozen=True)
class Tc3Request:
    """The parts of an HTTP request a TC3 signature covers, as received (header keys lower-cased)."""

    method: str
    host: str
    query: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class _Tc3Authorization:
    secret_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def is_tc3(headers: Mapping[str, str]) -> bool:
    """True when the request claims a v3 signature; otherwise the gateway treats it as v1."""
    return headers.get("authorization", "").startswith(TC3_ALGORITHM)


def check_token(account: Account, token: str | None) -> None:
    """A key added with a token needs exactly that token; a key without one takes none."""
    expected = account.token
    if not token and not expected:
        return
    if not token or expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise errors.AuthFailureTokenFailure()


def verify_tc3(request: Tc3Request, lookup: KeyLookup, now: float) -> Account:
    """Return the account whose key signed ``request`` with TC3-HMAC-SHA256, or raise.

    Checks run in a fixed order (Authorization format, timestamp, credential scope, SecretId,
    signature) so that cheap, key-independent refusals never cost a key lookup.
    """
    auth = _parse_authorization(request.headers.get("authorization", ""))
    raw_timestamp = request.headers.get("x-tc-timestamp")
    if raw_timestamp is None:
        raise _missing("Timestamp")
    raw_timestamp = raw_timestamp.strip()
    if not _UNSIGNED_INTEGER.fullmatch(raw_timestamp):
        raise errors.AuthFailureInvalidAuthorization("The `X-TC-Timestamp` header must be a Unix time in seconds.")
    timestamp = int(raw_timestamp)
    _check_window(timestamp, now)
    if auth.date != datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d"):
        raise _invalid_authorization("`Date` in Credential not valid.")
    if auth.service not in _acceptable_services(request.host):
        raise _invalid_authorization("`Service` in Credential not valid.")
    account = _lookup(lookup, auth.secret_id)

    signing_key = _tc3_signing_key(account.secret_key, auth.date, auth.service)
    payload = request.body
    if request.headers.get("x-tc-content-sha256", "").strip() == _UNSIGNED_PAYLOAD:
        payload = _UNSIGNED_PAYLOAD.encode()
    payload_hash = hashlib.sha256(payload).hexdigest()
    scope = f"{auth.date}/{auth.service}/{_SCOPE_TERMINATOR}"
    signed_names = ";".join(auth.signed_headers)
    for canonical_headers in _canonical_header_variants(request, auth.signed_headers):
        canonical_request = "\n".join(
            (request.method.upper(), "/", request.query, canonical_headers, signed_names, payload_hash)
        )
        string_to_sign = "\n".join(
            (TC3_ALGORITHM, raw_timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
        )
        expected = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, auth.signature):
            return account
    raise errors.AuthFailureSignatureFailure()


def tc3_service(headers: Mapping[str, str]) -> str:
    """The service a verified TC3 request's credential scope names (``clb``, ``openclb``, a Host label)."""
    return _parse_authorization(headers.get("authorization", "")).service


def verify_v1(
    method: str,
    host: str,
    params: Mapping[str, str],
    lookup: KeyLookup,
    now: float,
    replay_guard: NonceReplayGuard,
) -> Account:
    """Return the account whose key signed these v1 parameters, or raise; remembers the Nonce."""
    for name in ("SecretId", "Signature", "Nonce", "Timestamp"):
        if not params.get(name):
            raise _missing(name)
    sign_method = params.get("SignatureMethod") or "HmacSHA1"
    digest = _V1_DIGESTS.get(sign_method)
    if digest is None:
        raise errors.InvalidParameterValue("The value of `SignatureMethod` must be HmacSHA1 or HmacSHA256.")
    nonce = params["Nonce"].strip()
    if not _UNSIGNED_INTEGER.fullmatch(nonce):
        raise errors.InvalidParameterValue("The value of `Nonce` must be a positive integer.")
    raw_timestamp = params["Timestamp"].strip()
    if not _UNSIGNED_INTEGER.fullmatch(raw_timestamp):
        raise errors.InvalidParameterValue("The value of `Timestamp` must be a Unix time in seconds.")
    timestamp = int(raw_timestamp)
    _check_window(timestamp, now)
    secret_id = params["SecretId"]
    account = _lookup(lookup, secret_id)

    provided = params["Signature"].encode()
    key = account.secret_key.encode()
    for string_to_sign in _v1_strings_to_sign(method.upper(), host, params):
        expected = base64.b64encode(hmac.new(key, string_to_sign.encode(), digest).digest())
        if hmac.compare_digest(expected, provided):
            replay_guard.check_and_remember(secret_id, nonce, timestamp, now)
            return account
    raise errors.AuthFailureSignatureFailure()


class NonceReplayGuard:
    """Remembers (secret_id, nonce, timestamp) for the 5-minute window; bounded memory (expire old entries).

    An entry is kept until its timestamp leaves the acceptance window, after which the
    timestamp check alone refuses a replay. At ``max_entries`` the entries closest to
    expiry are dropped first: memory stays bounded and valid traffic is never refused,
    at the cost of replay protection for the oldest requests under a flood (which only
    holders of a valid key can cause). Meant for one event loop; it takes no lock.
    """

    def __init__(self, window_seconds: int = SIGNATURE_WINDOW_SECONDS, max_entries: int = 1_000_000) -> None:
        self._window_seconds = window_seconds
        self._max_entries = max_entries
        self._seen: set[tuple[str, str, int]] = set()
        self._expiry_heap: list[tuple[int, tuple[str, str, int]]] = []

    def check_and_remember(self, secret_id: str, nonce: str, timestamp: int, now: float) -> None:
        self._expire(now)
        key = (secret_id, nonce, timestamp)
        if key in self._seen:
            raise errors.AuthFailureSignatureFailure(
                "The request has been replayed: this Nonce and Timestamp were already used."
            )
        while len(self._seen) >= self._max_entries:
            self._seen.discard(heapq.heappop(self._expiry_heap)[1])
        self._seen.add(key)
        heapq.heappush(self._expiry_heap, (timestamp + self._window_seconds, key))

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._expiry_heap and self._expiry_heap[0][0] < now:
            self._seen.discard(heapq.heappop(self._expiry_heap)[1])


def _parse_authorization(header: str) -> _Tc3Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != TC3_ALGORITHM:
        raise _invalid_authorization("the algorithm must be TC3-HMAC-SHA256.")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name not in _AUTHORIZATION_FIELDS or name in fields:
            raise _invalid_authorization("expected `Credential`, `SignedHeaders` and `Signature` once each.")
        fields[name] = value.strip()
    if len(fields) != len(_AUTHORIZATION_FIELDS):
        raise _invalid_authorization("expected `Credential`, `SignedHeaders` and `Signature` once each.")

    credential = fields["Credential"].split("/")
    if len(credential) != 4 or not all(credential) or credential[3] != _SCOPE_TERMINATOR:
        raise _invalid_authorization("`Credential` must be SecretId/Date/Service/tc3_request.")
    secret_id, date, service, _ = credential
    if not _DATE.fullmatch(date):
        raise _invalid_authorization("`Date` in Credential not valid.")

    signed_headers = tuple(name.strip().lower() for name in fields["SignedHeaders"].split(";"))
    distinct = len(set(signed_headers)) == len(signed_headers)
    if not distinct or not all(_HEADER_NAME.fullmatch(name) for name in signed_headers):
        raise _invalid_authorization("`SignedHeaders` is not a list of distinct header names.")
    if "host" not in signed_headers:
        raise _invalid_authorization("`SignedHeaders` must include host.")

    signature = fields["Signature"]
    if not _HEX_SIGNATURE.fullmatch(signature):
        raise _invalid_authorization("`Signature` must be 64 hexadecimal digits.")
    return _Tc3Authorization(secret_id, date, service, signed_headers, signature.lower())


def _acceptable_services(host: str) -> frozenset[str]:
    """The served services, plus the Host's first label when the Host cannot name a service."""
    hostname = host.strip()
    for scheme in ("http://", "https://"):
        if hostname.lower().startswith(scheme):
            hostname = hostname[len(scheme) :]
    hostname = hostname.split("/", 1)[0]
    if hostname.startswith("["):
        return SERVED_SERVICES | {hostname.split("]", 1)[0] + "]"}
    hostname = hostname.split(":", 1)[0]
    first_label = hostname.split(".", 1)[0]
    if not first_label or not (first_label.isdigit() or "." not in hostname):
        return SERVED_SERVICES
    return SERVED_SERVICES | {first_label, first_label.lower()}


def _canonical_header_variants(request: Tc3Request, signed_headers: tuple[str, ...]) -> Iterable[str]:
    """As received, then Host lower-cased, then Host without its port (the Node SDK signs the
    URL's hostname but sends ``Host: name:port``), then every value lower-cased (the documented rule)."""
    values = []
    for name in signed_headers:
        value = request.host if name == "host" else request.headers.get(name)
        if value is None:
            raise _invalid_authorization(f"the signed header `{name}` is missing from the request.")
        values.append(value.strip())
    host_lowered = [value.lower() if name == "host" else value for name, value in zip(signed_headers, values)]
    hostname_only = [
        _without_port(value) if name == "host" else value for name, value in zip(signed_headers, host_lowered)
    ]
    all_lowered = [value.lower() for value in values]
    yielded: set[str] = set()
    for variant in (values, host_lowered, hostname_only, all_lowered):
        canonical = "".join(f"{name}:{value}\n" for name, value in zip(signed_headers, variant))
        if canonical not in yielded:
            yielded.add(canonical)
            yield canonical


def _without_port(host: str) -> str:
    """``name:port`` → ``name`` and ``[v6]:port`` → ``[v6]``; anything else unchanged."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() and ":" not in name else host


@lru_cache(maxsize=256)
def _tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """Three HMACs that change once a day per key and service: derived once, not per call."""
    k_date = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    k_service = hmac.new(k_date, service.encode(), hashlib.sha256).digest()
    return hmac.new(k_service, _SCOPE_TERMINATOR.encode(), hashlib.sha256).digest()


def _v1_strings_to_sign(method: str, host: str, params: Mapping[str, str]) -> Iterable[str]:
    """The documented string first, then the Python (``_``→``.``) and Go (no empty values) variants."""
    signed = {key: value for key, value in params.items() if key != "Signature"}
    param_variants = [signed]
    if any("_" in key for key in signed):
        param_variants.append({key.replace("_", "."): value for key, value in signed.items()})
    if any(value == "" for value in signed.values()):
        param_variants.append({key: value for key, value in signed.items() if value != ""})
    yielded: set[str] = set()
    for candidate_host in (host, host.lower()):
        for variant in param_variants:
            query = "&".join(f"{key}={variant[key]}" for key in sorted(variant))
            string_to_sign = f"{method}{candidate_host}/?{query}"
            if string_to_sign not in yielded:
                yielded.add(string_to_sign)
                yield string_to_sign


def _check_window(timestamp: int, now: float) -> None:
    if abs(timestamp - now) > SIGNATURE_WINDOW_SECONDS:
        raise errors.AuthFailureSignatureExpire()


def _lookup(lookup: KeyLookup, secret_id: str) -> Account:
    account = lookup(secret_id)
    if account is None:
        raise errors.AuthFailureSecretIdNotFound()
    return account


def _missing(name: str) -> errors.ApiError:
    return errors.MissingParameter(f"The request is missing a required parameter `{name}`.")


def _invalid_authorization(reason: str) -> errors.ApiError:
    return errors.AuthFailureInvalidAuthorization(
        f"The request `Authorization` header does not conform to tencentcloud standards: {reason}"
    )
