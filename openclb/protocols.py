"""Listener protocols and the families the rules speak of (a leaf: everyone may import it).

The API names six protocols; the documents group them in three ways, and each rule cites
one of those groups: layer 4 (TCP, UDP, TCP_SSL, QUIC) against layer 7 (HTTP, HTTPS), and
datagram (UDP, QUIC) against stream listeners, which also decides the port space a listener
takes on its CLB (zh doc 214/6151: TCP, TCP_SSL, HTTP and HTTPS share one; UDP and QUIC the
other).
"""

from __future__ import annotations

from enum import StrEnum


class ListenerProtocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP_SSL = "TCP_SSL"
    QUIC = "QUIC"

    @property
    def is_datagram(self) -> bool:
        """UDP and QUIC listen on UDP sockets; the others on TCP sockets."""
        return self in DATAGRAM

    @property
    def is_l7(self) -> bool:
        return self in L7

    @property
    def is_l4(self) -> bool:
        return self in L4


L4 = frozenset({ListenerProtocol.TCP, ListenerProtocol.UDP, ListenerProtocol.TCP_SSL, ListenerProtocol.QUIC})
L7 = frozenset({ListenerProtocol.HTTP, ListenerProtocol.HTTPS})
DATAGRAM = frozenset({ListenerProtocol.UDP, ListenerProtocol.QUIC})
TLS = frozenset({ListenerProtocol.TCP_SSL, ListenerProtocol.HTTPS})
# The plain layer-4 pair several CreateListener fields are documented for (EndPort, MaxConn...).
TCP_UDP = frozenset({ListenerProtocol.TCP, ListenerProtocol.UDP})
# The order the API documents them in, for messages that list the valid values.
ALL = (ListenerProtocol.TCP, ListenerProtocol.UDP, ListenerProtocol.HTTP, ListenerProtocol.HTTPS,
       ListenerProtocol.TCP_SSL, ListenerProtocol.QUIC)


class PortClass(StrEnum):
    """The two port spaces of one CLB."""

    TCP = "TCP"
    UDP = "UDP"

    @classmethod
    def of(cls, protocol: str) -> PortClass:
        return cls.UDP if protocol in DATAGRAM else cls.TCP


def names(protocols) -> str:
    """``A/B/C`` in the documented order, for messages."""
    return "/".join(p for p in ALL if p in protocols)
