"""Reading QUIC connection ids from datagrams, for listeners with session type QUIC_CID.

A QUIC client may change its address (NAT rebinding, Wi-Fi to mobile); its connection id
stays. Pinning by connection id keeps such a client on the server that holds its
connection. Only the invariant header bits are read (RFC 8999), so this works for every QUIC
version without decrypting anything:

- long header (first bit 1): flags, 4-byte version, DCID length, DCID, SCID length, SCID;
- short header (first bit 0): flags, then a DCID whose length the server chose and the
  packet does not carry, so the listener is configured with it (8 bytes by default).

Malformed or truncated packets yield None: the caller then balances as for plain UDP.
"""

from __future__ import annotations

LONG_HEADER_BIT = 0x80
MAX_CID_LENGTH = 255


def destination_cid(datagram: bytes, short_cid_length: int = 8) -> bytes | None:
    """The destination connection id of the first QUIC packet in ``datagram``."""
    if not datagram:
        return None
    if datagram[0] & LONG_HEADER_BIT:
        if len(datagram) < 6:
            return None
        length = datagram[5]
        end = 6 + length
        if length == 0 or len(datagram) < end:
            return None
        return bytes(datagram[6:end])
    end = 1 + short_cid_length
    if short_cid_length <= 0 or len(datagram) < end:
        return None
    return bytes(datagram[1:end])


def source_cid(datagram: bytes) -> bytes | None:
    """The source connection id of a long-header packet (how a server names its side)."""
    if len(datagram) < 7 or not datagram[0] & LONG_HEADER_BIT:
        return None
    scid_length_at = 6 + datagram[5]
    if len(datagram) <= scid_length_at:
        return None
    length = datagram[scid_length_at]
    start = scid_length_at + 1
    if length == 0 or len(datagram) < start + length:
        return None
    return bytes(datagram[start:start + length])
