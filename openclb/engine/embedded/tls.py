"""TLS termination for TCP_SSL and HTTPS listeners, with certificates swapped in place.

A listener's servers are created once with one *front* ``SSLContext`` that holds no
certificate. Its ``sni_callback`` runs for every ClientHello (with or without SNI) and moves
the handshake onto the *serving* context chosen at that moment: the listener's certificate,
or with SNI the certificate of the rule domain matching the client's server name (exact,
then wildcard, then regex, as rule domains match; the default server's, else the first
domain's, when nothing matches). Reconfiguring only replaces the serving contexts, so a
ReplaceCertForLoadBalancers never rebinds a port: new handshakes see the new certificate,
established TLS connections keep the SSL objects they have.

HTTP/2 is offered per domain (a rule's Http2): a serving context offers ALPN ``h2`` only
for domains that have it on, and OpenSSL takes the ALPN choice from the context the SNI
callback moved to, so a client gets h2 exactly where its server name's rule allows it.

Invariants:
- One serving context per distinct (``TlsSpec``, Http2); RSA and ECDSA certificates of one spec go
  into the same context and the handshake picks by the client's signature algorithms.
- Mutual TLS: the client-verification *mode* is fixed when a connection's SSL object is
  created, from the front context, so the front context carries it (CERT_REQUIRED for
  verify_client "ON", CERT_OPTIONAL for "OPTIONAL"); the CA store is the serving context's.
  On SNI listeners the front asks (OPTIONAL) when any domain is mutual, and a domain that
  requires a certificate has ``client_cert_missing`` checked after the handshake.
- Private keys touch the disk only inside a fresh 0700 temporary directory, in 0600 files
  that are deleted as soon as OpenSSL has read them (``load_cert_chain`` reads only files).
  Keys are never logged; errors name the certificate id only.
- A configuration that fails to load raises ``TlsConfigError`` before anything changes.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Iterable

from openclb.protocols import ListenerProtocol
from openclb.engine.spec import ListenerSpec, TlsSpec
from openclb.engine.embedded.routing import DomainTable, normalize_host

HANDSHAKE_TIMEOUT = 10.0


class TlsConfigError(Exception):
    """A listener's certificates could not be loaded; the message is fit for the API user."""


def _write_private(directory: str, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def server_context(tls: TlsSpec) -> ssl.SSLContext:
    """A serving context with every certificate of ``tls`` (and its CA for mutual TLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.options |= ssl.OP_NO_COMPRESSION
    if not tls.certificates:
        raise TlsConfigError("No server certificate is configured")
    with tempfile.TemporaryDirectory(prefix="openclb-tls-") as directory:
        os.chmod(directory, 0o700)
        for index, certificate in enumerate(tls.certificates):
            cert_file = _write_private(directory, f"cert{index}.pem", certificate.cert_pem)
            key_file = _write_private(directory, f"key{index}.pem", certificate.key_pem)
            try:
                context.load_cert_chain(cert_file, key_file)
            except (ssl.SSLError, OSError, ValueError) as exc:
                raise TlsConfigError(f"Certificate {certificate.cert_id} cannot be loaded: {_reason(exc)}") from None
            finally:
                os.unlink(key_file)
    if tls.ca_pem:
        try:
            context.load_verify_locations(cadata=tls.ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise TlsConfigError(f"The client CA certificate cannot be loaded: {_reason(exc)}") from None
        context.verify_mode = verify_mode(tls)
    return context


def serving_context(tls: TlsSpec, http2: bool | None) -> ssl.SSLContext:
    """``server_context``, offering HTTP/2 by ALPN when the domain it serves has Http2 on
    (None: not HTTP at all, TCP_SSL, so no ALPN)."""
    context = server_context(tls)
    if http2 is not None:
        context.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    return context
TLS_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
                "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def handshake_defaults(front: ssl.SSLContext) -> tuple:
    """What ``restrict_handshakes`` returns to when a listener no longer restricts anything."""
    return front.minimum_version, front.maximum_version, ":".join(c["name"] for c in front.get_ciphers())


def restrict_handshakes(front: ssl.SSLContext, spec: ListenerSpec, defaults: tuple) -> None:
    """A listener's ``tls_protocols`` and ``tls_ciphers`` on the context its handshakes start from
    (an SNI switch of context changes the certificate, not what the handshake may negotiate)."""
    try:
        front.set_ciphers(spec.tls_ciphers or defaults[2])
    except ssl.SSLError:
        raise TlsConfigError(f"No cipher of `{spec.tls_ciphers}` is available") from None
    versions = [TLS_VERSIONS[name] for name in spec.tls_protocols]
    front.minimum_version = min(versions) if versions else defaults[0]
    front.maximum_version = max(versions) if versions else defaults[1]


def _reason(exc: Exception) -> str:
    return getattr(exc, "reason", None) or type(exc).__name__


def verify_mode(tls: TlsSpec | None) -> ssl.VerifyMode:
    """How a client certificate is asked for: required, optional, or not at all."""
    if tls is None or not tls.ca_pem:
        return ssl.CERT_NONE
    return ssl.CERT_OPTIONAL if tls.verify_client.upper() == "OPTIONAL" else ssl.CERT_REQUIRED


def backend_context() -> ssl.SSLContext:
    """The client context for ForwardType HTTPS: TLS to the target without verification,
    as a load balancer talks to its own real servers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def terminates_tls(spec: ListenerSpec) -> bool:
    """Whether a listener's sockets speak TLS: HTTPS always, TCP_SSL unless SSL is switched off."""
    return spec.protocol is ListenerProtocol.HTTPS or (spec.protocol is ListenerProtocol.TCP_SSL and spec.tls is not None)


class TlsTerminator:
    """The TLS side of one listener: the front context its servers use, and what it serves."""

    def __init__(self) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.options |= ssl.OP_NO_COMPRESSION
        self.context.sni_callback = self._select
        self._handshake_defaults = handshake_defaults(self.context)
        self._contexts: dict[tuple[TlsSpec, bool | None], ssl.SSLContext] = {}
        self._default: ssl.SSLContext | None = None
        self._domains: DomainTable[ssl.SSLContext] | None = None
        self._required: frozenset[int] = frozenset()

    def configure(self, spec: ListenerSpec) -> None:
        """Serve ``spec``'s certificates from the next handshake on; raises TlsConfigError
        (changing nothing) when one cannot be loaded."""
        https = spec.protocol is ListenerProtocol.HTTPS
        if https and spec.sni:
            pairs = [(domain, (rule.tls, rule.http2))
                     for rule in _sni_order(spec) for domain in rule.domains if rule.tls]
        elif https and spec.tls is not None and any(rule.http2 for rule in spec.rules):
            pairs = [(domain, (spec.tls, rule.http2)) for rule in _sni_order(spec) for domain in rule.domains]
        else:
            pairs = []
        wanted = [served for _, served in pairs] or ([(spec.tls, False if https else None)] if spec.tls else [])
        contexts = {served: self._contexts.get(served) or serving_context(*served) for served in wanted}
        restrict_handshakes(self.context, spec, self._handshake_defaults)
        self._contexts = contexts
        if pairs and spec.sni:
            self._domains = DomainTable((domain, contexts[served]) for domain, served in pairs)
            self._default = contexts[pairs[0][1]]
            mutual = [served for served in wanted if served[0].ca_pem]
            self.context.verify_mode = ssl.CERT_OPTIONAL if mutual else ssl.CERT_NONE
            self._required = frozenset(
                id(contexts[served]) for served in mutual if verify_mode(served[0]) == ssl.CERT_REQUIRED)
        else:
            self._domains = DomainTable((domain, contexts[served]) for domain, served in pairs) if pairs else None
            self._default = contexts[pairs[0][1] if pairs else wanted[0]] if wanted else None
            self.context.verify_mode = verify_mode(wanted[0][0] if wanted else None)
            self._required = frozenset()

    def _select(self, ssl_object, server_name: str | None, front: ssl.SSLContext) -> None:
        # Kept for the access log (``access_log.tls_fields``): a server-side SSLObject forgets it.
        ssl_object.sni_name = server_name or ""
        chosen = None
        if self._domains is not None and server_name:
            chosen = self._domains.lookup(normalize_host(server_name))
        chosen = chosen or self._default
        if chosen is not None:
            ssl_object.context = chosen

    def client_cert_missing(self, ssl_object) -> bool:
        """On SNI listeners: the chosen domain requires a client certificate and got none."""
        if not self._required or ssl_object is None:
            return False
        return id(ssl_object.context) in self._required and ssl_object.getpeercert() is None


def _sni_order(spec: ListenerSpec) -> Iterable:
    """Rules with the default server's first, so its certificate is the fallback."""
    return sorted(spec.rules, key=lambda rule: not rule.default_server)
