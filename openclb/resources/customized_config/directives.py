"""The nginx-style directives of a customized configuration, and what each does here.

A configuration's content is ``name arguments;`` statements (``client_max_body_size 100M;``),
as the CLB accepts them. Those with an equivalent in openclb's engines are applied to the CLB
they are bound to (each of its HTTP/HTTPS listeners); any other directive is refused with
InvalidParameterValue naming it, never kept and ignored. The list is docs/customized-config.md's:

- ``client_max_body_size SIZE`` (k/m/g suffixes; 0 = no limit): a request whose Content-Length
  is larger gets 413 from the load balancer.
- ``add_header NAME VALUE``: added to every response a target gives (nginx's default: not to
  the load balancer's own error responses); repeatable.
- ``proxy_read_timeout TIME``: a target silent this long while it owes a response → 504.
- ``client_header_timeout TIME``: a client slower than this with a request head → 408.
- ``keepalive_timeout TIME``: a client connection idle this long between requests is closed.
- ``ssl_protocols VERSION...`` (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3): the versions an HTTPS
  listener's handshakes may negotiate.
- ``ssl_ciphers LIST``: an OpenSSL cipher list for TLS 1.2 and below (refused if OpenSSL knows
  none of it).

TIME is seconds, or nginx's units (``ms``, ``s``, ``m``, ``h``); openclb's engines keep whole
seconds (at least 1).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass

from openclb import errors

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_TIME_UNITS = {"ms": 0.001, "": 1, "s": 1, "m": 60, "h": 3600}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
MAX_CONTENT = 4096


@dataclass(frozen=True)
class Directives:
    """What a configuration sets; None: left as the listener has it."""

    max_body_size: int | None = None
    added_headers: tuple[tuple[str, str], ...] = ()
    target_response_timeout: int | None = None
    client_head_timeout: int | None = None
    idle_timeout: int | None = None
    tls_protocols: tuple[str, ...] | None = None
    tls_ciphers: str | None = None


def parse(content: str) -> Directives:
    """The directives of ``content``; InvalidParameterValue names the first it cannot apply."""
    if len(content) > MAX_CONTENT:
        raise errors.InvalidParameterValueLength(f"`ConfigContent` is longer than {MAX_CONTENT} characters.")
    statements = [s.strip() for s in content.split(";")]
    if statements and statements[-1]:
        raise errors.InvalidParameterValue(
            f"The customized configuration statement `{statements[-1]}` does not end with `;`.")
    values: dict = {"added_headers": []}
    for statement in statements[:-1]:
        if not statement:
            continue
        name, *args = statement.split()
        apply = _APPLIERS.get(name)
        if apply is None:
            raise errors.InvalidParameterValue(
                f"The directive `{name}` is not supported by this load balancer (supported: {', '.join(_APPLIERS)}).")
        apply(values, name, args)
    values["added_headers"] = tuple(values["added_headers"])
    return Directives(**values)


def _one(name: str, args: list[str]) -> str:
    if len(args) != 1:
        raise errors.InvalidParameterValue(f"The directive `{name}` takes one value.")
    return args[0]


def _size(values: dict, name: str, args: list[str]) -> None:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", _one(name, args))
    if match is None:
        raise errors.InvalidParameterValue(f"The size `{args[0]}` of `{name}` is not a size such as 100M.")
    values["max_body_size"] = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def _seconds(field_name: str):
    def apply(values: dict, name: str, args: list[str]) -> None:
        match = re.fullmatch(r"(\d+)(ms|s|m|h)?", _one(name, args))
        if match is None:
            raise errors.InvalidParameterValue(f"The time `{args[0]}` of `{name}` is not a time such as 60s.")
        values[field_name] = max(1, round(int(match.group(1)) * _TIME_UNITS[match.group(2) or ""]))
    return apply


def _header(values: dict, name: str, args: list[str]) -> None:
    if len(args) < 2 or not _HEADER_NAME.match(args[0]):
        raise errors.InvalidParameterValue(f"The directive `{name}` takes a header name and a value.")
    text = " ".join(args[1:]).strip('"')
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in text):
        raise errors.InvalidParameterValue(f"The value of `{name} {args[0]}` must not hold control characters.")
    values["added_headers"].append((args[0], text))


def _protocols(values: dict, name: str, args: list[str]) -> None:
    unknown = [arg for arg in args if arg not in _TLS_VERSIONS]
    if not args or unknown:
        raise errors.InvalidParameterValue(
            f"`{name}` takes TLS versions among {', '.join(_TLS_VERSIONS)}; not {', '.join(unknown) or 'none'}.")
    values["tls_protocols"] = tuple(sorted(set(args), key=_TLS_VERSIONS.index))


def _ciphers(values: dict, name: str, args: list[str]) -> None:
    ciphers = _one(name, args)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(ciphers)
    except ssl.SSLError:
        raise errors.InvalidParameterValue(f"No cipher of `{name} {ciphers}` is known to this load balancer.") from None
    values["tls_ciphers"] = ciphers


_TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")

_APPLIERS = {
    "client_max_body_size": _size,
    "add_header": _header,
    "proxy_read_timeout": _seconds("target_response_timeout"),
    "client_header_timeout": _seconds("client_head_timeout"),
    "keepalive_timeout": _seconds("idle_timeout"),
    "ssl_protocols": _protocols,
    "ssl_ciphers": _ciphers,
}
