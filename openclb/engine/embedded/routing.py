"""Layer-7 routing, sans-IO: which forwarding rule a request belongs to, and where redirects point.

Nothing here touches sockets or the clock; the HTTP proxy asks, the unit tests ask.

Domain precedence (the real CLB's, which is nginx's ``server_name``):
1. an exact name (case-insensitive);
2. the longest leading wildcard (``*.example.com`` matches ``a.example.com`` and
   ``a.b.example.com``, never ``example.com``);
3. the longest trailing wildcard (``www.example.*`` matches ``www.example.com``);
4. the first regular expression (``~pattern``, searched case-insensitively) in rule order.
A Host that matches no domain goes to the *default server*: the domain whose rules carry
``default_server`` (the control plane marks the listener's first domain). With no default
server such a request matches nothing, and the proxy answers 404.

URL precedence inside the chosen domain (nginx's ``location``, the real CLB's):
1. an exact URL (``=/path``);
2. otherwise the longest matching prefix (``/path``) is remembered, then the regular
   expressions (``~re`` case-sensitive, ``~*re`` case-insensitive, searched) are tried in
   rule order and the first that matches wins;
3. otherwise the remembered prefix.
So regular-expression rules can carve out of a catch-all ``/``: with the literal reading
"prefix before regex", a ``/`` rule would make every regex rule unreachable, which the real
CLB's documented example (``~* \\.png$`` next to ``/``) contradicts. A request whose domain
matched but whose URL matches no rule of it matches nothing (404); it does not fall back
to the default server.

Paths are matched decoded and normalised (percent-decoding, ``.``/``..`` segments, repeated
slashes) as nginx does, so ``/x/../admin`` cannot dodge an ``/admin`` rule; the request is
forwarded with its original target untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

from openclb.engine.spec import RedirectSpec, RuleSpec

V = TypeVar("V")

_HOST_CACHE_SIZE = 512


def normalize_host(host: str) -> str:
    """A Host header or SNI name as the domain tables compare it: lower case, no port, no final dot."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    colon = host.rfind(":")
    if colon >= 0 and host.count(":") == 1:
        host = host[:colon]
    return host[:-1] if host.endswith(".") else host


def normalize_path(path: str) -> str:
    """The path part of a request target, decoded and normalised for matching."""
    if "%" in path:
        path = unquote(path, errors="surrogateescape")
    if "//" not in path and "/." not in path:
        return path
    segments: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    joined = "/" + "/".join(segments)
    return joined + "/" if trailing and segments else joined


def split_target(target: str) -> tuple[str, str]:
    """A request target → (host from the absolute form or "", path with query)."""
    if target.startswith("/") or target == "*":
        return "", target
    scheme_end = target.find("://")
    if scheme_end < 0:
        return "", target
    rest = target[scheme_end + 3:]
    slash = rest.find("/")
    query = rest.find("?")
    cut = min(i for i in (slash, query, len(rest)) if i >= 0)
    authority, path = rest[:cut], rest[cut:]
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    return authority, path if path.startswith("/") else "/" + path


class DomainTable(Generic[V]):
    """Domain patterns → values, looked up with the CLB's domain precedence.

    The first value given for a domain wins. Lookups are cached per normalised host
    (bounded, since hosts come from clients).
    """

    def __init__(self, entries: Iterable[tuple[str, V]]) -> None:
        self._exact: dict[str, V] = {}
        leading: dict[str, V] = {}
        trailing: dict[str, V] = {}
        self._regexes: list[tuple[re.Pattern, V]] = []
        seen: set[str] = set()
        for domain, value in entries:
            if domain in seen:
                continue
            seen.add(domain)
            if domain.startswith("~"):
                try:
                    self._regexes.append((re.compile(domain[1:], re.IGNORECASE), value))
                except re.error:
                    continue
            elif domain.startswith("*."):
                leading.setdefault(domain[1:].lower(), value)
            elif domain.endswith(".*"):
                trailing.setdefault(domain[:-1].lower(), value)
            else:
                self._exact.setdefault(normalize_host(domain), value)
        self._leading = sorted(leading.items(), key=lambda item: -len(item[0]))
        self._trailing = sorted(trailing.items(), key=lambda item: -len(item[0]))
        self._cache: dict[str, V | None] = {}

    def __bool__(self) -> bool:
        return bool(self._exact or self._leading or self._trailing or self._regexes)

    def lookup(self, host: str) -> V | None:
        """The value for an already normalised host, or None."""
        cache = self._cache
        if host in cache:
            return cache[host]
        found = self._find(host)
        if len(cache) >= _HOST_CACHE_SIZE:
            cache.clear()
        cache[host] = found
        return found

    def _find(self, host: str) -> V | None:
        found = self._exact.get(host)
        if found is not None:
            return found
        for suffix, value in self._leading:
            if host.endswith(suffix) and len(host) > len(suffix):
                return value
        for prefix, value in self._trailing:
            if host.startswith(prefix) and len(host) > len(prefix):
                return value
        for pattern, value in self._regexes:
            if pattern.search(host):
                return value
        return None


class UrlTable(Generic[V]):
    """URL patterns of one domain → values, looked up with the CLB's URL precedence."""

    def __init__(self, entries: Iterable[tuple[str, V]]) -> None:
        self._exact: dict[str, V] = {}
        prefixes: dict[str, V] = {}
        self._regexes: list[tuple[re.Pattern, V]] = []
        for url, value in entries:
            if url.startswith("="):
                self._exact.setdefault(url[1:], value)
            elif url.startswith("~*"):
                self._add_regex(url[2:], re.IGNORECASE, value)
            elif url.startswith("~"):
                self._add_regex(url[1:], 0, value)
            else:
                prefixes.setdefault(url, value)
        self._prefixes = sorted(prefixes.items(), key=lambda item: -len(item[0]))

    def _add_regex(self, pattern: str, flags: int, value: V) -> None:
        try:
            self._regexes.append((re.compile(pattern, flags), value))
        except re.error:
            pass

    def lookup(self, path: str) -> V | None:
        """The value for a normalised path (no query), or None."""
        if self._exact:
            found = self._exact.get(path)
            if found is not None:
                return found
        prefix_match = None
        for prefix, value in self._prefixes:
            if path.startswith(prefix):
                prefix_match = value
                break
        for pattern, value in self._regexes:
            if pattern.search(path):
                return value
        return prefix_match


class Router(Generic[V]):
    """A listener's rules → the value (the proxy's per-rule state) a request is routed to.

    ``entries`` pairs each rule with its value; a rule with several domains answers each.
    """

    def __init__(self, entries: Sequence[tuple[RuleSpec, V]]) -> None:
        by_domain: dict[str, list[tuple[str, V]]] = {}
        default_domains: set[str] = set()
        for rule, value in entries:
            for domain in rule.domains:
                by_domain.setdefault(domain, []).append((rule.url, value))
            if rule.default_server:
                default_domains.update(rule.domains)
        self.domains: DomainTable[UrlTable[V]] = DomainTable(
            (domain, UrlTable(urls)) for domain, urls in by_domain.items())
        # Every rule of a default domain serves unmatched Hosts, whichever rule carries the flag.
        default = [(rule.url, value) for rule, value in entries if default_domains.intersection(rule.domains)]
        self.default: UrlTable[V] | None = UrlTable(default) if default else None

    def route(self, host: str, path: str) -> V | None:
        """The value for a request to normalised ``host`` and raw ``path`` (query allowed)."""
        urls = self.domains.lookup(host) if host else None
        if urls is None:
            urls = self.default
            if urls is None:
                return None
        query = path.find("?")
        if query >= 0:
            path = path[:query]
        return urls.lookup(normalize_path(path))


@dataclass(frozen=True)
class RedirectRequest:
    """What a redirect's Location is built from: the request's Host and target, the listener's VIP."""

    host: str
    target: str
    vip: str


_DEFAULT_PORTS = {"http": 80, "https": 443}


def redirect_location(redirect: RedirectSpec, request: RedirectRequest) -> str:
    """The Location a rewrite rule answers with.

    ``{scheme}://{host}{:port}{path}`` where
    - scheme is the target listener's protocol (``http``/``https``);
    - host is the target rule's domain when it is a plain name, otherwise the request's Host
      without its port (the VIP when the request had no Host);
    - ``:port`` is the target listener's port, left out when it is the scheme's default;
    - path is the target rule's URL (``/`` when it is not a plain path); with TakeUrl the
      request's original path and query are appended to it (``/`` + ``/a?b`` → ``/a?b``,
      ``/new`` + ``/a?b`` → ``/new/a?b``); without TakeUrl the query is dropped.
    """
    scheme = redirect.scheme.lower()
    host = redirect.host or _host_without_port(request.host) or request.vip
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = "" if _DEFAULT_PORTS.get(scheme) == redirect.port else f":{redirect.port}"
    path = redirect.path if redirect.path.startswith("/") else "/"
    if redirect.take_url:
        _, original = split_target(request.target)
        if not original.startswith("/"):
            original = "/" + original
        path = path.rstrip("/") + original
    return f"{scheme}://{host}{port}{path}"


def _host_without_port(host: str) -> str:
    host = host.strip()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host
