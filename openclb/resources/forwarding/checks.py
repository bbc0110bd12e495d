"""Rules on forwarding-rule input (RuleInput, ModifyRule) and the default-server bookkeeping.

Sources: the RuleInput / ModifyRule member documents of the 2018-03-17 spec (digest §3,
"Layer-7 rules"): Url 1–200 characters; Domain 1–80 (exact, ``*.`` / ``.*`` wildcards, or
``~`` regular expressions); SessionExpireTime 0 or 30–86400; Scheduler WRR, LEAST_CONN,
IP_HASH; ForwardType HTTP, HTTPS, GRPC, GRPCS, TRPC; Http2 and Quic on HTTPS only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from openclb import errors
from openclb.domain.models import Rule
from openclb.resources.shared import checks as rules
from openclb.resources.shared.health_check import HealthCheck

_DOMAIN = re.compile(r"^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?$")


def check_domain(domain: str, wire: str) -> None:
    """Domains: 1–80 characters; a name, a ``*.`` prefix or ``.*`` suffix wildcard, or ``~regex``."""
    if not 1 <= len(domain) <= 80:
        raise errors.InvalidParameterValueLength(f"`{wire}` must be 1 to 80 characters.")
    if domain.startswith("~"):
        try:
            re.compile(domain[1:])
        except re.error as exc:
            raise errors.InvalidParameterValue(f"`{wire}` is not a valid regular expression.") from exc
        return
    if not _DOMAIN.match(domain) or (domain.startswith("*.") and domain.endswith(".*")):
        raise errors.InvalidParameterValue(f"`{wire}` {domain!r} is not a valid domain.")


def check_url(url: str, wire: str) -> None:
    """Url: 1–200 characters: ``/prefix``, ``=/exact``, or ``~regex`` / ``~*regex``."""
    if not 1 <= len(url) <= 200:
        raise errors.InvalidParameterValueLength(f"`{wire}Url` must be 1 to 200 characters.")
    rules.check_no_control_characters(f"{wire}Url", url)
    if url.startswith("~"):
        try:
            re.compile(url[2:] if url.startswith("~*") else url[1:])
        except re.error as exc:
            raise errors.InvalidParameterValue(f"`{wire}Url` is not a valid regular expression.") from exc
    elif not (url.startswith("/") or url.startswith("=/")):
        raise errors.InvalidParameterValue(f"`{wire}Url` must start with `/`, `=/` or `~`.")


def check_rule_input(item: dict[str, Any], protocol: str, wire: str) -> list[str]:
    """Every RuleInput rule; returns the rule's domains (Domain XOR Domains)."""
    domain, domains = item.get("domain"), item.get("domains")
    if domain and domains:
        raise errors.InvalidParameterCombination(f"`{wire}Domain` and `{wire}Domains` cannot both be given.")
    names = list(domains or ([domain] if domain else []))
    if not names:
        raise errors.MissingParameter(f"The request is missing a required parameter `{wire}Domain`.")
    for index, name in enumerate(names):
        check_domain(name, f"{wire}Domains.{index}" if domains else f"{wire}Domain")
    if len(set(names)) != len(names):
        raise errors.InvalidParameterValueDuplicate(f"`{wire}Domains` lists a domain twice.")
    check_url(item["url"], wire)
    session = item.get("session_expire_time")
    if session:
        rules.check_range(f"{wire}SessionExpireTime", session, 30, 86400)
    if item.get("scheduler") is not None:
        rules.check_enum(f"{wire}Scheduler", item["scheduler"], ("WRR", "LEAST_CONN", "IP_HASH"))
    if item.get("forward_type") is not None:
        rules.check_enum(f"{wire}ForwardType", item["forward_type"], ("HTTP", "HTTPS", "GRPC", "GRPCS", "TRPC"))
    if item.get("target_type") is not None:
        rules.check_enum(f"{wire}TargetType", item["target_type"], ("NODE", "TARGETGROUP", "TARGETGROUP-V2"))
    for name, wire_name in (("http2", "Http2"), ("quic", "Quic")):
        if item.get(name) and protocol != "HTTPS":
            raise errors.InvalidParameterValue(f"`{wire}{wire_name}` applies only to HTTPS listeners.")
    if item.get("health_check") is not None:
        HealthCheck.from_stored(item["health_check"]).check_for_rule(protocol, wire)
    return names


def check_unique_rules(all_rules: Iterable[Rule]) -> None:
    """A (domain, URL) pair exists at most once per listener."""
    seen: set[tuple[str, str]] = set()
    for rule in all_rules:
        for domain in rule.domains:
            key = (domain, rule.url)
            if key in seen:
                raise errors.InvalidParameterValueDuplicate(f"A rule for domain {domain} and URL {rule.url} already exists.")
            seen.add(key)


def with_default_domains(all_rules: Iterable[Rule], domains: set[str]) -> list[Rule]:
    """The listener's rules with DefaultServer set exactly on the rules of ``domains``."""
    return [
        Rule(**{**r.__dict__, "settings": {**r.settings, "default_server": bool(set(r.domains) & domains)}})
        for r in all_rules
    ]


def replacement_default(all_rules: list[Rule], leaving: list[Rule], new_default: str | None) -> set[str]:
    """Which domain becomes default when the default one goes: the one asked for, else the oldest left."""
    leaving_ids = {r.id for r in leaving}
    staying = [r for r in all_rules if r.id not in leaving_ids]
    if new_default:
        if not any(new_default in r.domains for r in staying):
            raise errors.InvalidParameterLocationNotFound(f"`NewDefaultServerDomain` {new_default} has no rule here.")
        return {new_default}
    return {staying[0].domains[0]} if staying else set()


def renamed(all_rules: list[Rule], domain: str, new_domains: list[str]) -> list[Rule]:
    """ModifyDomain(Attributes): every rule of ``domain`` now answers ``new_domains``."""
    for index, name in enumerate(new_domains):
        check_domain(name, f"NewDomains.{index}")
    changed = [
        Rule(**{**r.__dict__, "domains": tuple(dict.fromkeys(d for old in r.domains
                                                             for d in (new_domains if old == domain else [old])))})
        for r in all_rules
        if domain in r.domains
    ]
    if not changed:
        raise errors.InvalidParameterLocationNotFound(f"The domain {domain} has no forwarding rule on this listener.")
    unchanged = [r for r in all_rules if domain not in r.domains]
    check_unique_rules([*unchanged, *changed])
    return changed
