"""A seeded generator of hostile API requests as raw bytes, and the check of what comes back.

Each ``FuzzCase`` is one connection's worth of bytes: broken framing (request lines, headers,
chunking, lengths), well-formed HTTP with random methods, paths, headers and bodies, TC3 and
v1 calls signed with a real key (random actions, JSON shapes from wide to 3,000 deep, wrong
types, invalid JSON, random flattened forms), and signed calls with one byte changed.
``must_answer`` says whether the request is complete, so the server owes an answer; the others
are followed by a half-close. ``check_answers`` accepts only the JSON envelope with HTTP 200
(405 for CONNECT, whose 2xx answer could carry no body), or the ``/healthz`` liveness answer,
and returns what was wrong.

Shared by ``test_api_fuzz.py`` (bounded count) and ``benchmarks/reliability.py`` (figures).
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from tencentcloud.common.sign import Sign

from openclb.api import spec

ACTIONS = sorted(spec.ACTION_NAMES)
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO"]
PATHS = ["/", "/", "/", "/", "/metrics", "/healthz", "/x/../", "//", "/?Action=DescribeQuota", "*"]
HEADER_NAMES = ["Content-Type", "Authorization", "X-TC-Action", "X-TC-Version", "X-TC-Region", "X-TC-Timestamp",
                "X-TC-Language", "X-TC-Token", "X-TC-Content-SHA256", "Content-Encoding", "Expect", "X-Random"]
HEADER_VALUES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "text/plain", "DescribeLoadBalancers", "2018-03-17", "ap-guangzhou", "ap-shanghai-fsi", "zh-CN",
                 "UNSIGNED-PAYLOAD", "gzip", "identity", "100-continue", "0", "-1", "99999999999999999999999",
                 "TC3-HMAC-SHA256 Credential=AKID/2024-01-01/clb/tc3_request, SignedHeaders=host, Signature=" + "a" * 64]
KINDS = [("framing", 15), ("garbage", 8), ("http", 20), ("tc3", 30), ("v1", 15), ("mutated", 12)]


@dataclass(frozen=True)
class FuzzCase:
    kind: str
    data: bytes
    must_answer: bool


@dataclass(frozen=True)
class Key:
    secret_id: str
    secret_key: str


class Generator:
    """Deterministic for a seed; ``host`` is the ``host:port`` the server is reached at."""

    def __init__(self, seed: int, host: str, key: Key) -> None:
        self.rng = random.Random(seed)
        self.host = host
        self.key = key
        self._nonce = seed * 1_000_000
        self._kinds = [kind for kind, weight in KINDS for _ in range(weight)]

    def case(self) -> FuzzCase:
        kind = self.rng.choice(self._kinds)
        makers = {"framing": self._framing, "garbage": self._garbage, "http": self._http, "tc3": self._tc3,
                  "v1": self._v1, "mutated": lambda: self._tc3(mutate=True)}
        return makers[kind]()

    def _text(self, size: int) -> str:
        alphabet = "abcXYZ019-_.:/ %&=+[]{}\"\\\u00e9\u4e2d\U0001f600\ud800"
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randrange(size + 1)))

    def _json_value(self, depth: int = 0):
        rng = self.rng
        roll = rng.random()
        if depth > 4 or roll < 0.45:
            return rng.choice([None, True, False, 0, -1, 2**63, 2**70, 1.5, float("1e308"), "", "lb-00000000",
                               "TCP", "HTTP", self._text(20), 80, 65536])
        if roll < 0.7:
            return [self._json_value(depth + 1) for _ in range(rng.randrange(5))]
        return {self._key(): self._json_value(depth + 1) for _ in range(rng.randrange(5))}

    def _key(self) -> str:
        action = self.rng.choice(ACTIONS)
        names = [member.name for member in spec.input_shape(action).members] or ["Nothing"]
        return self.rng.choice(names + [self._text(8)])

    def _json_body(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.08:
            depth = self.rng.choice([50, 999, 1_001, 3_000])
            return (b'{"LoadBalancerIds": ' + b"[" * depth + b"]" * depth + b"}")
        if roll < 0.14:
            return json.dumps({self._key(): ["lbl-%08d" % i for i in range(self.rng.choice([101, 2_000, 30_000]))]}).encode()
        if roll < 0.2:
            return self.rng.choice([b"{", b"[]", b"null", b"\xff\xfe", b'{"a":1,"a":2}', b'{"\\ud800": 1}', b""])
        params = {self._key(): self._json_value() for _ in range(self.rng.randrange(6))}
        return json.dumps(params, ensure_ascii=self.rng.random() < 0.5, allow_nan=False).encode("utf-8", "surrogatepass")

    def _request(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if method != "GET" or body:
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body

    def _tc3(self, mutate: bool = False) -> FuzzCase:
        rng = self.rng
        action = rng.choice(ACTIONS)
        get = rng.random() < 0.2
        query, body = "", b""
        content_type = "application/x-www-form-urlencoded" if get else "application/json"
        if get:
            query = urlencode({_utf8(self._key()): _utf8(str(self._json_value(3))) for _ in range(rng.randrange(5))})
        else:
            body = self._json_body()
        timestamp = int(time.time()) + (rng.choice([0, 0, 0, -400, 400]))
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        canonical = "\n".join(("GET" if get else "POST", "/", query, f"content-type:{content_type}\nhost:{self.host}\n",
                               "content-type;host", hashlib.sha256(body).hexdigest()))
        scope = f"{date}/clb/tc3_request"
        signature = Sign.sign_tc3(self.key.secret_key, date, "clb", "\n".join(
            ("TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest())))
        headers = [("Content-Type", content_type), ("X-TC-Action", action), ("X-TC-Version", "2018-03-17"),
                   ("X-TC-Timestamp", str(timestamp)), ("X-TC-Region", rng.choice(["ap-guangzhou", "ap-guangzhou", "xx"])),
                   ("Authorization", f"TC3-HMAC-SHA256 Credential={self.key.secret_id}/{scope}, "
                                     f"SignedHeaders=content-type;host, Signature={signature}")]
        data = self._request("GET" if get else "POST", "/" + (f"?{query}" if query else ""), headers, body)
        if mutate:
            data = self._mutate_bytes(data)
        return FuzzCase("mutated" if mutate else "tc3", data, True)

    def _mutate_bytes(self, data: bytes) -> bytes:
        head, _, body = data.partition(b"\r\n\r\n")
        if body and self.rng.random() < 0.5:
            index = self.rng.randrange(len(body))
            body = body[:index] + bytes([self.rng.randrange(256)]) + body[index + 1:]
        else:
            target = self.rng.choice([b"Signature=", b"X-TC-Timestamp: ", b"X-TC-Action: ", b"Credential="])
            index = head.find(target)
            if index >= 0:
                index += len(target)
                head = head[:index] + bytes([self.rng.choice(b"0aZ/%")]) + head[index + 1:]
        return head + b"\r\n\r\n" + body

    def _v1(self) -> FuzzCase:
        rng = self.rng
        self._nonce += 1
        params = {_utf8(self._key() + (f".{rng.randrange(3)}" if rng.random() < 0.3 else "")): _utf8(str(self._json_value(3)))
                  for _ in range(rng.randrange(5))}
        method = rng.choice(["GET", "POST"])
        signed = {**params, "Action": rng.choice(ACTIONS), "Version": "2018-03-17", "Region": "ap-guangzhou",
                  "Nonce": str(self._nonce), "Timestamp": str(int(time.time())), "SecretId": self.key.secret_id,
                  "SignatureMethod": rng.choice(["HmacSHA1", "HmacSHA256", "HmacMD5"])}
        text = f"{method}{self.host}/?" + "&".join(f"{k}={signed[k]}" for k in sorted(signed))
        digest = signed["SignatureMethod"] if signed["SignatureMethod"] != "HmacMD5" else "HmacSHA1"
        signed["Signature"] = Sign.sign(self.key.secret_key, text, digest)
        form = urlencode(signed)
        if method == "GET":
            return FuzzCase("v1", self._request("GET", f"/?{form}", [], b""), True)
        headers = [("Content-Type", "application/x-www-form-urlencoded")]
        return FuzzCase("v1", self._request("POST", "/", headers, form.encode()), True)

    def _http(self) -> FuzzCase:
        rng = self.rng
        method, path = rng.choice(METHODS), rng.choice(PATHS)
        headers = [(rng.choice(HEADER_NAMES), rng.choice(HEADER_VALUES + [self._text(30).encode("latin-1", "replace")
                                                                          .decode("latin-1")]))
                   for _ in range(rng.randrange(6))]
        headers = [(name, value) for name, value in headers if name != "Expect"]
        body = rng.choice([b"", self._json_body(), urlencode({"Action": "DescribeQuota", "Nonce": "1"}).encode(),
                           bytes(rng.randrange(256) for _ in range(rng.randrange(300)))])
        if rng.random() < 0.15 and method != "GET":
            chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]) if part)
            head = self._request(method, path, headers + [("Transfer-Encoding", "chunked")], b"")
            head = head.replace(b"Content-Length: 0\r\n", b"")
            return FuzzCase("http", head + chunked + b"0\r\n\r\n", True)
        return FuzzCase("http", self._request(method, path, headers, body), True)

    def _framing(self) -> FuzzCase:
        rng = self.rng
        templates = [
            lambda: f"{self._text(6)} / HTTP/1.1\r\nHost: x\r\n\r\n".encode("utf-8", "surrogatepass"),
            lambda: b"GET / HTTP/" + rng.choice([b"9.9", b"1", b"x", b"1.1 extra"]) + b"\r\n\r\n",
            lambda: b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
            lambda: b"GET / HTTP/1.1\r\nBad\x00Name: 1\r\n\r\n",
            lambda: b"GET / HTTP/1.1\r\nX: " + b"a" * rng.choice([8_000, 9_000, 70_000]) + b"\r\n\r\n",
            lambda: b"GET /" + b"a" * rng.choice([40_000, 1_100_000]) + b" HTTP/1.1\r\n\r\n",
            lambda: b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(rng.choice([100, 129, 300]))) + b"\r\n",
            lambda: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + rng.choice(
                [b"zz\r\n", b"5\r\nab\r\n0\r\n\r\n", b"-1\r\n\r\n", b"ffffffffffffffffff\r\n"]),
            lambda: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            lambda: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + rng.choice([b"-1", b"1e3", b"0x10", b" "]) + b"\r\n\r\n",
            lambda: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            lambda: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            lambda: b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(rng.randrange(256) for _ in range(60)) + b"\r\n\r\n",
            lambda: b"GET / HTTP/1.1\r\nHost: x\r\n folded: header\r\n\r\n",
            lambda: b"GET / HTTP/1.1\nHost: x\n\n",
        ]
        return FuzzCase("framing", rng.choice(templates)(), True)

    def _garbage(self) -> FuzzCase:
        data = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 400)))
        return FuzzCase("garbage", data, False)


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def send(port: int, case: FuzzCase, deadline: float = 5.0) -> bytes:
    """One connection: the case's bytes, then what the server sends until it closes or answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        try:
            sock.sendall(case.data)
            if not case.must_answer:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        received = b""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError, socket.timeout):
                break
            if not chunk:
                break
            received += chunk
            if _complete_final_answer(received):
                break
        return received


def _complete_final_answer(data: bytes) -> bool:
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            return False
        if head.startswith(b"HTTP/1.1 100"):
            data = rest
            continue
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return len(rest) >= length


def check_answers(case: FuzzCase, received: bytes) -> list[str]:
    """What is wrong with the server's bytes for ``case``; empty when they are acceptable."""
    if not received:
        return ["no answer to a complete request"] if case.must_answer else []
    problems = []
    data = received
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            return [f"truncated answer: {received[:120]!r}"]
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ")[1] if " " in lines[0] else "?"
        headers = {n.strip().lower(): v.strip() for n, _, v in (line.partition(":") for line in lines[1:])}
        if status == "100":
            data = rest
            continue
        length = int(headers.get("content-length", "0"))
        body, data = rest[:length], rest[length:]
        connect = case.data.startswith(b"CONNECT ")
        if status != "200" and not (connect and status == "405"):
            problems.append(f"HTTP {status}")
        elif headers.get("content-type") == "application/json; charset=utf-8" and body == b'{"status": "ok"}':
            pass
        elif headers.get("content-type") != "application/json":
            problems.append(f"Content-Type {headers.get('content-type')!r}")
        else:
            problems.extend(_envelope_problems(body))
        break
    return problems


def _envelope_problems(body: bytes) -> list[str]:
    try:
        inner = json.loads(body)["Response"]
    except (ValueError, KeyError, TypeError):
        return [f"not an envelope: {body[:120]!r}"]
    if not isinstance(inner.get("RequestId"), str):
        return ["no RequestId"]
    error = inner.get("Error")
    if error is not None and (set(error) != {"Code", "Message"} or error["Code"] == "InternalError"):
        return [f"bad error {error}"]
    return []
