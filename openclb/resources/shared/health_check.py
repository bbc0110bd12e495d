"""One HealthCheck type for listeners and forwarding rules: from_params → check → to_view → to_spec.

The API's HealthCheck object is the same shape on layer-4 listeners and on layer-7 rules;
what differs is the default check type and which types a protocol takes. Those differences
are named here once:
- layer-4 listeners: PING for UDP, TCP for TCP, TCP_SSL and QUIC. QUIC takes TCP and HTTP
  checks only, as the HealthCheck document says, so its default is TCP: DescribeListeners
  shows TCP and the engine probes exactly that (a half-open TCP check on the target's port, or
  CheckPort). HTTP/3 servers serve HTTPS on the same TCP port, which is what the check finds;
  a UDP-only target shows Dead, and a pool that is all Dead keeps getting traffic.
- forwarding rules: HTTP, with the HTTP members shown filled (code mask 31, path ``/``,
  method HEAD, HTTP/1.1) as the real API shows them.

Stored settings keep only what the client gave (``to_stored``), so a later default change
reaches old rows too.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from openclb import errors
from openclb.engine.spec import HealthCheckSpec
from openclb.protocols import L4, ListenerProtocol
from openclb.resources.shared import checks
from openclb.resources.shared.settings import given_members

_HEX = re.compile(r"^[0-9A-Fa-f]*$")
# ExtendedCode (GRPC checks): one status code, a list (`20,25`) or a range (`0-99`), as documented.
_EXTENDED_CODE = re.compile(r"\d{1,3}(-\d{1,3})?(,\d{1,3}(-\d{1,3})?)*")

# HealthCheck.CheckType per listener protocol, as the spec's HealthCheck document lists them
# (TCP and HTTP for TCP/TCP_SSL/QUIC, PING for UDP, CUSTOM for TCP and UDP).
LISTENER_CHECK_TYPES = {
    ListenerProtocol.TCP: ("TCP", "HTTP", "CUSTOM"),
    ListenerProtocol.TCP_SSL: ("TCP", "HTTP"),
    ListenerProtocol.QUIC: ("TCP", "HTTP"),
    ListenerProtocol.UDP: ("PING", "CUSTOM"),
}
RULE_CHECK_TYPES = {ListenerProtocol.HTTP: ("HTTP", "GRPC"), ListenerProtocol.HTTPS: ("HTTP", "HTTPS", "GRPC")}

# What a forwarding rule's HTTP check shows (and probes) for the members a client left out.
_RULE_HTTP_DEFAULTS = {
    "http_code": 31, "http_check_path": "/", "http_check_domain": "", "http_check_method": "HEAD",
    "http_version": "HTTP/1.1",
}


def listener_default_type(protocol: str) -> str:
    return "PING" if protocol == ListenerProtocol.UDP else "TCP"


@dataclass(frozen=True)
class HealthCheck:
    """A listener's or rule's health check; None members take the documented default."""

    health_switch: int = 1
    time_out: int = 2
    interval_time: int = 5
    health_num: int = 3
    un_health_num: int = 3
    http_code: int | None = None
    http_check_path: str | None = None
    http_check_domain: str | None = None
    http_check_method: str | None = None
    check_port: int | None = None
    context_type: str | None = None
    send_context: str | None = None
    recv_context: str | None = None
    check_type: str | None = None
    http_version: str | None = None
    source_ip_type: int = 0
    extended_code: str | None = None

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> HealthCheck:
        """Stored (or request) members; unknown keys are ignored, None means not given."""
        return cls(**given_members(cls, stored))

    def merged(self, changes: dict[str, Any]) -> HealthCheck:
        """Modify* calls change only the members they give."""
        return replace(self, **given_members(type(self), changes))

    def to_stored(self) -> dict[str, Any]:
        defaults = HealthCheck()
        return {k: v for k, v in asdict(self).items() if v != getattr(defaults, k) or k == "health_switch"}

    # Checks -----------------------------------------------------------------------------

    def check_ranges(self, wire: str = "") -> None:
        """TimeOut 2–60 below IntervalTime 2–300, thresholds 2–10, HttpCode 1–31."""
        checks.check_range(f"{wire}HealthCheck.HealthSwitch", self.health_switch, 0, 1)
        checks.check_range(f"{wire}HealthCheck.TimeOut", self.time_out, 2, 60)
        checks.check_range(f"{wire}HealthCheck.IntervalTime", self.interval_time, 2, 300)
        checks.check_range(f"{wire}HealthCheck.HealthNum", self.health_num, 2, 10)
        checks.check_range(f"{wire}HealthCheck.UnHealthNum", self.un_health_num, 2, 10)
        checks.check_range(f"{wire}HealthCheck.HttpCode", self.http_code, 1, 31)
        if self.time_out >= self.interval_time:
            raise errors.InvalidParameterValue("HealthCheck.TimeOut must be less than HealthCheck.IntervalTime.")
        if self.http_check_method is not None:
            checks.check_enum(f"{wire}HealthCheck.HttpCheckMethod", self.http_check_method.upper(), ("HEAD", "GET"))

    def check_for_listener(self, protocol: str) -> None:
        """HealthCheck on a layer-4 listener: ranges, CheckType per protocol, HTTP and CUSTOM members."""
        checks.check_applies_to("HealthCheck", self, protocol, L4)
        self.check_ranges()
        checks.check_range("HealthCheck.SourceIpType", self.source_ip_type, 0, 1)
        if self.check_port not in (None, -1):
            checks.check_range("HealthCheck.CheckPort", self.check_port, 1, 65535)
        if self.check_type is not None:
            checks.check_enum("HealthCheck.CheckType", self.check_type, LISTENER_CHECK_TYPES[ListenerProtocol(protocol)])
        if self.http_version is not None:
            checks.check_enum("HealthCheck.HttpVersion", self.http_version, ("HTTP/1.0", "HTTP/1.1"))
        if self.check_type == "HTTP" and (not self.http_check_domain or not self.http_version):
            raise errors.MissingParameter(
                "An HTTP health check on a TCP listener needs `HealthCheck.HttpCheckDomain` and `HealthCheck.HttpVersion`."
            )
        if self.check_type == "CUSTOM":
            self._check_custom()

    def check_for_rule(self, protocol: str, wire: str) -> None:
        """A rule's check: HTTP (HTTPS on HTTPS listeners, GRPC) with the listener ranges."""
        self.check_ranges(wire)
        if self.check_type is not None:
            checks.check_enum(f"{wire}HealthCheck.CheckType", self.check_type, RULE_CHECK_TYPES[ListenerProtocol(protocol)])
        path = self.http_check_path
        if path is not None and (not path.startswith("/") or len(path) > 200):
            raise errors.InvalidParameterValue(f"`{wire}HealthCheck.HttpCheckPath` must start with `/` (≤200 chars).")
        code = self.extended_code
        if code is not None and (len(code) > 100 or not _EXTENDED_CODE.fullmatch(code)):
            raise errors.InvalidParameterValue(
                f"`{wire}HealthCheck.ExtendedCode` must be a status code, a list (`20,25`) or a range (`0-99`).")

    def _check_custom(self) -> None:
        """CUSTOM checks need ContextType (HEX|TEXT), SendContext and RecvContext (≤500 chars)."""
        for value, wire in ((self.context_type, "ContextType"), (self.send_context, "SendContext"),
                            (self.recv_context, "RecvContext")):
            if not value:
                raise errors.MissingParameter(f"The request is missing a required parameter `HealthCheck.{wire}`.")
        checks.check_enum("HealthCheck.ContextType", self.context_type, ("HEX", "TEXT"))
        for value, wire in ((self.send_context, "SendContext"), (self.recv_context, "RecvContext")):
            if len(value) > 500 or not value.isascii() or not value.isprintable():
                raise errors.InvalidParameterValue(f"`HealthCheck.{wire}` must be at most 500 printable ASCII characters.")
            if self.context_type == "HEX" and (len(value) % 2 or not _HEX.match(value)):
                raise errors.InvalidParameterValue(f"`HealthCheck.{wire}` must be an even-length hexadecimal string.")

    # Views and specs --------------------------------------------------------------------

    def _with_rule_defaults(self) -> HealthCheck:
        return replace(self, **{k: v for k, v in _RULE_HTTP_DEFAULTS.items() if getattr(self, k) is None})

    def to_view(self, default_type: str) -> dict[str, Any]:
        """Every HealthCheck key, as Describe* shows it (null where the real API shows null)."""
        return {
            "HealthSwitch": int(self.health_switch),
            "TimeOut": int(self.time_out),
            "IntervalTime": int(self.interval_time),
            "HealthNum": int(self.health_num),
            "UnHealthNum": int(self.un_health_num),
            "HttpCode": self.http_code,
            "HttpCheckPath": self.http_check_path,
            "HttpCheckDomain": self.http_check_domain,
            "HttpCheckMethod": self.http_check_method,
            "CheckPort": self.check_port,
            "ContextType": self.context_type,
            "SendContext": self.send_context,
            "RecvContext": self.recv_context,
            "CheckType": self.check_type or default_type,
            "HttpVersion": self.http_version,
            "SourceIpType": int(self.source_ip_type or 0),
            "ExtendedCode": self.extended_code,
        }

    def listener_view(self, protocol: str) -> dict[str, Any] | None:
        """Layer-4 listeners show every key; layer-7 listeners show null (their checks are on rules)."""
        if protocol not in L4:
            return None
        return self.to_view(listener_default_type(protocol))

    def rule_view(self) -> dict[str, Any]:
        view = self._with_rule_defaults().to_view("HTTP")
        view["HttpCheckMethod"] = view["HttpCheckMethod"].upper()
        return view

    def to_spec(self, default_type: str) -> HealthCheckSpec:
        """What the engine probes: every member resolved, CheckPort -1 meaning the target's port."""
        values: dict[str, Any] = {
            "enabled": bool(self.health_switch),
            "check_type": self.check_type or default_type,
            "timeout": int(self.time_out),
            "interval": int(self.interval_time),
            "healthy_threshold": int(self.health_num),
            "unhealthy_threshold": int(self.un_health_num),
            "check_port": None if self.check_port in (None, -1) else int(self.check_port),
        }
        optional = {
            "http_code": ("http_code_mask", int), "http_check_path": ("http_path", str),
            "http_check_domain": ("http_domain", str), "http_check_method": ("http_method", str),
            "http_version": ("http_version", str), "context_type": ("context_type", str),
            "send_context": ("send_context", str), "recv_context": ("recv_context", str),
            "extended_code": ("extended_code", str),
        }
        for key, (name, kind) in optional.items():
            if getattr(self, key) is not None:
                values[name] = kind(getattr(self, key))
        return HealthCheckSpec(**values)

    def listener_spec(self, protocol: str) -> HealthCheckSpec:
        return self.to_spec(listener_default_type(protocol))

    def rule_spec(self) -> HealthCheckSpec:
        return self._with_rule_defaults().to_spec("HTTP")
