"""The customized-configuration directives openclb applies, and the ones it refuses by name."""

from __future__ import annotations

import pytest

from openclb import errors
from openclb.resources.customized_config.directives import Directives, parse


def test_parse_supported_directives_give_their_values():
    parsed = parse('client_max_body_size 100M;\nadd_header X-A "one two";\nadd_header X-B b;\n'
                   "proxy_read_timeout 2m; client_header_timeout 1500ms; keepalive_timeout 75s;")
    assert parsed == Directives(max_body_size=100 * 1024**2, added_headers=(("X-A", "one two"), ("X-B", "b")),
                                target_response_timeout=120, client_head_timeout=2, idle_timeout=75)


def test_parse_empty_content_sets_nothing():
    assert parse("") == Directives()


@pytest.mark.parametrize("content, named", [
    ("gzip on;", "gzip"),
    ("client_max_body_size 1M; proxy_buffering off;", "proxy_buffering"),
])
def test_parse_unsupported_directive_refused_naming_it(content, named):
    with pytest.raises(errors.InvalidParameterValue) as caught:
        parse(content)
    assert f"`{named}`" in caught.value.message


@pytest.mark.parametrize("content", [
    "client_max_body_size 1M", "client_max_body_size lots;", "proxy_read_timeout soon;", "add_header X-Only;",
    "add_header Bad:Name v;", "keepalive_timeout 1s 2s;",
])
def test_parse_malformed_statement_refused(content):
    with pytest.raises(errors.InvalidParameterValue):
        parse(content)


def test_parse_ssl_protocols_and_ciphers():
    parsed = parse("ssl_protocols TLSv1.3 TLSv1.2; ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256;")
    assert (parsed.tls_protocols, parsed.tls_ciphers) == (("TLSv1.2", "TLSv1.3"), "ECDHE-RSA-AES128-GCM-SHA256")


@pytest.mark.parametrize("content", ["ssl_protocols SSLv3;", "ssl_ciphers NOT-A-CIPHER;"])
def test_parse_unknown_tls_values_refused(content):
    with pytest.raises(errors.InvalidParameterValue):
        parse(content)
