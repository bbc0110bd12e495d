"""Access logs of the listeners HAProxy serves: its log lines, received and written like the embedded engine's.

A TCP/TCP_SSL listener of a CLB bound to a CLS log set and topic is rendered with ``log global``
and a ``log-format`` that prints one JSON object per connection (``LOG_FORMAT``), and the global
section sends HAProxy's logs to a UDP socket on 127.0.0.1 this receiver holds (a port, not a
Unix path: a deep data dir would pass the 108-byte limit of socket paths). Each datagram is a
syslog line; its JSON object names the listener (``%f``, the listen section is the listener id),
and the receiver turns it into the same record the embedded engine writes for a connection, in
the same log file (``engine.embedded.access_log``), so both engines' lines read alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from openclb.engine.embedded.access_log import AccessLog, connection_record

log = logging.getLogger("openclb.engine.haproxy.access_log")

LOG_FORMAT = (
    '{"listener":"%f","client":"%ci","client_port":%cp,"vip":"%fi","port":%fp,"server":"%si","server_port":%sp,'
    '"bytes_in":%U,"bytes_out":%B,"ms":%Tt,"tls":"%sslv","cipher":"%sslc","sni":"%[ssl_fc_sni]"}'
)

# listener id → (its access log, its protocol), or None when it is not logged.
LogLookup = Callable[[str], "tuple[AccessLog, str] | None"]


class HaproxyLogReceiver(asyncio.DatagramProtocol):
    """The UDP socket HAProxy sends its log lines to; ``address`` is what the configuration names."""

    def __init__(self, lookup: LogLookup) -> None:
        self.lookup = lookup
        self.transport: asyncio.DatagramTransport | None = None
        self.address = ""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        host, port = self.transport.get_extra_info("sockname")[:2]
        self.address = f"{host}:{port}"

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def datagram_received(self, data: bytes, addr) -> None:
        start = data.find(b"{")
        try:
            line = json.loads(data[start:data.rindex(b"}") + 1])
        except ValueError:
            log.warning("HAProxy log line not understood: %r", data[:200])
            return
        found = self.lookup(line.get("listener", ""))
        if found is None:
            return
        access_log, protocol = found
        tls = (line["tls"], line["cipher"], line["sni"] if line["sni"] != "-" else "") if line["tls"] != "-" else None
        access_log.record(connection_record(
            time.time(), protocol, line["vip"], line["port"], line["client"], line["client_port"],
            line["server"], line["server_port"], line["bytes_in"], line["bytes_out"], max(0, line["ms"]) / 1000, tls))
