"""The embedded data plane: every listener served in-process on the app's asyncio loop.

Modules, from the socket-free core outwards:

- ``balancer``: schedulers (smooth WRR, LEAST_CONN, IP_HASH), session pins, rate buckets;
- ``quic``: connection ids from QUIC headers, for QUIC_CID session persistence;
- ``binding``: all-or-nothing binding of a listener's ports and the messages for failures;
- ``listener``: what every listener shares (targets, limits, counters, the idle sweep);
- ``tcp``: TCP-class listeners and the plain TCP relay (the hot path);
- ``tls``: TLS termination (TCP_SSL, HTTPS, SNI, mutual TLS) with certificates swapped in place;
- ``routing``: sans-IO layer-7 routing (domain and URL precedence, default server, redirects);
- ``http_headers``: sans-IO header rewriting between client and target;
- ``http_listener``: HTTP/HTTPS listeners, per-rule state and cookie persistence, the target pool;
- ``http_proxy`` / ``http_upstream``: the llhttp (httptools) proxy, client side and target side;
- ``http3_rules`` / ``http3`` / ``http3_exchange``: HTTP/3 (aioquic) on the UDP side of HTTPS
  listeners whose domains have Quic on, and its Alt-Svc advertisement;
- ``stream_exchange``: what HTTP/2's and HTTP/3's client streams share on their way to an
  HTTP/1.1 target (routing, connect retries, body, llhttp response relay);
- ``udp``: UDP/QUIC listeners with one upstream socket per client flow;
- ``health_probes`` / ``health_sockets`` / ``health``: what a probe sends and judges, the
  sockets that carry it (one private epoll), and the one-timer checker with its verdicts;
- ``upstream_connect``: connecting to a target within a deadline at the cost of one timer;
- ``engine``: ``EmbeddedEngine``, the ``Engine`` the worker drives.
"""

from openclb.engine.embedded.engine import EmbeddedEngine

__all__ = ["EmbeddedEngine"]
