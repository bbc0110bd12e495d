"""PROXY protocol headers a relay sends a target before the client's first byte.

The CLB sends version 2 only (docs 214/70455, "Only Proxy Protocol v2 is supported"), so
targets behind a listener with ``ProxyProtocol`` must parse v2 (HAProxy's ``send-proxy-v2``
sends the same bytes). The layout is HAProxy's proxy-protocol.txt: the source is the
client's address as this engine saw it, the destination the VIP and port the client
connected to. An IPv4 address facing an IPv6 one (a dual-stack socket) is sent in its
IPv4-mapped IPv6 form, so both ends are of one family, as the format requires.
"""

from __future__ import annotations

import ipaddress
import struct

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_PROXY_COMMAND = 0x21  # version 2 (high nibble), command PROXY (low nibble)
_TCP_OVER_IPV4 = 0x11
_TCP_OVER_IPV6 = 0x21

Address = tuple[str, int]


def _addresses(source: Address, destination: Address) -> tuple[ipaddress._BaseAddress, ipaddress._BaseAddress]:
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if src.version != dst.version:
        src, dst = (ipaddress.IPv6Address(f"::ffff:{a}") if a.version == 4 else a for a in (src, dst))
    return src, dst


def v2_header(source: Address, destination: Address) -> bytes:
    """The binary header of a TCP connection from ``source`` to ``destination``."""
    src, dst = _addresses(source, destination)
    family = _TCP_OVER_IPV4 if src.version == 4 else _TCP_OVER_IPV6
    body = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
    return V2_SIGNATURE + struct.pack("!BBH", _V2_PROXY_COMMAND, family, len(body)) + body

