"""The API front door: one endpoint at ``/`` that speaks Tencent Cloud API 3.0.

Order of checks for every call, each failing with its documented code and nothing behind it
touched: method → body encoding and size (read within ``body_timeout``) → credentials present
→ common parameters and, for v1, the bounded form → authenticate (signature, key, timestamp,
replay, token) → Action, Version, Region, Language → rate limit → the action has a handler →
the TC3 body is parsed (only now: TC3 signs the body's hash, so nothing is decoded for a caller
without a key) → structural validation against the spec and the documented array maximums →
dispatch. Every answer is HTTP 200 with the JSON envelope and a fresh RequestId, and one
structured log line.

Several services answer here: CLB (Version 2018-03-17), its neighbours the Terraform provider
calls (tag, vpc, ssl, sts) and openclb's admin API (``admin.py``: service ``openclb``, its own
Version); ``routing.py`` tells them apart by Version, TC3 scope and Host. Each has its own
handler table (``handlers[service][action]``) and its own generated spec. On a server
started with ``--faults`` a CLB call of an account first meets that account's injected faults
(``domain/faults.FaultBook``): a wait, an error in place of the handler, and its task is
remembered so the worker can hold or fail it; calls of the other services never meet one.

The API shares its event loop with the data plane, so a call's work is cut into bounded steps
(parsing and validation are capped in ``parser``/``limits``; the loop gets a turn between the
steps) and one account has at most ``calls_per_account`` calls past authentication at once:
its other calls wait their turn instead of filling the loop's ready queue ahead of other
tenants and of relayed traffic.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from openclb import errors
from openclb.api import auth, casing, parser, routing, serializer, spec, validate
from openclb.api.accounts import AccountRegistry
from openclb.api.ratelimit import RateLimiter
from openclb.api.replay import DurableNonces
from openclb.context import Handler, RequestContext
from openclb.domain.faults import FaultBook

READ_CHUNK = 64 * 1024

log = logging.getLogger("openclb.api")


@dataclass
class Gateway:
    """Turns raw HTTP requests into handler calls; stateless apart from its collaborators."""

    accounts: AccountRegistry
    handlers: Mapping[str, Mapping[str, Handler]]
    rate_limiter: RateLimiter
    auth_required: bool = True
    clock: Callable[[], float] = time.time
    nonces: DurableNonces | None = None
    calls_per_account: int = 4
    body_timeout: float = 30.0
    faults: FaultBook | None = None
    _gates: dict[int, asyncio.Semaphore] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._replay_guard = auth.NonceReplayGuard()

    async def handle(self, request: web.BaseRequest) -> web.Response:
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        outcome: dict[str, Any] = {"account": None, "action": None, "close": False}
        try:
            result = await self._serve(request, request_id, outcome)
            body, code = serializer.success_body(result, request_id), "Success"
        except errors.ApiError as error:
            body, code = serializer.error_body(error, request_id), error.code
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            error = errors.InternalError()
            body, code = serializer.error_body(error, request_id), error.code
        if log.isEnabledFor(logging.INFO):
            log.info(
                "api call",
                extra={
                    "request_id": request_id,
                    "account": outcome["account"],
                    "action": outcome["action"],
                    "code": code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
        response = serializer.http_response(body)
        if outcome["close"] or _connection_unusable_after(request):
            response.force_close()
        return response

    async def _serve(self, request: web.BaseRequest, request_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
        try:
            raw = await read_raw_request(request, self.body_timeout)
        except TimeoutError:
            outcome["close"] = True
            raise errors.InvalidRequest(f"The request body did not arrive within {self.body_timeout:g} s.") from None
        if self.auth_required and not parser.carries_credentials(raw):
            raise errors.AuthFailureInvalidAuthorization(
                "The request carries no credentials: sign it with TC3-HMAC-SHA256 (the `Authorization` "
                "header) or with HmacSHA1/HmacSHA256 (the `SecretId` and `Signature` parameters)."
            )
        call = parser.parse_call(raw)
        outcome["action"] = call.action or None
        if not call.action:
            raise errors.MissingParameter("The request is missing a required parameter `Action`.")
        account = await self._authenticate(raw, call)
        outcome["account"] = account.app_id
        tc3 = self.auth_required and call.kind is parser.SignatureKind.TC3
        signed_for = auth.tc3_service(raw.headers) if tc3 else None
        service = routing.resolve_service(call, raw.host, signed_for)
        if self.auth_required:
            routing.check_scope(call, service, signed_for)
            auth.check_token(account, call.token)
        self.rate_limiter.check(account.app_id, call.action)
        handler = self.handlers.get(service, {}).get(call.action)
        if handler is None:
            raise errors.UnsupportedOperation(
                f"The action {call.action} of {service} {call.version} is not implemented by openclb yet.")
        if self.faults is None or service != spec.CLB:
            return await self._dispatch(handler, raw, call, account, request_id, service)
        effects = self.faults.begin_call(account.app_id, call.action, request_id)
        try:
            if effects.latency:
                await asyncio.sleep(effects.latency)
            if effects.error is not None:
                code, message = effects.error
                raise (errors.by_code(code) or errors.InternalError)(message or None)
            return await self._dispatch(handler, raw, call, account, request_id, service)
        finally:
            self.faults.end_call(request_id)

    async def _dispatch(
        self, handler: Handler, raw: parser.RawHttpRequest, call: parser.ApiCall, account: auth.Account,
        request_id: str, service: str,
    ) -> dict[str, Any]:
        """Parse and validate the parameters (one account's calls take turns), then run the handler."""
        async with self._gate(account.app_id):
            await asyncio.sleep(0)
            if call.kind is parser.SignatureKind.TC3:
                call = parser.tc3_params(raw, call)
            params = (
                validate.validate_params(call.action, call.json_params, service)
                if call.json_params is not None
                else validate.params_from_flat(call.action, call.flat_params, service)
            )
            await asyncio.sleep(0)
            context = RequestContext(
                request_id=request_id,
                app_id=account.app_id,
                owner_uin=account.owner_uin,
                region=call.region,
                language=call.language or "zh-CN",
            )
            return await handler(context, casing.snake_keys(params))

    def _gate(self, app_id: int) -> asyncio.Semaphore:
        gate = self._gates.get(app_id)
        if gate is None:
            gate = self._gates[app_id] = asyncio.Semaphore(self.calls_per_account)
        return gate

    async def _authenticate(self, raw: parser.RawHttpRequest, call: parser.ApiCall) -> auth.Account:
        lookup = self.accounts.lookup if self.auth_required else self.accounts.lookup_any
        if not self.auth_required:
            return _unverified_account(raw, call, lookup) or self.accounts.default
        now = self.clock()
        if call.kind is parser.SignatureKind.TC3:
            if "authorization" not in raw.headers:
                raise errors.AuthFailureInvalidAuthorization("The Authorization header is missing.")
            tc3 = auth.Tc3Request(raw.method, raw.host, raw.query, raw.headers, raw.body)
            return auth.verify_tc3(tc3, lookup, now)
        params = call.signed_params
        account = auth.verify_v1(raw.method, raw.host, params, lookup, now, self._replay_guard)
        if self.nonces is not None:
            await self.nonces.remember(params["SecretId"], params["Nonce"].strip(), int(params["Timestamp"]), now)
        return account


def _connection_unusable_after(request: web.BaseRequest) -> bool:
    """True when the body stream broke mid-way: the client must not send another call on it."""
    return request.content.exception() is not None


def _unverified_account(raw: parser.RawHttpRequest, call: parser.ApiCall, lookup) -> auth.Account | None:
    """``--auth none``: take the SecretId the client names, if any, without checking anything."""
    secret_id = call.signed_params.get("SecretId", "")
    credential = raw.headers.get("authorization", "").partition("Credential=")[2]
    secret_id = secret_id or credential.split("/", 1)[0]
    return lookup(secret_id)


async def read_raw_request(request: web.BaseRequest, body_timeout: float) -> parser.RawHttpRequest:
    """Method and size checks, then the request exactly as received (raw Host, query, body).

    The body must arrive within ``body_timeout`` seconds (TimeoutError otherwise). A client
    that waits for ``100 Continue`` gets it once the announced size is within the limit.
    """
    if request.method not in ("GET", "POST"):
        raise errors.UnsupportedProtocol(f"The HTTP method {request.method} is not supported; use GET or POST.")
    headers = {k.lower(): v for k, v in request.headers.items()}
    limit = parser.body_limit_for(request.method, headers)
    body = b""
    if request.method == "POST":
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            raise errors.InvalidRequest(f"Content-Encoding {encoding} is not supported; send the body as is.")
        if (request.content_length or 0) > limit:
            raise errors.RequestSizeLimitExceeded(f"The request body exceeds the {limit // 1024} KB limit.")
        if headers.get("expect", "").strip().lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        async with asyncio.timeout(body_timeout):
            body = await _read_capped(request, limit)
    _, _, query = request.raw_path.partition("?")
    peer = request.remote or ""
    return parser.RawHttpRequest(request.method, headers.get("host", ""), query, headers, body, peer)


async def _read_capped(request: web.BaseRequest, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await _read_chunk(request):
        size += len(chunk)
        if size > limit:
            raise errors.RequestSizeLimitExceeded(f"The request body exceeds the {limit // 1024} KB limit.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_chunk(request: web.BaseRequest) -> bytes:
    """A body that breaks off (bad chunking, connection lost) is the client's fault, not ours."""
    try:
        return await request.content.read(READ_CHUNK)
    except (web.RequestPayloadError, ConnectionResetError) as exc:
        raise errors.InvalidRequest("The request body could not be read completely.") from exc
