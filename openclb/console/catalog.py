"""The document the API Explorer is built from: every action of every served service, and its shapes.

Structure (members, wire types, required marks, nesting) comes from the generated spec
(``api/spec.py``) and the admin service's own shapes (``api/admin.py``), so the page shows
exactly what the gateway validates. Prose does not live in this repository: when tccli is
installed (``tccli-intl-en``, a dev extra, not a runtime dependency of ``openclb serve``) its
``api.json`` and ``examples.json`` are read at run time for one-line descriptions, value
choices named in those descriptions, and the official examples; without it the document says
so (``descriptions: false``) and the page works from structure alone.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote_plus

from openclb.api import admin, spec
from openclb.api.shapes import SCALAR_KINDS, Action, Shape
from openclb.console import docs_text

READ_PREFIXES = ("Describe", "Inquiry", "Query", "Get", "List", "Export")


@dataclass(frozen=True)
class ServedService:
    """One service on the API port: its TC3 scope name, version, actions and shape lookup."""

    service: str
    version: str
    actions: tuple[Action, ...]
    shape: Callable[[str], Shape]


def served_services() -> tuple[ServedService, ...]:
    """CLB first, then the neighbouring services (their served actions), then openclb's admin service."""
    names = sorted(spec.SERVICE_NAMES, key=lambda name: (name != spec.CLB, name))
    served = tuple(
        ServedService(name, spec.catalog(name).api_version, tuple(spec.catalog(name).actions.values()),
                      functools.partial(spec.object_shape, service=name))
        for name in names
    )
    admin_shape = functools.partial(spec.object_shape, service=admin.SERVICE)
    return served + (ServedService(admin.SERVICE, admin.VERSION, admin.ACTIONS, admin_shape),)


# openclb's own admin service has no tccli documents; these lines are ours.
ADMIN_DESCRIPTIONS = {
    "ExportState": "Exports the calling account's resources as a versioned JSON document.",
    "ImportState": "Imports a document made by ExportState (optionally replacing what exists) as one task.",
    "ResetState": "Deletes every resource and task of the calling account (or of all accounts).",
    "InjectFault": "Arms a fault for the calling account (servers started with --faults).",
    "DescribeFaults": "Lists the calling account's armed faults and how often each was met.",
    "ClearFaults": "Clears the given faults, or all of the calling account's faults.",
    "DescribeTargetConnections": "Live connection counts of each real server of the given CLBs.",
}


def describe_all() -> dict[str, Any]:
    tccli = tccli_services_dir()
    services = [describe_service(service, load_docs(tccli, service)) for service in served_services()]
    return {
        "descriptions": any(service["descriptions"] for service in services),
        "docsSource": "tccli" if tccli is not None else None,
        "services": services,
    }


def tccli_services_dir() -> Path | None:
    """tccli's ``services`` folder when tccli is installed (found without importing it)."""
    found = importlib.util.find_spec("tccli")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(next(iter(found.submodule_search_locations))) / "services"
    return folder if folder.is_dir() else None


@dataclass(frozen=True)
class ServiceDocs:
    """tccli's api.json and examples.json of one service version (read, never stored here)."""

    api: dict[str, Any]
    examples: dict[str, Any]


def load_docs(tccli: Path | None, service: ServedService) -> ServiceDocs | None:
    if tccli is None:
        return None
    folder = tccli / service.service / ("v" + service.version.replace("-", ""))
    try:
        api = json.loads((folder / "api.json").read_text(encoding="utf-8"))
        examples_file = folder / "examples.json"
        examples = json.loads(examples_file.read_text(encoding="utf-8")) if examples_file.exists() else {}
    except (OSError, ValueError):
        return None
    return ServiceDocs(api, examples)


def describe_service(service: ServedService, docs: ServiceDocs | None) -> dict[str, Any]:
    api_actions = docs.api.get("actions", {}) if docs else {}
    api_objects = docs.api.get("objects", {}) if docs else {}
    shapes: dict[str, list[dict[str, Any]]] = {}
    actions = []
    for action in sorted(service.actions, key=lambda a: a.name):
        collect_shapes(service.shape, action.input, shapes, api_objects)
        document = api_actions.get(action.name, {})
        own = ADMIN_DESCRIPTIONS.get(action.name, "") if service.service == admin.SERVICE else ""
        actions.append({
            "name": action.name,
            "group": resource_group(action.name),
            "title": document.get("name", ""),
            "description": own or docs_text.first_line(document.get("document", "")),
            "input": action.input,
            "write": is_write(action.name),
            "examples": examples_of(action, docs, service.shape),
        })
    return {
        "service": service.service,
        "version": service.version,
        "descriptions": docs is not None,
        "actions": actions,
        "shapes": shapes,
    }


def collect_shapes(lookup: Callable[[str], Shape], name: str, into: dict[str, list[dict[str, Any]]],
                   api_objects: dict[str, Any]) -> None:
    """The request shape ``name`` and every shape it nests, members in spec order."""
    if name in into:
        return
    documented = {m["name"]: m for m in api_objects.get(name, {}).get("members", [])}
    into[name] = members = []
    for member in lookup(name).members:
        text = documented.get(member.name, {}).get("document", "")
        members.append({
            "name": member.name,
            "type": member.type,
            "member": member.member,
            "required": member.required,
            "description": docs_text.one_line(text),
            "choices": docs_text.choices(text) if member.member == "string" else [],
        })
        if member.member not in SCALAR_KINDS:
            collect_shapes(lookup, member.member, into, api_objects)


def is_write(action: str) -> bool:
    """A call that changes something (and, for CLB, starts a task named by its RequestId)."""
    return not action.startswith(READ_PREFIXES)


_GROUPS = (
    ("TargetGroup", "Target groups"), ("Target", "Targets"), ("Rewrite", "Redirects"),
    ("Rule", "Forwarding rules"), ("Domain", "Forwarding rules"), ("Listener", "Listeners"),
    ("Cert", "Certificates"), ("Cls", "Logs"), ("Log", "Logs"), ("Topic", "Logs"),
    ("CustomizedConfig", "Customized configs"), ("ClassicalLB", "Classic CLB"),
    ("ClassicalLoadBalancer", "Classic CLB"), ("SecurityGroup", "Security groups"), ("BlockIP", "Block IPs"),
    ("Snat", "SNAT IPs"), ("Task", "Tasks"), ("Quota", "Account"), ("Price", "Billing"),
    ("State", "openclb admin"), ("Fault", "openclb admin"), ("LoadBalancer", "Load balancers"),
)


def resource_group(action: str) -> str:
    for fragment, group in _GROUPS:
        if fragment in action:
            return group
    return "Other"


def examples_of(action: Action, docs: ServiceDocs | None, lookup: Callable[[str], Shape]) -> list[dict[str, Any]]:
    """The official examples of ``action`` as parameters the form can load, in tccli's order."""
    if docs is None:
        return []
    found = []
    for example in docs.examples.get("actions", {}).get(action.name, []):
        params = example_params(example.get("input", ""), lookup, action.input)
        if params is not None:
            found.append({"title": example.get("title", ""), "params": params})
    return found


def example_params(text: str, lookup: Callable[[str], Shape], shape: str) -> dict[str, Any] | None:
    """An example's request parameters: its JSON body, or its query string (``Ports.0=80``) unfolded."""
    if "{" in text and "}" in text:
        try:
            return json.loads(text[text.index("{"): text.rindex("}") + 1])
        except ValueError:
            return None
    params: dict[str, Any] = {}
    for line in re.split(r"[\r\n]+", text):
        key, sep, value = line.strip().lstrip("&").partition("=")
        if not sep or "?" in key or "<" in key or key in ("Action", "Version", "Region"):
            continue
        place(params, key.split("."), unquote_plus(value).strip(), lookup, shape)
    return params


def place(into: Any, path: list[str], value: str, lookup: Callable[[str], Shape], shape: str) -> None:
    """Put one flat example value at its nested place, typed by the spec's member."""
    member = lookup(shape).member(path[0])
    if member is None:
        return
    if member.type == "list":
        items = into.setdefault(path[0], [])
        if len(path) < 2 or not path[1].isdigit():
            return
        index = int(path[1])
        while len(items) <= index:
            items.append({} if member.nests_shape else None)
        if member.nests_shape:
            if len(path) > 2:
                place(items[index], path[2:], value, lookup, member.member)
        else:
            items[index] = docs_text.typed(member.member, value)
    elif member.type == "object":
        if len(path) > 1:
            place(into.setdefault(path[0], {}), path[1:], value, lookup, member.member)
    else:
        into[path[0]] = docs_text.typed(member.member, value)
