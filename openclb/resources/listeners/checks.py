"""The CreateListener / ModifyListener rules: which field applies to which protocol, and how.

Each check names the documented rule (2018-03-17 spec documents, digest §4). The generic
checks live in ``rules.py``; this module composes them per action.
"""

from __future__ import annotations

from typing import Any

from openclb import errors
from openclb.domain.models import Listener
from openclb.protocols import L4, L7, TCP_UDP
from openclb.resources.shared import checks as rules
from openclb.resources.certificates.checks import CertificatePlan
from openclb.resources.listeners.settings import ListenerSettings
from openclb.resources.shared.health_check import HealthCheck

# CreateListener documents WRR and LEAST_CONN; ModifyListener documents IP_HASH as well.
CREATE_SCHEDULERS = ("WRR", "LEAST_CONN")
MODIFY_SCHEDULERS = ("WRR", "LEAST_CONN", "IP_HASH")
# ProxyProtocol: the API documents TCP_SSL and QUIC; the product guide (214/70455) adds TCP
# (and UDP, which the engines do not send it on, so UDP stays refused).
PROXY_PROTOCOL_LISTENERS = ("TCP", "TCP_SSL", "QUIC")


def check_create_listener(params: dict[str, Any], max_port_range: int) -> int:
    """Every CreateListener rule; returns the listener's end port (0 for a single port)."""
    protocol, ports = params["protocol"], params["ports"]
    rules.check_enum("Protocol", protocol, rules.LISTENER_PROTOCOLS)
    rules.check_ports(ports)
    rules.check_listener_names(params.get("listener_names"), ports)
    end_port = check_port_range(params, ports, protocol, max_port_range)
    check_listener_fields(params, protocol)
    if params.get("health_check") is not None:
        HealthCheck.from_stored(params["health_check"]).check_for_listener(protocol)
    check_certificate_presence(params, protocol, params.get("sni_switch"))
    return end_port


def check_port_range(params: dict[str, Any], ports: list[int], protocol: str, max_port_range: int) -> int:
    """EndPort / FullEndPorts: one start port, an end above it; TCP and UDP listeners only.

    openclb binds every port of a range, so it serves ranges of at most ``max_port_range``
    ports (configurable) and says so rather than exhausting file descriptors.
    """
    full = params.get("full_end_ports")
    end_port = params.get("end_port") or 0
    if full:
        if end_port:
            raise errors.InvalidParameterCombination("`EndPort` and `FullEndPorts` cannot both be given.")
        if len(full) != 1:
            raise errors.InvalidParameterValue("`FullEndPorts` must contain exactly one end port.")
        rules.check_range("FullEndPorts.0", full[0], 2, 65535)
        end_port = full[0]
    if not end_port:
        return 0
    rules.check_applies_to("EndPort", end_port, protocol, TCP_UDP)
    rules.check_end_port(end_port, ports)
    if end_port - ports[0] + 1 > max_port_range:
        raise errors.InvalidParameterValueRange(
            f"openclb serves port ranges of at most {max_port_range} ports; {ports[0]}-{end_port} is larger."
        )
    return end_port


def check_listener_fields(
    params: dict[str, Any], protocol: str, schedulers: tuple[str, ...] = CREATE_SCHEDULERS
) -> None:
    """The per-field rules shared by CreateListener and ModifyListener."""
    scheduler = params.get("scheduler")
    if scheduler is not None:
        rules.check_enum("Scheduler", scheduler, schedulers)
        rules.check_applies_to("Scheduler", scheduler, protocol, L4)
    rules.check_session_expire_time(params.get("session_expire_time"), protocol)
    rules.check_session_type(params.get("session_type"), protocol, scheduler)
    if params.get("sni_switch") is not None:
        rules.check_range("SniSwitch", params["sni_switch"], 0, 1)
        rules.check_applies_to("SniSwitch", params["sni_switch"], protocol, ("HTTPS",))
    if params.get("target_type") is not None:
        rules.check_enum("TargetType", params["target_type"], ("NODE", "TARGETGROUP"))
    if params.get("keepalive_enable") is not None:
        rules.check_range("KeepaliveEnable", params["keepalive_enable"], 0, 1)
        rules.check_applies_to("KeepaliveEnable", params["keepalive_enable"], protocol, L7)
    rules.check_applies_to("DeregisterTargetRst", params.get("deregister_target_rst"), protocol, TCP_UDP)
    rules.check_connection_limits(params.get("max_conn"), params.get("max_cps"), protocol)
    rules.check_idle_connect_timeout(params.get("idle_connect_timeout"), protocol)
    rules.check_applies_to("ProxyProtocol", params.get("proxy_protocol"), protocol, PROXY_PROTOCOL_LISTENERS)
    rules.check_applies_to("H2cSwitch", params.get("h2c_switch"), protocol, ("HTTP",))
    rules.check_applies_to("SslCloseSwitch", params.get("ssl_close_switch"), protocol, ("TCP_SSL",))
    if params.get("data_compress_mode") is not None:
        rules.check_enum("DataCompressMode", params["data_compress_mode"], ("transparent", "compatibility"))
    for name in ("reschedule_target_zero_weight", "reschedule_unhealthy", "reschedule_expand_target"):
        rules.check_applies_to(_wire(name), params.get(name), protocol, TCP_UDP)
    for name in ("reschedule_start_time", "reschedule_interval"):
        rules.check_applies_to(_wire(name), params.get(name), protocol, TCP_UDP)
        rules.check_range(_wire(name), params.get(name), 0, 3600)


def _wire(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def check_certificate_presence(params: dict[str, Any], protocol: str, sni_switch: int | None) -> None:
    """Certificate / MultiCertInfo: exactly one for TCP_SSL and for HTTPS without SNI;
    neither for other protocols, nor for HTTPS with SNI (certificates then live on rule domains)."""
    given = [name for name in ("certificate", "multi_cert_info") if params.get(name) is not None]
    needs = protocol == "TCP_SSL" or (protocol == "HTTPS" and not sni_switch)
    if len(given) == 2:
        raise errors.InvalidParameterCombination("`Certificate` and `MultiCertInfo` cannot both be given.")
    if needs and not given:
        raise errors.MissingParameter(
            f"A {protocol} listener needs a certificate: give `Certificate` or `MultiCertInfo`."
        )
    if given and not needs:
        where = "an HTTPS listener with SNI" if protocol == "HTTPS" else f"a {protocol} listener"
        raise errors.InvalidParameterValue(f"A listener-level certificate does not apply to {where}.")


def resolve_certificate(plan: CertificatePlan, params: dict[str, Any], protocol: str) -> dict[str, Any] | None:
    """Stored certificate settings for the listener (runs off the loop: it reads the store)."""
    if params.get("multi_cert_info") is not None:
        return plan.from_multi_cert_info(params["multi_cert_info"])
    if params.get("certificate") is not None:
        return plan.from_certificate_input(params["certificate"])
    return None


def check_modify_listener(listener: Listener, params: dict[str, Any], settings: ListenerSettings) -> None:
    """ModifyListener: the same field rules on the listener's protocol; SNI can go on, never off."""
    protocol = listener.protocol
    rules.check_name("ListenerName", params.get("listener_name"))
    check_listener_fields(params, protocol, MODIFY_SCHEDULERS)
    # A change of either field must keep the pair valid (QUIC_CID needs WRR), whichever was given.
    rules.check_session_type(settings.session_type, protocol, settings.scheduler)
    if "health_check" in params:
        settings.health_check.check_for_listener(protocol)
    if ListenerSettings.of(listener).sni_switch == 1 and params.get("sni_switch") == 0:
        raise errors.InvalidParameterValue("SNI cannot be switched off once it is on.")
    certificate_given = params.get("certificate") is not None or params.get("multi_cert_info") is not None
    if certificate_given:
        if params.get("certificate") is not None and params.get("multi_cert_info") is not None:
            raise errors.InvalidParameterCombination("`Certificate` and `MultiCertInfo` cannot both be given.")
        if protocol not in ("HTTPS", "TCP_SSL") or (protocol == "HTTPS" and settings.sni_switch):
            raise errors.InvalidParameterValue(f"A listener-level certificate does not apply to this {protocol} listener.")


def check_describe_filters(params: dict[str, Any]) -> None:
    """DescribeListeners: Protocol among the listener protocols, Port 1–65535."""
    if params.get("protocol") is not None:
        rules.check_enum("Protocol", params["protocol"], rules.LISTENER_PROTOCOLS)
    rules.check_range("Port", params.get("port"), 1, 65535)
