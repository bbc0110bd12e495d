"""Which domains of a listener serve HTTP/3, and how their responses advertise it.

Pure functions of the spec, shared by the HTTP/1.1 and HTTP/2 side (``http_listener``: the
``Alt-Svc`` header) and the QUIC side (``http3``: whether the UDP socket is open), so the two
never disagree. A domain serves HTTP/3 when its rule has Quic on, the listener is HTTPS and the
domain's certificate (the rule's on SNI listeners, else the listener's) asks for no client
certificate: QUIC with mutual TLS is not offered. QUIC is TLS 1.3 only, so a listener whose
customized configuration leaves TLS 1.3 out of its ``ssl_protocols`` serves no HTTP/3.
"""

from __future__ import annotations

from openclb.engine.spec import ListenerSpec, RuleSpec
from openclb.protocols import ListenerProtocol

ALT_SVC_MAX_AGE = 86400


def quic_rules(spec: ListenerSpec) -> list[RuleSpec]:
    """The rules whose domain serves HTTP/3 (empty: the listener opens no UDP socket)."""
    if spec.protocol is not ListenerProtocol.HTTPS or (spec.tls_protocols and "TLSv1.3" not in spec.tls_protocols):
        return []
    rules = []
    for rule in spec.rules:
        tls = rule.tls if spec.sni else spec.tls
        if rule.quic and tls is not None and tls.certificates and not tls.ca_pem:
            rules.append(rule)
    return rules


def alt_svc_header(port: int) -> tuple[bytes, bytes]:
    """``Alt-Svc: h3=":PORT"; ma=86400``: HTTP/3 on the same port in UDP, remembered for a day."""
    return b"alt-svc", b'h3=":%d"; ma=%d' % (port, ALT_SVC_MAX_AGE)
