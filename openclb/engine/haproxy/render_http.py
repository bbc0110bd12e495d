"""HTTP and HTTPS listeners → one HAProxy ``frontend`` each and one ``backend`` per rule (pure).

Routing reproduces ``engine/embedded/routing.py`` rule for rule, so the same request picks
the same rule on both engines. The frontend computes it with ``http-request`` actions before
anything is forwarded:

1. ``txn.host``: the Host header lower-cased, without its port and final dot (HTTP/2's
   ``:authority`` arrives as Host). ``txn.path``: the path percent-decoded; only when it holds
   ``//``, ``/.`` or ``%`` (the embedded fast path's test) are repeated slashes merged and
   ``.``/``..`` segments resolved, by ``regsub`` passes on the variable, never on the request,
   which goes to the target untouched. A path still holding ``..`` after ``DOTDOT_PASSES``
   passes (pathological nesting that could otherwise dodge a rule) gets 400.
2. ``txn.domain``: the first domain pattern that matches, in the embedded precedence:
   exact names, leading wildcards longest first (``-m end``), trailing wildcards longest
   first (``-m beg``), regexes in rule order (``-m reg -i``); else the default server's
   pseudo-domain (every rule of a DefaultServer domain), when there is one.
3. ``txn.rule``: inside that domain, an exact URL (``=``), else the first regex (``~``,
   ``~*`` case-insensitive) in rule order, else the longest prefix. Each action is guarded
   by ``!{ var(txn.rule) -m found }`` first, so the first match wins and later patterns are
   not evaluated.
4. No rule → 404; a rewrite rule → ``http-request redirect`` with the embedded Location
   (``routing.redirect_location``); otherwise the forwarding headers are stamped
   (X-Forwarded-For appended to, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Port,
   X-Client-Proto set, a missing Host gets the VIP; ``option forwardfor if-none`` adds
   X-Forwarded-For when the client sent none) and ``use_backend %[var(txn.rule)]`` goes to
   the rule's backend, named by its location id. A listener every request of which goes to one
   rule (one URL ``/``, every domain the default server's) renders none of this routing: its
   frontend's ``default_backend`` is that rule's.

Backends: the rule's scheduler, health check and real servers as a TCP listener's
(``section_lines``); SessionExpireTime → cookie insertion with the embedded cookie name and
token (``openclb_srv`` or CookieName, blake2b of location and address) re-sent on every
response with Max-Age; ForwardType HTTPS → ``ssl verify none`` to targets, GRPC → ``proto
h2``, GRPCS → both; KeepaliveEnable 0 → ``option http-server-close`` (one target
connection per request), 1 → ``http-reuse always`` (idle target connections are shared by
every client connection, as the embedded pool shares them). A target that refuses gets 502 (HAProxy's 503 for a failed
connect is answered with the embedded 502 page); a rule without targets 503;
TargetResponseTimeout → ``timeout server`` (504); ClientHeadTimeout → ``timeout
http-request`` (408).

HTTPS: ``bind ... ssl crt-list``, one line per certificate. With SNI, one line per rule
domain that has a certificate (default server's first: HAProxy's default certificate is the
first line), with the domain as SNI filter and, per line, ``alpn h2,http/1.1`` when the
rule's Http2 is on and ``ca-file``/``verify`` for mutual TLS. Without SNI, the listener's
certificate on every line, ALPN per domain as the embedded engine offers it. HAProxy's SNI
filters know exact names and one-label leading wildcards only: a listener whose certificate
domains are trailing wildcards or regexes is not rendered (``layer7_renderable``), and a
multi-label name under ``*.example.com`` gets the default certificate.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

from openclb.protocols import ListenerProtocol
from openclb.engine.haproxy.access_log import http_log_lines
from openclb.engine.haproxy.admission import admission_lines
from openclb.engine.haproxy.section_lines import (
    BALANCE, RuntimePaths, address, check_lines, pem_bundle, quote, server_lines,
)
from openclb.engine.spec import ListenerSpec, LoadBalancerState, RedirectSpec, RuleSpec, TlsSpec

DOTDOT_PASSES = 4
DEFAULT_COOKIE_NAME = "openclb_srv"
DEFAULT_DOMAIN = "default"
BAD_GATEWAY_FILE = "bad-gateway.http"
_BAD_GATEWAY_BODY = "<html><body><h1>502 Bad Gateway</h1></body></html>"
BAD_GATEWAY = (f"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: {len(_BAD_GATEWAY_BODY)}\r\n"
               f"connection: close\r\n\r\n{_BAD_GATEWAY_BODY}")
_RENDERED_CHECKS = ("TCP", "HTTP", "HTTPS", "CUSTOM", "PING")
_FORWARD_OPTIONS = {"HTTP": "", "HTTPS": " ssl verify none", "GRPC": " proto h2", "GRPCS": " ssl verify none alpn h2"}
_REDIRECT_CODES = (301, 302, 303, 307, 308)
_PLAIN_SNI = re.compile(r"^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$", re.IGNORECASE)


def layer7_renderable(spec: ListenerSpec) -> bool:
    """Whether HAProxy can serve this HTTP/HTTPS listener exactly as the embedded engine would.

    Left to the embedded engine: H2cSwitch, domains with QUIC on (HTTP/3 shares the listener's
    port in UDP, which HAProxy 2.6 cannot serve), blocked clients (answered 403 per
    request, also by a client-IP header), traffic faults, a customized configuration (body
    limit, added headers, TLS versions or ciphers), GRPC health checks, domain or URL regexes
    Python cannot compile (the embedded router ignores them; HAProxy would refuse the whole
    configuration) or holding a quote or newline, and HTTPS with SNI whose certificate domains
    are not plain names or one-label leading wildcards.
    """
    if spec.protocol not in (ListenerProtocol.HTTP, ListenerProtocol.HTTPS):
        return False
    if (spec.h2c or spec.admission.blocked or spec.traffic_faults
            or spec.max_body_size or spec.added_headers or spec.tls_protocols or spec.tls_ciphers):
        return False
    for rule in spec.rules:
        if rule.quic or rule.max_body_size or rule.added_headers or rule.health_check.check_type.upper() not in _RENDERED_CHECKS:
            return False
        if rule.forward_type.upper() not in _FORWARD_OPTIONS:
            return False
        if rule.redirect is not None and rule.redirect.code not in _REDIRECT_CODES:
            return False
        if not all(_compiles(d[1:]) for d in rule.domains if d.startswith("~")):
            return False
        if rule.url.startswith("~") and not _compiles(rule.url.lstrip("~*")):
            return False
    if spec.protocol is ListenerProtocol.HTTPS:
        if spec.sni:
            certified = [rule for rule in spec.rules if rule.tls is not None]
            if not certified or not all(_usable(rule.tls) for rule in certified):
                return False
            if not all(_PLAIN_SNI.match(domain) for rule in certified for domain in rule.domains):
                return False
        elif not _usable(spec.tls):
            return False
    return True


def _usable(tls: TlsSpec | None) -> bool:
    return tls is not None and any(c.key_pem for c in tls.certificates)


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return "'" not in pattern and "\n" not in pattern


def http_sections(state: LoadBalancerState, spec: ListenerSpec, paths: RuntimePaths,
                  files: dict[Path, str]) -> list[str]:
    """The frontend of ``spec`` and the backends of its rules, blank-line separated."""
    lines = _frontend(state, spec, paths, files)
    for rule in spec.rules:
        if rule.redirect is None:
            lines.append("")
            lines += _backend(spec, rule, paths, files)
    return lines


def _frontend(state: LoadBalancerState, spec: ListenerSpec, paths: RuntimePaths,
              files: dict[Path, str]) -> list[str]:
    https = spec.protocol is ListenerProtocol.HTTPS
    scheme = "https" if https else "http"
    bind = f"bind {address(state.vip, str(spec.port))}"
    if https:
        bind += f" ssl crt-list {_crt_list(spec, paths, files)}"
    lines = [f"frontend {spec.listener_id}", f"    # {state.load_balancer_id} {spec.protocol} {state.vip}:{spec.port}",
             f"    {bind}", "    mode http"]
    lines += [f"    {line}" for line in admission_lines(spec, paths.certs_dir, files)]
    if spec.max_conn > 0:
        lines.append(f"    maxconn {spec.max_conn}")
    if spec.max_cps > 0:
        lines.append(f"    rate-limit sessions {spec.max_cps}")
    lines += [f"    timeout client {spec.idle_timeout}s", f"    timeout http-keep-alive {spec.idle_timeout}s"]
    if spec.client_head_timeout > 0:
        lines.append(f"    timeout http-request {_ms(spec.client_head_timeout)}")
    if spec.access_log is not None and paths.log_address and paths.log_ring_address:
        lines += [f"    {line}" for line in http_log_lines(spec, paths.certs_dir, files, paths.log_address)]
    routing = _routing_lines(spec)
    only = next((r for r in spec.rules if r.redirect is None and routing == [_chosen(r)]), None)
    if only is None:
        lines += [f"    {line}" for line in routing]
        lines.append("    http-request deny deny_status 404 unless { var(txn.rule) -m found }")
    for rule in spec.rules:
        if rule.redirect is not None:
            lines.append(f"    {_redirect_line(rule.location_id, rule.redirect, state.vip)}")
    vip_host = f"[{state.vip}]" if ":" in state.vip else state.vip
    lines += [
        "    option forwardfor if-none",
        "    http-request set-header X-Forwarded-For \"%[req.fhdr(x-forwarded-for)], %[src]\" "
        "if { req.fhdr(x-forwarded-for) -m found }",
        "    http-request set-header X-Real-IP %[src]",
        f"    http-request set-header X-Forwarded-Proto {scheme}",
        f"    http-request set-header X-Forwarded-Port {spec.port}",
        f"    http-request set-header X-Client-Proto {scheme}",
        f"    http-request set-header Host {vip_host} unless {{ req.hdr(host) -m found }}",
        # An h2c upgrade is not served here (H2cSwitch stays embedded): proxied as HTTP/1.1 without it.
        "    http-request del-header HTTP2-Settings",
        "    http-request del-header Upgrade if { req.hdr(upgrade) -i h2c }",
        f"    default_backend {only.location_id}" if only is not None else "    use_backend %[var(txn.rule)]",
    ]
    return lines


def _routing_lines(spec: ListenerSpec) -> list[str]:
    """``http-request`` actions that leave the chosen rule's location id in ``txn.rule``."""
    passes = ",".join(["regsub('/[^/]+/\\.\\./','/',g)", "regsub('/[^/]+/\\.\\.$','/')",
                       "regsub('^/\\.\\./','/')"] * DOTDOT_PASSES)
    host_line = "http-request set-var(txn.host) req.hdr(host),lower,regsub(':[0-9]*$',),regsub('\\.$',)"
    path_lines = [
        "http-request set-var(txn.path) path,url_dec",
        "http-request set-var(txn.path) path,url_dec,regsub('/+','/',g),regsub('/\\./','/',g),"
        f"regsub('/\\./','/',g),regsub('/\\.$','/'),{passes},regsub('^/\\.\\.$','/') "
        "if { path -m sub /. // % }",
        "http-request deny deny_status 400 if { var(txn.path) -m sub /../ } || { var(txn.path) -m end /.. }",
    ]
    groups = _domain_groups(spec.rules)
    default = next((rules for kind, _, rules in groups if kind == "default"), None)
    names = [DEFAULT_DOMAIN if kind == "default" or rules == default else f"d{index}"
             for index, (kind, _, rules) in enumerate(groups)]
    one_domain = all(name == DEFAULT_DOMAIN for name in names)
    orders = {name: _url_order(rules) for name, (_, _, rules) in zip(names, groups)}
    any_path = all(url_match == "-m beg" and url == "/" for order in orders.values() for url_match, url, _ in order)
    lines = [] if any_path else path_lines
    if not one_domain:
        lines.insert(0, host_line)
        for name, (kind, pattern, _) in zip(names, groups):
            guard = "if !{ var(txn.domain) -m found }"
            if kind == "default":
                lines.append(f"http-request set-var(txn.domain) str({name}) {guard}")
                continue
            match = {"exact": "-m str", "leading": "-m end", "trailing": "-m beg", "regex": "-m reg -i"}[kind]
            lines.append(f"http-request set-var(txn.domain) str({name}) {guard} "
                         f"{{ var(txn.host) {match} {quote(pattern)} }}")
    for name, order in orders.items():
        for url_match, url, rule in order:
            conditions = "" if one_domain else f" {{ var(txn.domain) -m str {name} }}"
            if not any_path:
                conditions += f" {{ var(txn.path) {url_match} {quote(url)} }}"
            guard = " !{ var(txn.rule) -m found }" if len(order) > 1 else ""
            lines.append(_chosen(rule) + (f" if{guard}{conditions}" if guard or conditions else ""))
    return lines


def _chosen(rule: RuleSpec) -> str:
    return f"http-request set-var(txn.rule) str({rule.location_id})"


def _domain_groups(rules: tuple[RuleSpec, ...]) -> list[tuple[str, str, list[RuleSpec]]]:
    """(kind, pattern, rules) per domain pattern in the embedded precedence; the default last."""
    by_domain: dict[str, list[RuleSpec]] = {}
    defaults: set[str] = set()
    for rule in rules:
        for domain in rule.domains:
            by_domain.setdefault(domain, []).append(rule)
        if rule.default_server:
            defaults.update(rule.domains)
    exact: dict[str, list[RuleSpec]] = {}
    leading: dict[str, list[RuleSpec]] = {}
    trailing: dict[str, list[RuleSpec]] = {}
    regexes: list[tuple[str, str, list[RuleSpec]]] = []
    for domain, members in by_domain.items():
        if domain.startswith("~"):
            regexes.append(("regex", domain[1:], members))
        elif domain.startswith("*."):
            leading.setdefault(domain[1:].lower(), members)
        elif domain.endswith(".*"):
            trailing.setdefault(domain[:-1].lower(), members)
        else:
            exact.setdefault(_normal_host(domain), members)
    groups = [("exact", host, members) for host, members in exact.items()]
    groups += [("leading", suffix, leading[suffix]) for suffix in sorted(leading, key=lambda s: -len(s))]
    groups += [("trailing", prefix, trailing[prefix]) for prefix in sorted(trailing, key=lambda s: -len(s))]
    groups += regexes
    default_rules = [rule for rule in rules if defaults.intersection(rule.domains)]
    if default_rules:
        groups.append(("default", "", default_rules))
    return groups


def _normal_host(domain: str) -> str:
    host = domain.strip().lower()
    if not host.startswith("[") and host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.removesuffix(".")


def _url_order(rules: list[RuleSpec]) -> list[tuple[str, str, RuleSpec]]:
    """(match flags, pattern, rule) of one domain's rules: exact, regexes in order, longest prefix."""
    exact: dict[str, RuleSpec] = {}
    regexes: list[tuple[str, str, RuleSpec]] = []
    prefixes: dict[str, RuleSpec] = {}
    for rule in rules:
        url = rule.url
        if url.startswith("="):
            exact.setdefault(url[1:], rule)
        elif url.startswith("~*"):
            regexes.append(("-m reg -i", url[2:], rule))
        elif url.startswith("~"):
            regexes.append(("-m reg", url[1:], rule))
        else:
            prefixes.setdefault(url, rule)
    ordered = [("-m str", url, rule) for url, rule in exact.items()] + regexes
    return ordered + [("-m beg", url, prefixes[url]) for url in sorted(prefixes, key=lambda u: -len(u))]


def _redirect_line(location_id: str, redirect: RedirectSpec, vip: str) -> str:
    """``routing.redirect_location`` as a HAProxy log-format Location."""
    scheme = redirect.scheme.lower()
    if redirect.host:
        host = _literal(f"[{redirect.host}]" if ":" in redirect.host and not redirect.host.startswith("[")
                        else redirect.host)
    else:
        host = "%[req.hdr(host),regsub(:[0-9]*$,)]"
    port = "" if {"http": 80, "https": 443}.get(scheme) == redirect.port else f":{redirect.port}"
    path = redirect.path if redirect.path.startswith("/") else "/"
    location = f"{scheme}://{host}{port}"
    location += _literal(path.rstrip("/")) + "%[pathq]" if redirect.take_url else _literal(path)
    condition = f"if {{ var(txn.rule) -m str {location_id} }}"
    if redirect.host:
        return f"http-request redirect location {quote(location)} code {redirect.code} {condition}"
    vip_host = f"[{vip}]" if ":" in vip else vip
    with_vip = location.replace(host, vip_host, 1)
    return (f"http-request redirect location {quote(location)} code {redirect.code} {condition} "
            f"{{ req.hdr(host) -m found }}\n    http-request redirect location {quote(with_vip)} "
            f"code {redirect.code} {condition}")


def _literal(text: str) -> str:
    """Text inside a log-format string: ``%`` doubled so nothing is evaluated."""
    return text.replace("%", "%%")


def _backend(spec: ListenerSpec, rule: RuleSpec, paths: RuntimePaths, files: dict[Path, str]) -> list[str]:
    domains = ",".join(rule.domains)
    lines = [f"backend {rule.location_id}", f"    # {spec.listener_id} {domains} {rule.url}", "    mode http"]
    lines += [f"    {line}" for line in BALANCE[rule.scheduler]]
    timeout = _ms(spec.target_response_timeout) if spec.target_response_timeout > 0 else f"{spec.idle_timeout}s"
    lines.append(f"    timeout server {timeout}")
    lines.append("    http-reuse always" if spec.keepalive else "    option http-server-close")
    if rule.targets:
        path = paths.certs_dir / BAD_GATEWAY_FILE
        files[path] = BAD_GATEWAY
        lines.append(f"    errorfile 503 {path}")
    cookie = (rule.cookie_name or DEFAULT_COOKIE_NAME) if rule.session_expire_time > 0 else ""
    if cookie:
        lines.append(f"    cookie {quote(cookie)} insert httponly attr 'Max-Age={rule.session_expire_time}'")
    check = rule.health_check
    if check.enabled:
        lines.append("    option allbackups")
        lines += [f"    {line}" for line in check_lines(check)]
    as_listener = replace(spec, end_port=0, targets=rule.targets, health_check=check, proxy_protocol=False)
    extra = _FORWARD_OPTIONS[rule.forward_type.upper()]
    for target in rule.targets:
        own = extra + (f" cookie {_cookie_token(rule.location_id, target.ip, target.port)}" if cookie else "")
        lines += [f"    {line}{own}" for line in server_lines(as_listener, target)]
    return lines


def _cookie_token(location_id: str, ip: str, port: int) -> str:
    """The embedded engine's token (``http_listener.RuleState._token``): a client pinned by one
    engine stays pinned by the other."""
    return hashlib.blake2b(f"{location_id}|{ip}:{port}".encode(), digest_size=8).hexdigest()


def _crt_list(spec: ListenerSpec, paths: RuntimePaths, files: dict[Path, str]) -> Path:
    """Write the listener's certificates and crt-list; the crt-list's path."""
    ordered = sorted(spec.rules, key=lambda rule: not rule.default_server)
    if spec.sni:
        entries = [(rule.tls, rule.http2, rule.domains) for rule in ordered if rule.tls is not None]
    elif any(rule.http2 for rule in spec.rules):
        entries = [(spec.tls, rule.http2, rule.domains) for rule in ordered]
    else:
        entries = [(spec.tls, False, ())]
    pem_paths: dict[tuple[str, str], Path] = {}
    lines = []
    seen: set[str] = set()
    for index, (tls, http2, domains) in enumerate(entries):
        # A domain's first entry wins, as in the embedded DomainTable; a later entry left with no
        # filter would take the certificate's own names as filters, so it is not written.
        names = [d.lower() for d in domains if _PLAIN_SNI.match(d) and d.lower() not in seen]
        seen.update(names)
        if index and not names:
            continue
        options = f"alpn {'h2,http/1.1' if http2 else 'http/1.1'}"
        if tls.ca_pem:
            ca = paths.certs_dir / f"{spec.listener_id}-ca-{_digest(tls.ca_pem)}.pem"
            files[ca] = pem_bundle(tls.ca_pem)
            options += f" ca-file {ca} verify {'optional' if tls.verify_client.upper() == 'OPTIONAL' else 'required'}"
        filters = " ".join(names)
        for certificate in (c for c in tls.certificates if c.key_pem):
            key = (certificate.cert_pem, certificate.key_pem)
            if key not in pem_paths:
                pem_paths[key] = paths.certs_dir / f"{spec.listener_id}-{len(pem_paths)}.pem"
                files[pem_paths[key]] = pem_bundle(certificate.cert_pem, certificate.key_pem)
            lines.append(f"{pem_paths[key]} [{options}]{' ' + filters if filters else ''}")
    crt_list = paths.certs_dir / f"{spec.listener_id}.crt-list"
    files[crt_list] = "".join(line + "\n" for line in lines)
    return crt_list


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"
