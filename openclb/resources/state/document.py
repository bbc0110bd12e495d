"""An account's resources as a state document (format ``openclb-state``, version 2), and back.

The document holds every CLB of one account (all regions) with its VIP, listeners, rules and
real servers, every certificate, every target group of the account (``TargetGroups``, new in
version 2, ``group_document.py``; a version-1 document, which has none, still imports) and every
security group (``SecurityGroups``, optional on import: ``security_groups.py``); a CLB's block
list, bound groups and stop state travel in its settings; ids, names, VIPs, creation times and
settings are kept exactly, so an import recreates the same resources under the same ids and
exporting them again gives the same document, byte for byte. Tasks are not kept; imported
resources are active. ``Settings`` objects are the store's own form of each resource's
settings (only what differs from the defaults), keys sorted; the version pins their meaning.
The document names no account: it is imported into whichever account imports it.

Private keys (``PrivateKey`` of a certificate): by default ``{"Sealed": "enc:v1:..."}``, the
stored value sealed with this server's master key (AES-256-GCM, bound to the certificate id),
and the top-level ``MasterKeyId`` names that key (16 hex digits of an HMAC keyed by it, which
reveals nothing of it). An import copies sealed keys as they are, so it needs a server with the
same master key (``OPENCLB_MASTER_KEY``), and refuses otherwise before writing anything. Only
when asked (``IncludePrivateKeys``, ``--include-private-keys``) is a key exported in clear, as
``{"Pem": "-----BEGIN PRIVATE KEY-----..."}``; an import seals it with its own master key. A
certificate without a key (a CA) has ``null``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openclb import errors
from openclb.domain.models import AccountObject, Certificate, Listener, LoadBalancer, ProvisioningState, Rule, Target
from openclb.domain.security_groups import SecurityGroup
from openclb.domain.target_groups import TargetGroup, TargetGroupAssociation, TargetGroupInstance
from openclb.protocols import L7, ListenerProtocol
from openclb.resources.certificates.sealing import MasterKeyError, PrivateKeySealer, is_sealed
from openclb.resources.state import checks as check, group_document, security_groups

FORMAT = "openclb-state"
VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class AccountState:
    """The rows of one account, as the store holds them (or will)."""

    load_balancers: tuple[LoadBalancer, ...] = ()
    listeners: tuple[Listener, ...] = ()
    rules: tuple[Rule, ...] = ()
    targets: tuple[Target, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    target_groups: tuple[TargetGroup, ...] = ()
    target_group_instances: tuple[TargetGroupInstance, ...] = ()
    target_group_associations: tuple[TargetGroupAssociation, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    account_objects: tuple[AccountObject, ...] = ()

    @property
    def empty(self) -> bool:
        return (not self.load_balancers and not self.certificates and not self.target_groups
                and not self.security_groups and not self.account_objects)


def to_document(state: AccountState, keys: PrivateKeySealer, include_private_keys: bool = False) -> dict[str, Any]:
    """The document of ``state``; private keys stay sealed unless ``include_private_keys``."""
    by_lb: dict[str, list[Listener]] = {}
    for listener in sorted(state.listeners, key=lambda l: (l.created_at, l.port, l.id)):
        by_lb.setdefault(listener.lb_id, []).append(listener)
    rules_of: dict[str, list[Rule]] = {}
    for rule in sorted(state.rules, key=lambda r: (r.created_at, r.id)):
        rules_of.setdefault(rule.listener_id, []).append(rule)
    targets_of: dict[str, list[Target]] = {}
    for target in sorted(state.targets, key=lambda t: (t.registered_at, t.ip, t.port)):
        targets_of.setdefault(target.location_id or target.listener_id, []).append(target)
    certificates = [_certificate(c, keys, include_private_keys)
                    for c in sorted(state.certificates, key=lambda c: (c.created_at, c.id))]
    sealed = any(c["PrivateKey"] and "Sealed" in c["PrivateKey"] for c in certificates)
    document = {
        "Format": FORMAT,
        "Version": VERSION,
        "MasterKeyId": keys.key_id if sealed else None,
        "LoadBalancers": [
            {
                "LoadBalancerId": lb.id, "Region": lb.region, "LoadBalancerName": lb.name,
                "LoadBalancerType": lb.lb_type, "Vip": lb.vip, "CreateTime": lb.created_at,
                "DeleteProtect": lb.delete_protect, "Settings": check.sorted_settings(lb.settings),
                "Listeners": [_listener(l, rules_of.get(l.id, []), targets_of) for l in by_lb.get(lb.id, [])],
            }
            for lb in sorted(state.load_balancers, key=lambda lb: (lb.created_at, lb.id))
        ],
        "Certificates": certificates,
        "TargetGroups": group_document.to_entries(
            state.target_groups, state.target_group_instances, state.target_group_associations),
        "SecurityGroups": security_groups.to_items(state.security_groups),
    }
    if state.account_objects:
        document["AccountObjects"] = [_account_object(o) for o in
                                      sorted(state.account_objects, key=lambda o: (o.created_at, o.id))]
    return document


def _account_object(item: AccountObject) -> dict[str, Any]:
    """A CLS log set or topic (optional member ``AccountObjects``, absent when there are none)."""
    return {"Id": item.id, "Region": item.region, "Kind": item.kind, "Name": item.name,
            "CreateTime": item.created_at, "Settings": check.sorted_settings(item.settings)}


def _listener(listener: Listener, rules: list[Rule], targets_of: dict[str, list[Target]]) -> dict[str, Any]:
    return {
        "ListenerId": listener.id, "Protocol": listener.protocol, "Port": listener.port,
        "EndPort": listener.end_port, "ListenerName": listener.name, "CreateTime": listener.created_at,
        "Settings": check.sorted_settings(listener.settings),
        "Targets": [_target(t) for t in targets_of.get(listener.id, [])],
        "Rules": [
            {"LocationId": r.id, "Domains": list(r.domains), "Url": r.url, "CreateTime": r.created_at,
             "Settings": check.sorted_settings(r.settings), "Targets": [_target(t) for t in targets_of.get(r.id, [])]}
            for r in rules
        ],
    }


def _target(target: Target) -> dict[str, Any]:
    return {"Ip": target.ip, "Port": target.port, "Weight": target.weight, "Type": target.target_type,
            "InstanceId": target.instance_id, "Tag": target.tag, "RegisteredTime": target.registered_at}


def _certificate(certificate: Certificate, keys: PrivateKeySealer, include_private_keys: bool) -> dict[str, Any]:
    stored = certificate.key_pem
    if not stored:
        private_key = None
    elif include_private_keys:
        private_key = {"Pem": keys.open(certificate.id, stored)}
    else:
        private_key = {"Sealed": stored if is_sealed(stored) else keys.seal(certificate.id, stored)}
    return {
        "CertId": certificate.id, "CertName": certificate.name, "CertType": certificate.cert_type,
        "CertPem": certificate.cert_pem, "PrivateKey": private_key, "Fingerprint": certificate.fingerprint,
        "Algorithm": certificate.algorithm, "NotAfter": certificate.not_after, "CreateTime": certificate.created_at,
    }


# The way back: a checked document → rows --------------------------------------------------------


def from_document(document: Any, app_id: int, keys: PrivateKeySealer, path: str = "State") -> AccountState:
    """The rows ``document`` describes, owned by ``app_id``, every one ACTIVE; or InvalidParameterValue."""
    check.members(document, path, ("Format", "Version", "LoadBalancers", "Certificates"),
                  ("MasterKeyId", "TargetGroups", "SecurityGroups", "AccountObjects"))
    if document["Format"] != FORMAT:
        raise check.refuse(f"{path}.Format", f"must be {FORMAT}")
    if document["Version"] not in READABLE_VERSIONS:
        raise check.refuse(f"{path}.Version", f"is {document['Version']!r}; this openclb reads versions 1 and 2")
    if document["Version"] == 1 and "TargetGroups" in document:
        raise check.refuse(f"{path}.TargetGroups", "is new in version 2")
    certificates = tuple(_certificate_row(item, app_id, keys, document.get("MasterKeyId"), f"{path}.Certificates.{i}")
                         for i, item in enumerate(check.items(document["Certificates"], f"{path}.Certificates")))
    rows = _Rows(app_id)
    for i, item in enumerate(check.items(document["LoadBalancers"], f"{path}.LoadBalancers")):
        rows.load_balancer(item, f"{path}.LoadBalancers.{i}")
    check.unique([lb.id for lb in rows.lbs], f"{path}.LoadBalancers")
    check.unique([lb.vip for lb in rows.lbs], f"{path}.LoadBalancers (Vip)")
    check.unique([l.id for l in rows.listeners], f"{path}.LoadBalancers (ListenerId)")
    check.unique([r.id for r in rows.rules], f"{path}.LoadBalancers (LocationId)")
    check.unique([c.id for c in certificates], f"{path}.Certificates")
    groups, instances, associations = group_document.from_entries(
        document.get("TargetGroups", []), app_id, rows.listeners, rows.rules, f"{path}.TargetGroups")
    security = security_groups.from_items(document.get("SecurityGroups", []), app_id, f"{path}.SecurityGroups")
    objects = tuple(_account_object_row(item, app_id, f"{path}.AccountObjects.{i}") for i, item in
                    enumerate(check.items(document.get("AccountObjects", []), f"{path}.AccountObjects")))
    check.unique([o.id for o in objects], f"{path}.AccountObjects")
    return AccountState(tuple(rows.lbs), tuple(rows.listeners), tuple(rows.rules), tuple(rows.targets), certificates,
                        groups, instances, associations, security, objects)


def _account_object_row(item: Any, app_id: int, path: str) -> AccountObject:
    check.members(item, path, ("Id", "Region", "Kind", "Name", "CreateTime", "Settings"))
    return AccountObject(
        id=check.text(item["Id"], f"{path}.Id", 1, 64), app_id=app_id,
        region=check.region(item["Region"], f"{path}.Region"),
        kind=check.choice(item["Kind"], f"{path}.Kind", ("logset", "topic", "customized_config")),
        name=check.text(item["Name"], f"{path}.Name", 1, 255),
        created_at=check.stamp(item["CreateTime"], f"{path}.CreateTime"),
        settings=check.settings(item["Settings"], f"{path}.Settings"),
    )


class _Rows:
    """Rows gathered while a document is read, in document order."""

    def __init__(self, app_id: int) -> None:
        self.app_id = app_id
        self.lbs: list[LoadBalancer] = []
        self.listeners: list[Listener] = []
        self.rules: list[Rule] = []
        self.targets: list[Target] = []

    def load_balancer(self, item: Any, path: str) -> None:
        check.members(item, path, ("LoadBalancerId", "Region", "LoadBalancerName", "LoadBalancerType", "Vip",
                                   "CreateTime", "DeleteProtect", "Settings", "Listeners"))
        lb = LoadBalancer(
            id=check.identifier(item["LoadBalancerId"], f"{path}.LoadBalancerId", "lb"), app_id=self.app_id,
            region=check.region(item["Region"], f"{path}.Region"),
            name=check.text(item["LoadBalancerName"], f"{path}.LoadBalancerName", 1, 80),
            lb_type=check.choice(item["LoadBalancerType"], f"{path}.LoadBalancerType", ("OPEN", "INTERNAL")),
            vip=check.address(item["Vip"], f"{path}.Vip"), status=1, state=ProvisioningState.ACTIVE,
            created_at=check.stamp(item["CreateTime"], f"{path}.CreateTime"),
            delete_protect=check.flag(item["DeleteProtect"], f"{path}.DeleteProtect"),
            settings=check.settings(item["Settings"], f"{path}.Settings"),
        )
        self.lbs.append(lb)
        for i, listener in enumerate(check.items(item["Listeners"], f"{path}.Listeners")):
            self.listener(lb, listener, f"{path}.Listeners.{i}")

    def listener(self, lb: LoadBalancer, item: Any, path: str) -> None:
        check.members(item, path, ("ListenerId", "Protocol", "Port", "EndPort", "ListenerName", "CreateTime",
                                   "Settings", "Targets", "Rules"))
        protocol = check.choice(item["Protocol"], f"{path}.Protocol", tuple(ListenerProtocol))
        port = check.number(item["Port"], f"{path}.Port", 1, 65535)
        end_port = item["EndPort"]
        if end_port != 0:
            check.number(end_port, f"{path}.EndPort", port, 65535)
        listener = Listener(
            id=check.identifier(item["ListenerId"], f"{path}.ListenerId", "listener"), app_id=self.app_id,
            region=lb.region, lb_id=lb.id, protocol=protocol, port=port, end_port=end_port,
            name=check.text(item["ListenerName"], f"{path}.ListenerName", 0, 80), state=ProvisioningState.ACTIVE,
            created_at=check.stamp(item["CreateTime"], f"{path}.CreateTime"),
            settings=check.settings(item["Settings"], f"{path}.Settings"),
        )
        self.listeners.append(listener)
        l7 = protocol in L7
        if l7 and item["Targets"]:
            raise check.refuse(f"{path}.Targets", "must be empty: HTTP and HTTPS listeners hold targets in their rules")
        if not l7 and item["Rules"]:
            raise check.refuse(f"{path}.Rules", "must be empty: only HTTP and HTTPS listeners have rules")
        self.target_list(listener, "", item["Targets"], f"{path}.Targets")
        for i, rule in enumerate(check.items(item["Rules"], f"{path}.Rules")):
            self.rule(listener, rule, f"{path}.Rules.{i}")

    def rule(self, listener: Listener, item: Any, path: str) -> None:
        check.members(item, path, ("LocationId", "Domains", "Url", "CreateTime", "Settings", "Targets"))
        domains = check.items(item["Domains"], f"{path}.Domains")
        if not domains:
            raise check.refuse(f"{path}.Domains", "must hold at least one domain")
        rule = Rule(
            id=check.identifier(item["LocationId"], f"{path}.LocationId", "rule"), app_id=self.app_id,
            region=listener.region, lb_id=listener.lb_id, listener_id=listener.id,
            domains=tuple(check.text(d, f"{path}.Domains.{i}", 1, 120) for i, d in enumerate(domains)),
            url=check.text(item["Url"], f"{path}.Url", 1, 255),
            created_at=check.stamp(item["CreateTime"], f"{path}.CreateTime"),
            settings=check.settings(item["Settings"], f"{path}.Settings"),
        )
        self.rules.append(rule)
        self.target_list(listener, rule.id, item["Targets"], f"{path}.Targets")

    def target_list(self, listener: Listener, location_id: str, value: Any, path: str) -> None:
        seen: set[tuple[str, int]] = set()
        for i, item in enumerate(check.items(value, path)):
            where = f"{path}.{i}"
            check.members(item, where, ("Ip", "Port", "Weight", "Type", "InstanceId", "Tag", "RegisteredTime"))
            target = Target(
                listener_id=listener.id, ip=check.address(item["Ip"], f"{where}.Ip"),
                port=check.number(item["Port"], f"{where}.Port", 1, 65535), lb_id=listener.lb_id,
                weight=check.number(item["Weight"], f"{where}.Weight", 0, 100),
                target_type=check.choice(item["Type"], f"{where}.Type", ("ENI", "CVM", "SCF")),
                instance_id=check.text(item["InstanceId"], f"{where}.InstanceId", 0, 64),
                tag=check.text(item["Tag"], f"{where}.Tag", 0, 255), location_id=location_id,
                registered_at=check.stamp(item["RegisteredTime"], f"{where}.RegisteredTime"),
            )
            if (target.ip, target.port) in seen:
                raise check.refuse(where, f"repeats the target {target.ip}:{target.port}")
            seen.add((target.ip, target.port))
            self.targets.append(target)


def _certificate_row(item: Any, app_id: int, keys: PrivateKeySealer, key_id: Any, path: str) -> Certificate:
    check.members(item, path, ("CertId", "CertName", "CertType", "CertPem", "PrivateKey", "Fingerprint",
                               "Algorithm", "NotAfter", "CreateTime"))
    cert_id = check.identifier(item["CertId"], f"{path}.CertId", "certificate")
    return Certificate(
        id=cert_id, app_id=app_id, name=check.text(item["CertName"], f"{path}.CertName", 0, 80),
        cert_type=check.choice(item["CertType"], f"{path}.CertType", ("SVR", "CA")),
        cert_pem=check.pem(item["CertPem"], f"{path}.CertPem"),
        key_pem=_stored_key(item["PrivateKey"], cert_id, keys, key_id, f"{path}.PrivateKey"),
        fingerprint=check.text(item["Fingerprint"], f"{path}.Fingerprint", 1, 128),
        algorithm=check.text(item["Algorithm"], f"{path}.Algorithm", 1, 16),
        not_after=check.text(item["NotAfter"], f"{path}.NotAfter", 1, 32),
        created_at=check.stamp(item["CreateTime"], f"{path}.CreateTime"),
    )


def _stored_key(value: Any, cert_id: str, keys: PrivateKeySealer, key_id: Any, path: str) -> str | None:
    """The key as the store keeps it: a sealed one as it is (same master key only), a clear one sealed here."""
    if value is None:
        return None
    check.members(value, path, (), ("Sealed", "Pem"))
    if len(value) != 1:
        raise check.refuse(path, "must hold exactly one of Sealed and Pem")
    if "Pem" in value:
        return keys.seal(cert_id, check.pem(value["Pem"], f"{path}.Pem"))
    if key_id != keys.key_id:
        raise errors.FailedOperation(
            f"The private keys of this state are sealed with the master key {key_id}, and this server's master key "
            f"is {keys.key_id}: start the server with the exporting server's OPENCLB_MASTER_KEY, or export with "
            "IncludePrivateKeys (--include-private-keys).")
    sealed = value["Sealed"]
    try:
        if not isinstance(sealed, str) or not is_sealed(sealed):
            raise MasterKeyError("not sealed")
        keys.open(cert_id, sealed)
    except MasterKeyError:
        raise check.refuse(f"{path}.Sealed", f"does not open with the master key {keys.key_id}") from None
    return sealed


