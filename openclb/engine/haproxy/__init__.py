"""The HAProxy engine: TCP and TCP_SSL listeners served by an HAProxy master-worker process.

``render`` turns desired state into configuration text (pure), ``runtime`` reads HAProxy's
answers (pure), ``process`` runs (or adopts) the master, ``ports`` asks the kernel about
ports, ``adoption`` keeps what the next openclb needs to adopt HAProxy, and ``engine`` ties
them into the Engine contract, delegating UDP, QUIC, HTTP and HTTPS listeners to the
embedded engine.
"""

from openclb.engine.haproxy.engine import HaproxyEngine

__all__ = ["HaproxyEngine"]
