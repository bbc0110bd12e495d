"""HTTP/3's pure parts: which domains serve it, the Alt-Svc value, and the certificate a QUIC
handshake presents per server name (aioquic client and server joined in memory, no socket)."""

from __future__ import annotations

import datetime
from dataclasses import replace

from aioquic.h3.connection import H3_ALPN
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from openclb.engine.embedded.http3 import CertificateChoice, _SniQuicConnection
from openclb.engine.embedded.http3_rules import alt_svc_header, quic_rules
from openclb.engine.spec import CertificateSpec, ListenerSpec, RuleSpec, TlsSpec
from openclb.protocols import ListenerProtocol

_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit CA")])


def _certificate(name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(_CA_NAME).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=9))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(_CA_KEY, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def _ca_pem() -> bytes:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(_CA_NAME).issuer_name(_CA_NAME)
          .public_key(_CA_KEY.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=9))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(_CA_KEY, hashes.SHA256()))
    return ca.public_bytes(serialization.Encoding.PEM)


def _tls(name: str, ca_pem: str | None = None) -> TlsSpec:
    cert, key = _certificate(name)
    return TlsSpec(certificates=(CertificateSpec(f"cert-{name}", cert, key),), ca_pem=ca_pem)


A_TLS, B_TLS = _tls("a.example.com"), _tls("b.example.com")


def _rule(location_id: str, domain: str, quic: bool, tls: TlsSpec | None = None, default: bool = False) -> RuleSpec:
    return RuleSpec(location_id, (domain,), "/", quic=quic, tls=tls, default_server=default)


def _https(*rules: RuleSpec, sni: bool = False, tls: TlsSpec | None = A_TLS) -> ListenerSpec:
    return ListenerSpec("lbl-1", ListenerProtocol.HTTPS, 443, tls=None if sni else tls, sni=sni, rules=rules)


def test_quic_rules_https_domain_with_quic_served():
    spec = _https(_rule("loc-a", "a.example.com", True), _rule("loc-b", "b.example.com", False))
    assert [rule.location_id for rule in quic_rules(spec)] == ["loc-a"]


def test_quic_rules_http_listener_none_served():
    spec = ListenerSpec("lbl-1", ListenerProtocol.HTTP, 80, rules=(_rule("loc-a", "a.example.com", True),))
    assert quic_rules(spec) == []


def test_quic_rules_mutual_tls_domain_not_served():
    mutual = _tls("m.example.com", ca_pem="-----BEGIN CERTIFICATE-----")
    spec = _https(_rule("loc-m", "m.example.com", True, mutual), _rule("loc-a", "a.example.com", True, A_TLS), sni=True)
    assert [rule.location_id for rule in quic_rules(spec)] == ["loc-a"]


def test_quic_rules_tls_protocols_without_tls13_none_served():
    spec = _https(_rule("loc-a", "a.example.com", True))
    assert quic_rules(replace(spec, tls_protocols=("TLSv1.2",))) == []
    assert len(quic_rules(replace(spec, tls_protocols=("TLSv1.2", "TLSv1.3")))) == 1


def test_alt_svc_header_port_h3_one_day():
    assert alt_svc_header(8443) == (b"alt-svc", b'h3=":8443"; ma=86400')


def test_certificate_choice_sni_exact_then_wildcard_then_default_server():
    spec = _https(_rule("loc-a", "a.example.com", True, A_TLS),
                  _rule("loc-b", "*.b.example.com", True, B_TLS, default=True), sni=True)
    choice = CertificateChoice(spec)

    def common_name(server_name):
        return choice.lookup(server_name)[0].subject.rfc4514_string()

    assert common_name("a.example.com") == "CN=a.example.com"
    assert common_name("x.b.example.com") == "CN=b.example.com"
    assert common_name("unknown.example.com") == "CN=b.example.com"
    assert common_name(None) == "CN=b.example.com"


def test_certificate_choice_mutual_tls_domain_certificate_never_presented():
    mutual = _tls("m.example.com", ca_pem="-----BEGIN CERTIFICATE-----")
    spec = _https(_rule("loc-m", "m.example.com", True, mutual, default=True),
                  _rule("loc-a", "a.example.com", True, A_TLS), sni=True)
    assert CertificateChoice(spec).lookup("m.example.com")[0].subject.rfc4514_string() == "CN=a.example.com"


def _handshake(server_name: str, spec: ListenerSpec) -> events.QuicEvent:
    """The client's last event of a handshake with a server choosing certificates for ``spec``."""
    choice = CertificateChoice(spec)
    server_config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    server_config.certificate, server_config.certificate_chain, server_config.private_key = choice.default
    client_config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=server_name)
    client_config.load_verify_locations(cadata=_ca_pem())
    client = QuicConnection(configuration=client_config)
    server = None
    now = 1.0
    client.connect(("127.0.0.2", 443), now=now)
    outcome = None
    for _ in range(20):
        for data, _ in client.datagrams_to_send(now=now):
            if server is None:
                server = _SniQuicConnection(configuration=server_config, choice=choice,
                                            original_destination_connection_id=client.original_destination_connection_id)
            server.receive_datagram(data, ("127.0.0.1", 5000), now=now)
        if server is not None:
            for data, _ in server.datagrams_to_send(now=now):
                client.receive_datagram(data, ("127.0.0.2", 443), now=now)
        while (event := client.next_event()) is not None:
            if isinstance(event, (events.HandshakeCompleted, events.ConnectionTerminated)):
                outcome = event
        if outcome is not None:
            return outcome
        now += 0.01
    client.handle_timer(now=now + 60.0)  # a client that refused the certificate ends its closing period
    while (event := client.next_event()) is not None:
        if isinstance(event, events.ConnectionTerminated):
            return event
    raise AssertionError("handshake neither completed nor failed")


def test_handshake_sni_server_name_gets_its_domain_certificate():
    spec = _https(_rule("loc-a", "a.example.com", True, A_TLS, default=True),
                  _rule("loc-b", "b.example.com", True, B_TLS), sni=True)
    # The client verifies the certificate against the name it asked for.
    assert isinstance(_handshake("b.example.com", spec), events.HandshakeCompleted)
    assert isinstance(_handshake("a.example.com", spec), events.HandshakeCompleted)


def test_handshake_without_sni_listener_certificate_for_every_name():
    spec = _https(_rule("loc-a", "a.example.com", True), tls=A_TLS)
    assert isinstance(_handshake("a.example.com", spec), events.HandshakeCompleted)
    assert isinstance(_handshake("b.example.com", spec), events.ConnectionTerminated)
