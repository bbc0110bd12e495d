"""Binding a listener's sockets, all or nothing, and saying why a bind failed.

A listener owns one socket per port of its range. Either every port binds or none stays
bound: a half-bound port range would serve some ports and answer "in use" on the others.
TCP sockets get SO_REUSEADDR (a restart must not wait out TIME_WAIT) and SO_REUSEPORT only for
the data-plane workers of one node (``reuse_port``): a port another process holds must fail to
bind, not be silently shared. UDP sockets get
neither, for the same reason. Failures become an ``EngineError`` whose user message says what
to do, and whose operator message keeps the errno.
"""

from __future__ import annotations

import errno
import socket

from openclb.engine.contract import EngineError


class BindFailure(Exception):
    """A listener's ports could not all be bound; ``error`` is what the user is told."""

    def __init__(self, error: EngineError) -> None:
        super().__init__(error.user_message)
        self.error = error


def bind_error(exc: OSError, vip: str, port: int, kind: str, listener_id: str) -> EngineError:
    """The EngineError for a failed bind of ``kind`` ("TCP"/"UDP") ``vip``:``port``."""
    code = exc.errno
    if code == errno.EADDRINUSE:
        user = f"Port {port} on {vip} is already in use by another process"
    elif code == errno.EACCES and port < 1024:
        user = (f"Permission denied binding port {port} on {vip} "
                f"(ports below 1024 need CAP_NET_BIND_SERVICE)")
    elif code == errno.EACCES:
        user = f"Permission denied binding port {port} on {vip}"
    elif code == errno.EADDRNOTAVAIL:
        user = f"Address {vip} is not available on this host"
    else:
        user = f"Cannot bind port {port} on {vip}: {exc.strerror or exc}"
    operator = f"listener {listener_id}: {kind} bind {vip}:{port} failed: [Errno {code}] {exc.strerror or exc}"
    return EngineError(user_message=user, operator_message=operator)


def _family(vip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in vip else socket.AF_INET


def bind_stream_sockets(vip: str, ports: range, backlog: int, listener_id: str,
                        free_bind: bool = False, reuse_port: bool = False) -> list[tuple[int, socket.socket]]:
    """Listening TCP sockets on every port of ``ports``, or BindFailure with none left open."""
    return _bind_all(vip, ports, "TCP", listener_id, backlog, free_bind, reuse_port)


def bind_datagram_sockets(vip: str, ports: range, listener_id: str,
                          free_bind: bool = False, reuse_port: bool = False) -> list[tuple[int, socket.socket]]:
    """Bound UDP sockets on every port of ``ports``, or BindFailure with none left open."""
    return _bind_all(vip, ports, "UDP", listener_id, None, free_bind, reuse_port)


# IP_FREEBIND / IPV6_FREEBIND (linux/in.h, linux/in6.h): bind an address this host does not hold
# yet. With VIP failover (``--ha vrrp``) every node binds every VIP in advance; the address
# itself arrives with VRRP, and a failover then only moves it.
_FREEBIND = {socket.AF_INET: (socket.IPPROTO_IP, 15), socket.AF_INET6: (socket.IPPROTO_IPV6, 78)}


def _bind_all(vip: str, ports: range, kind: str, listener_id: str, backlog: int | None,
              free_bind: bool = False, reuse_port: bool = False) -> list[tuple[int, socket.socket]]:
    family = _family(vip)
    sock_type = socket.SOCK_STREAM if kind == "TCP" else socket.SOCK_DGRAM
    # An explicit IPPROTO_TCP is inherited by accepted sockets, and is what makes asyncio
    # set TCP_NODELAY on them (it skips sockets whose proto is 0).
    proto = socket.IPPROTO_TCP if kind == "TCP" else socket.IPPROTO_UDP
    bound: list[tuple[int, socket.socket]] = []
    try:
        for port in ports:
            try:
                sock = socket.socket(family, sock_type, proto)
                bound.append((port, sock))
                sock.setblocking(False)
                if kind == "TCP":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if free_bind:
                    sock.setsockopt(*_FREEBIND[family], 1)
                if reuse_port:
                    # The data-plane workers of one node (``--workers``) share each port: the
                    # kernel spreads new connections and flows over them.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind((vip, port))
                if backlog is not None:
                    # Another SO_REUSEADDR socket bound but not listening lets bind() pass;
                    # listen() is where that conflict shows.
                    sock.listen(backlog)
            except OSError as exc:
                raise BindFailure(bind_error(exc, vip, port, kind, listener_id)) from exc
    except BaseException:
        for _, sock in bound:
            sock.close()
        raise
    return bound
