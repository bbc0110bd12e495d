"""Layer-7 routing without sockets: domain and URL precedence, default server, redirects, cookies."""

from __future__ import annotations

import pytest

from openclb.engine.spec import RedirectSpec, RuleSpec, TargetSpec
from openclb.engine.embedded.http_listener import DEFAULT_COOKIE_NAME, RuleState
from openclb.engine.embedded.http_headers import (
    cookie_value, forward_request, forward_response_head, forwarding_stamps,
)
from openclb.engine.embedded.listener import ListenerSettings
from openclb.engine.embedded.routing import (
    DomainTable, RedirectRequest, Router, UrlTable, normalize_host, normalize_path, redirect_location, split_target,
)


def rule(location_id: str, domains, url: str = "/", **extra) -> RuleSpec:
    return RuleSpec(location_id, tuple([domains] if isinstance(domains, str) else domains), url, **extra)


def router(*rules: RuleSpec) -> Router:
    return Router([(r, r.location_id) for r in rules])


# Domains -------------------------------------------------------------------------------


@pytest.mark.parametrize("host, expected", [
    ("www.example.com", "exact"),
    ("api.example.com", "leading-short"),
    ("x.api.example.com", "leading-long"),
    ("foo.example.com", "leading-short"),
    ("www.example.org", "trailing"),
    ("www7.other.net", "regex"),
    ("example.com", None),
    ("nothing.test", None),
])
def test_domain_table_lookup_precedence_exact_then_wildcards_then_regex(host, expected):
    table = DomainTable([
        ("~^www\\d+\\.other\\.net$", "regex"),
        ("*.example.com", "leading-short"),
        ("www.example.*", "trailing"),
        ("*.api.example.com", "leading-long"),
        ("www.example.com", "exact"),
    ])
    assert table.lookup(host) == expected


def test_domain_table_lookup_leading_wildcard_before_trailing_wildcard():
    table = DomainTable([("www.example.*", "trailing"), ("*.example.com", "leading")])
    assert table.lookup("www.example.com") == "leading"


def test_domain_table_lookup_regexes_in_rule_order_first_match_wins():
    table = DomainTable([("~^a", "first"), ("~^ab", "second")])
    assert table.lookup("abc.test") == "first"


def test_domain_table_lookup_case_insensitive_names_and_regexes():
    table = DomainTable([("WWW.Example.COM", "exact"), ("~^API\\.", "regex")])
    assert table.lookup(normalize_host("www.EXAMPLE.com:8080")) == "exact"
    assert table.lookup("api.test") == "regex"


def test_domain_table_lookup_repeated_host_uses_bounded_cache():
    table = DomainTable([("*.example.com", "x")])
    for index in range(2000):
        assert table.lookup(f"h{index}.example.com") == "x"
    assert len(table._cache) <= 512


@pytest.mark.parametrize("raw, host", [
    ("Example.COM", "example.com"),
    ("example.com:8080", "example.com"),
    ("example.com.", "example.com"),
    ("[::1]:443", "[::1]"),
    ("127.0.0.1:80", "127.0.0.1"),
])
def test_normalize_host_port_case_and_final_dot_dropped(raw, host):
    assert normalize_host(raw) == host


# URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path, expected", [
    ("/", "exact-root"),
    ("/index.html", "root"),
    ("/api", "api"),
    ("/api/v1/users", "api-v1"),
    ("/api/v2", "api"),
    ("/img/logo.PNG", "png-any-case"),
    ("/api/v1/logo.png", "png-any-case"),
    ("/static/app.js", "js"),
    ("/static/app.JS", "root"),
    ("/login", "login"),
    ("/login/x", "root"),
])
def test_url_table_lookup_exact_then_regex_then_longest_prefix(path, expected):
    table = UrlTable([
        ("/", "root"),
        ("=/", "exact-root"),
        ("/api", "api"),
        ("/api/v1", "api-v1"),
        ("~*\\.png$", "png-any-case"),
        ("~\\.js$", "js"),
        ("=/login", "login"),
    ])
    assert table.lookup(path) == expected


def test_url_table_lookup_no_rule_matches_none():
    assert UrlTable([("/api", "api"), ("=/x", "x")]).lookup("/other") is None


@pytest.mark.parametrize("raw, normalized", [
    ("/a/b", "/a/b"),
    ("/x/../admin", "/admin"),
    ("//admin//panel", "/admin/panel"),
    ("/%61dmin", "/admin"),
    ("/a/./b/", "/a/b/"),
    ("/..", "/"),
])
def test_normalize_path_dot_segments_slashes_and_escapes_resolved(raw, normalized):
    assert normalize_path(raw) == normalized


@pytest.mark.parametrize("target, expected", [
    ("/a?b=1", ("", "/a?b=1")),
    ("http://example.com/x?y", ("example.com", "/x?y")),
    ("http://user@example.com:81", ("example.com:81", "/")),
    ("*", ("", "*")),
])
def test_split_target_origin_and_absolute_forms(target, expected):
    assert split_target(target) == expected


# Routers -------------------------------------------------------------------------------


def test_router_route_exact_domain_beats_wildcard_and_url_rules_apply_within_it():
    routes = router(
        rule("wild-root", "*.example.com", "/"),
        rule("www-root", "www.example.com", "/", default_server=True),
        rule("www-api", "www.example.com", "/api"),
    )
    assert routes.route("www.example.com", "/api/v1/x?q=1") == "www-api"
    assert routes.route("www.example.com", "/") == "www-root"
    assert routes.route("shop.example.com", "/api") == "wild-root"


def test_router_route_unknown_host_goes_to_default_domain_rules():
    routes = router(
        rule("first", "first.test", "/", default_server=True),
        rule("first-api", "first.test", "/api"),
        rule("second", "second.test", "/"),
    )
    assert routes.route("unknown.test", "/api/x") == "first-api"
    assert routes.route("", "/") == "first"


def test_router_route_unknown_host_default_domain_without_matching_url_none():
    routes = router(rule("first", "first.test", "/api", default_server=True), rule("second", "second.test", "/"))
    assert routes.route("unknown.test", "/other") is None


def test_router_route_unknown_host_without_default_server_none():
    routes = router(rule("only", "only.test", "/"))
    assert routes.route("unknown.test", "/") is None


def test_router_route_matched_domain_without_matching_url_does_not_fall_back():
    routes = router(rule("default", "default.test", "/", default_server=True), rule("api", "api.test", "/api"))
    assert routes.route("api.test", "/other") is None


def test_router_route_rule_with_several_domains_answers_each():
    routes = router(rule("multi", ("a.test", "*.b.test"), "/"))
    assert routes.route("a.test", "/") == routes.route("x.b.test", "/") == "multi"


def test_router_route_default_flag_on_one_rule_covers_its_whole_domain():
    routes = router(rule("root", "d.test", "/", default_server=True), rule("api", "d.test", "/api"))
    assert routes.route("other.test", "/api/1") == "api"


def test_router_route_fifty_rules_each_reachable():
    rules = [rule(f"loc-{i}", f"d{i}.test", f"/p{i}", default_server=(i == 0)) for i in range(50)]
    routes = router(*rules)
    assert [routes.route(f"d{i}.test", f"/p{i}/x") for i in range(50)] == [f"loc-{i}" for i in range(50)]


# Redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("redirect, request_, location", [
    (RedirectSpec(301, "https", 443), RedirectRequest("a.test", "/x?y=1", "127.0.0.9"), "https://a.test/x?y=1"),
    (RedirectSpec(301, "https", 8443), RedirectRequest("a.test:8080", "/x", "v"), "https://a.test:8443/x"),
    (RedirectSpec(302, "https", 443, take_url=False), RedirectRequest("a.test", "/x?y", "v"), "https://a.test/"),
    (RedirectSpec(307, "http", 80, host="b.test", path="/new", take_url=False),
     RedirectRequest("a.test", "/old?q", "v"), "http://b.test/new"),
    (RedirectSpec(301, "https", 443, path="/new"), RedirectRequest("a.test", "/old?q", "v"), "https://a.test/new/old?q"),
    (RedirectSpec(301, "https", 443), RedirectRequest("", "/p", "127.0.0.9"), "https://127.0.0.9/p"),
    (RedirectSpec(301, "http", 443), RedirectRequest("a.test", "/", "v"), "http://a.test:443/"),
    (RedirectSpec(301, "https", 443), RedirectRequest("[::1]:80", "/", "v"), "https://[::1]/"),
])
def test_redirect_location_scheme_host_port_and_path_as_documented(redirect, request_, location):
    assert redirect_location(redirect, request_) == location


# Persistence and headers ---------------------------------------------------------------


def _rule_state(**extra) -> tuple[RuleState, dict]:
    health: dict = {}
    settings = ListenerSettings(health_view=lambda key, ip, port: health.get((key, ip, port), True))
    spec = rule("loc-p", "p.test", "/", targets=(TargetSpec("10.0.0.1", 80), TargetSpec("10.0.0.2", 80)),
                session_expire_time=60, **extra)
    return RuleState(spec, settings, None), health


def test_rule_state_cookie_names_target_and_pins_it_while_eligible():
    state, health = _rule_state()
    first = state.pick("1.1.1.1", 0.0)
    cookie = state.set_cookie(first)
    name, _, rest = cookie.partition(b"=")
    token = rest.split(b";")[0]
    assert name == DEFAULT_COOKIE_NAME.encode()
    assert b"Max-Age=60" in cookie and b"10.0.0" not in cookie
    assert all(state.pinned(token) is first for _ in range(5))
    health[("loc-p", first.ip, first.port)] = False
    assert state.pinned(token) is None


def test_rule_state_cookie_of_removed_or_drained_target_ignored():
    state, _ = _rule_state(cookie_name="SRV")
    target = state.pick("1.1.1.1", 0.0)
    token = state.set_cookie(target).split(b";")[0].partition(b"=")[2]
    assert state.set_cookie(target).startswith(b"SRV=")
    drained = tuple(TargetSpec(t.ip, t.port, 0 if t.ip == target.ip else 10) for t in state.spec.targets)
    state.update(RuleSpec(**{**state.spec.__dict__, "targets": drained}), state)
    assert state.pinned(token) is None
    assert state.pinned(b"forged") is None


def test_cookie_value_found_among_several_cookies():
    assert cookie_value(b"a=1; openclb_srv=abc ; b=2", b"openclb_srv") == b"abc"
    assert cookie_value(b"a=1", b"openclb_srv") is None
    assert cookie_value(None, b"x") is None


def test_forward_request_hop_by_hop_dropped_forwarding_headers_set():
    forwarded = forward_request([
        (b"host", b"a.test"), (b"connection", b"keep-alive, x-hop"), (b"x-hop", b"1"), (b"te", b"trailers"),
        (b"x-forwarded-for", b"203.0.113.1"), (b"x-real-ip", b"6.6.6.6"), (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-port", b"1"), (b"x-client-proto", b"https"),
        (b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"accept", b"*/*"),
    ], b"10.0.0.9", forwarding_stamps(b"http", 8080), b"127.0.0.5", keepalive=False)
    assert forwarded.headers == [
        (b"host", b"a.test"), (b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"accept", b"*/*"),
        (b"x-forwarded-for", b"203.0.113.1, 10.0.0.9"), (b"x-real-ip", b"10.0.0.9"),
        (b"x-forwarded-proto", b"http"), (b"x-forwarded-port", b"8080"), (b"x-client-proto", b"http"),
        (b"connection", b"close"),
    ]
    assert (forwarded.host, forwarded.cookie, forwarded.body_expected) == (b"a.test", b"a=1; b=2", False)


def test_forward_request_upgrade_kept_and_both_framings_keep_only_chunked():
    upgrade = forward_request([(b"host", b"w"), (b"connection", b"Upgrade"), (b"upgrade", b"websocket")],
                              b"1.1.1.1", forwarding_stamps(b"https", 443), b"v", keepalive=True)
    assert upgrade.headers[-2:] == [(b"connection", b"upgrade"), (b"upgrade", b"websocket")]
    smuggle = forward_request([(b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
                              b"1.1.1.1", forwarding_stamps(b"http", 80), b"127.0.0.5", keepalive=True)
    names = [name for name, _ in smuggle.headers]
    assert b"content-length" not in names and b"transfer-encoding" in names
    assert (b"host", b"127.0.0.5") in smuggle.headers and smuggle.body_expected


def test_response_headers_hop_by_hop_and_connection_named_removed():
    forwarded = forward_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, x-secret\r\n"
        b"Keep-Alive: timeout=5\r\nX-Secret: 1\r\nContent-Length: 3\r\n\r\n")
    assert forwarded.lines == b"content-type: text/plain\r\ncontent-length: 3\r\n"
    assert forwarded.has_length and not forwarded.chunked


def test_response_head_common_connection_line_cut_rest_kept_verbatim():
    forwarded = forward_response_head(
        b"HTTP/1.0 200 OK\r\nServer: nginx\r\nConnection: keep-alive\r\nContent-Length: 41\r\n\r\n")
    assert forwarded.status_line == b"HTTP/1.1 200 OK"
    assert forwarded.lines == b"Server: nginx\r\nContent-Length: 41\r\n"


def test_response_head_transfer_coding_ending_in_chunked_reported_as_chunked():
    assert forward_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").chunked
    forwarded = forward_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nA: 1\r\n\r\n")
    assert not forwarded.chunked
    assert forwarded.without(b"transfer-encoding") == b"A: 1\r\n"
