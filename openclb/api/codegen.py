"""Generate one types module per served service from tccli's machine-readable specs (``api.json``).

The spec is the contract: the request and response shapes the gateway validates against are
never written by hand. This module reads ``tccli/services/<service>/<version>/api.json`` (from the
installed ``tccli-intl-en`` package, or ``--api-json PATH``) and writes a deterministic Python
module of ``spec.Action``/``spec.Shape``/``spec.Member`` literals: actions and shapes sorted by
name, members in spec order. Only names, wire types, member kinds, requiredness and nesting are
copied; the spec's prose and examples never enter the repository.

``SOURCES`` lists the services: CLB (``types.py``, every action) and the neighbours the Terraform
provider calls (``types_tag.py``, ``types_vpc.py``, ``types_ssl.py``, ``types_sts.py``). A
neighbour's module holds only the actions in its ``generated`` list and the shapes they reach,
plus ``ALL_ACTION_NAMES``, every action of the service, so the gateway can tell an action that
exists but is not served (UnsupportedOperation) from one that does not exist (InvalidAction).
To serve another action of a neighbour, add its name to that list and run ``openclb gen-api``.

How the flags are read, so that every shape carries exactly what its role uses:
- request shapes (an action's ``input``) keep ``required`` only;
- response shapes (an action's ``output``) keep ``output_required`` and ``value_allowed_null``;
- nested objects keep all three. A few output-only objects state requiredness as ``required``
  without ``output_required``; there ``required`` stands for ``output_required`` as well.
Anything outside the known vocabulary (a new wire type, a member naming a missing object)
stops generation with an error rather than guessing.

Run ``python -m openclb.api.codegen [--service S] [--api-json PATH] [--output PATH] [--check]`` (also
``openclb gen-api``): every service, or the one named (``--api-json``/``--output`` name one: CLB
unless ``--service`` says otherwise). ``--check`` writes nothing and exits 1 with a diff summary when
a module would change; CI runs it.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import importlib.metadata
import importlib.resources
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openclb.api.shapes import KINDS_OF_SCALAR_TYPE, SCALAR_KINDS, WIRE_TYPES, Member

SOURCE_PACKAGE = "tccli-intl-en"
COMMAND = "python -m openclb.api.codegen"


@dataclass(frozen=True)
class ServiceSource:
    """One service's spec in tccli and the module generated from it.

    ``generated`` is None for every action of the spec, else the actions to generate (those the
    handler tables serve or are about to serve; the rest answer UnsupportedOperation by name).
    """

    service: str
    version_dir: str
    module: str
    generated: tuple[str, ...] | None = None

    @property
    def resource(self) -> str:
        return f"services/{self.service}/{self.version_dir}/api.json"

    @property
    def output(self) -> Path:
        return Path(__file__).with_name(f"{self.module}.py")


SOURCES = (
    ServiceSource("clb", "v20180317", "types"),
    ServiceSource("tag", "v20180813", "types_tag", (
        "DescribeResourceTagsByResourceIds", "DescribeResourcesByTags", "GetResources", "GetTagKeys",
        "GetTagValues", "ModifyResourceTags", "TagResources", "UnTagResources",
    )),
    ServiceSource("vpc", "v20170312", "types_vpc", (
        "DescribeAddresses",
        "CreateSecurityGroup", "DescribeSecurityGroups", "DeleteSecurityGroup", "CreateSecurityGroupPolicies",
        "DescribeSecurityGroupPolicies", "DeleteSecurityGroupPolicies", "ReplaceSecurityGroupPolicies",
        "ModifySecurityGroupPolicies",
    )),
    ServiceSource("ssl", "v20191205", "types_ssl", (
        "DeleteCertificate", "DescribeCertificateDetail", "DescribeCertificates", "UploadCertificate",
    )),
    ServiceSource("sts", "v20180813", "types_sts", ("GetCallerIdentity",)),
)
SOURCES_BY_SERVICE = {source.service: source for source in SOURCES}
CLB = SOURCES_BY_SERVICE["clb"]
SPEC_RESOURCE = CLB.resource
DEFAULT_OUTPUT = CLB.output
DIFF_LINES_SHOWN = 60
LINE_WIDTH = 120

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_API_VERSION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_VERSION_LABEL = re.compile(r"[A-Za-z0-9.+_-]+")


class SpecError(Exception):
    """``api.json`` says something this generator does not understand."""


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SpecError(f"{where}: {value!r} is not a plain identifier")
    return value


def _flag(member: dict[str, Any], key: str, where: str) -> bool:
    value = member.get(key, False)
    if not isinstance(value, bool):
        raise SpecError(f"{where}: {key} is {value!r}, not a boolean")
    return value


# Members the spec marks required that the real API does without, each with its evidence. The
# generated shape makes them optional; the handler applies the rule the real API applies.
# - BindItem.ListenerId/Domain: the official examples of AssociateCustomizedConfig and
#   DisassociateCustomizedConfig bind a CLB-type configuration with ``LoadBalancerId`` alone
#   (a CLB configuration belongs to no listener or domain; SERVER and LOCATION ones need them).
OPTIONAL_IN_PRACTICE = frozenset({"objects.BindItem.ListenerId", "objects.BindItem.Domain"})


def _spec_member(member: Any, role: str, objects: dict[str, Any], where: str) -> Member:
    if not isinstance(member, dict):
        raise SpecError(f"{where}: member is not an object")
    name = _name(member.get("name"), where)
    where = f"{where}.{name}"
    wire_type = member.get("type")
    kind = _name(member.get("member"), where)
    if wire_type not in WIRE_TYPES:
        raise SpecError(f"{where}: unknown type {wire_type!r}")
    if wire_type in KINDS_OF_SCALAR_TYPE and kind not in KINDS_OF_SCALAR_TYPE[wire_type]:
        raise SpecError(f"{where}: type {wire_type} with member {kind!r}")
    if wire_type == "object" and kind not in objects:
        raise SpecError(f"{where}: object member names unknown shape {kind!r}")
    if wire_type == "list" and kind not in SCALAR_KINDS and kind not in objects:
        raise SpecError(f"{where}: list member names unknown kind {kind!r}")
    required = _flag(member, "required", where) and where not in OPTIONAL_IN_PRACTICE
    output_required = _flag(member, "output_required", where) if "output_required" in member else required
    return Member(
        name,
        wire_type,
        kind,
        required=required and role != "response",
        output_required=output_required and role != "request",
        value_allowed_null=_flag(member, "value_allowed_null", where) and role != "request",
    )


def _call(function: str, arguments: list[str], indent: str) -> str:
    """``function(arguments),`` on one line, or one argument a line when that would pass the width."""
    line = f"{indent}{function}({', '.join(arguments)}),"
    if len(line) <= LINE_WIDTH:
        return line
    inner = "".join(f"{indent}    {argument},\n" for argument in arguments)
    return f"{indent}{function}(\n{inner}{indent}),"


def _render_member(member: Member) -> str:
    arguments = [f'"{member.name}"', f'"{member.type}"', f'"{member.member}"']
    flags = ("required", "output_required", "value_allowed_null")
    arguments += [f"{flag}=True" for flag in flags if getattr(member, flag)]
    return _call("M", arguments, "        ")


def _shape_roles(api: dict[str, Any], action_names: list[str]) -> tuple[dict[str, str], list[str]]:
    """Which shapes are requests and which responses, and the rendered ``Action`` lines."""
    objects = api["objects"]
    roles: dict[str, str] = {}
    lines = []
    for action_name in action_names:
        action = api["actions"][action_name]
        where = f"actions.{_name(action_name, 'actions')}"
        if not isinstance(action, dict):
            raise SpecError(f"{where}: not an object")
        input_name = _name(action.get("input"), f"{where}.input")
        output_name = _name(action.get("output"), f"{where}.output")
        for shape_name, role in ((input_name, "request"), (output_name, "response")):
            if shape_name not in objects:
                raise SpecError(f"{where}: shape {shape_name!r} is not defined")
            if roles.setdefault(shape_name, role) != role:
                raise SpecError(f"{where}: {shape_name} is both a request and a response")
        lines.append(_call("Action", [f'"{action_name}"', f'"{input_name}"', f'"{output_name}"'], "    "))
    return roles, lines


def _shape_lines(objects: dict[str, Any], roles: dict[str, str]) -> list[str]:
    lines = []
    for shape_name in sorted(objects):
        where = f"objects.{_name(shape_name, 'objects')}"
        members = objects[shape_name].get("members") if isinstance(objects[shape_name], dict) else None
        if not isinstance(members, list):
            raise SpecError(f"{where}: no members list")
        rendered = [_spec_member(m, roles.get(shape_name, "object"), objects, where) for m in members]
        if len({member.name for member in rendered}) != len(rendered):
            raise SpecError(f"{where}: duplicate member names")
        if not rendered:
            lines.append(f'    Shape("{shape_name}", ()),')
            continue
        lines.append(f'    Shape("{shape_name}", (')
        lines.extend(_render_member(member) for member in rendered)
        lines.append("    )),")
    return lines


def _generated_actions(api: dict[str, Any], source: ServiceSource) -> list[str]:
    if source.generated is None:
        return sorted(api["actions"])
    missing = sorted(set(source.generated) - set(api["actions"]))
    if missing:
        raise SpecError(f"{source.service}: actions {missing} are not in api.json")
    return sorted(set(source.generated))


def _reachable_shapes(api: dict[str, Any], action_names: list[str]) -> dict[str, Any]:
    """The objects the chosen actions use, directly or nested (every object when all actions are chosen)."""
    objects = api["objects"]
    if len(action_names) == len(api["actions"]):
        return objects
    pending = [api["actions"][name][role] for name in action_names for role in ("input", "output")]
    reached: dict[str, Any] = {}
    while pending:
        name = pending.pop()
        if name in reached or name not in objects:
            continue
        reached[name] = objects[name]
        members = objects[name].get("members") if isinstance(objects[name], dict) else None
        pending.extend(m.get("member") for m in members or () if isinstance(m, dict) and m.get("type") != "string")
    return reached


def _names_tuple(name: str, values: list[str]) -> list[str]:
    lines = [f"{name} = ("]
    line = "   "
    for value in values:
        item = f' "{value}",'
        if len(line) + len(item) > LINE_WIDTH:
            lines.append(line)
            line = "   "
        line += item
    lines.extend([line, ")", ""])
    return lines


def render(api: dict[str, Any], source_version: str, digest: str, source: ServiceSource = CLB) -> str:
    """The text of the service's types module for a parsed ``api.json``; same input, same bytes."""
    if not (isinstance(api, dict) and isinstance(api.get("actions"), dict) and isinstance(api.get("objects"), dict)):
        raise SpecError("api.json has no 'actions' and 'objects' maps")
    metadata = api.get("metadata")
    api_version = metadata.get("apiVersion") if isinstance(metadata, dict) else None
    if not isinstance(api_version, str) or not _API_VERSION.fullmatch(api_version):
        raise SpecError(f"metadata.apiVersion is {api_version!r}")
    if not _VERSION_LABEL.fullmatch(source_version):
        raise SpecError(f"source version {source_version!r} is not a version label")
    action_names = _generated_actions(api, source)
    roles, action_lines = _shape_roles(api, action_names)
    shape_lines = _shape_lines(_reachable_shapes(api, action_names), roles)
    header = f'''# GENERATED by `{COMMAND}` (also `openclb gen-api`). Do not edit by hand.
# Source: {SOURCE_PACKAGE} {source_version}, tccli/{source.resource}
# sha256: {digest}
"""Request and response shapes of the Tencent Cloud {source.service.upper()} API {api_version}, generated from tccli's spec.

Names, wire types, member kinds, requiredness and nesting only. ``openclb/api/shapes.py`` defines
the classes, ``openclb/api/spec.py`` the lookups; ``openclb/api/codegen.py`` says how the spec's flags are read. CI
regenerates this file with ``--check`` and fails on any difference.
"""

from openclb.api.shapes import Action, Shape
from openclb.api.shapes import Member as M

API_VERSION = "{api_version}"
SOURCE = "{SOURCE_PACKAGE} {source_version}"
'''
    every_action = []
    if source.generated is not None:
        header += f'SERVICE = "{source.service}"\n'
        every_action = ["# Every action of the service: those not in ACTIONS answer UnsupportedOperation.",
                        *_names_tuple("ALL_ACTION_NAMES", sorted(api["actions"]))]
    parts = [header, "ACTIONS = (", *action_lines, ")", "", *every_action, "SHAPES = (", *shape_lines, ")", ""]
    return "\n".join(parts)


def _installed_spec(source: ServiceSource) -> tuple[bytes, str]:
    try:
        data = (importlib.resources.files("tccli") / source.resource).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise SpecError(f"cannot read tccli/{source.resource}: install {SOURCE_PACKAGE} or pass --api-json") from exc
    return data, _installed_version()


def _installed_version() -> str:
    try:
        return importlib.metadata.version(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def generate(api_json: Path | None = None, source_version: str | None = None, source: ServiceSource = CLB) -> str:
    """Read the service's spec (given path, else the installed tccli's) and return the module text."""
    if api_json is None:
        data, version = _installed_spec(source)
    else:
        try:
            data = api_json.read_bytes()
        except OSError as exc:
            raise SpecError(f"cannot read {api_json}: {exc.strerror}") from exc
        version = _installed_version()
    try:
        api = json.loads(data)
    except ValueError as exc:
        raise SpecError(f"api.json is not valid JSON: {exc}") from exc
    return render(api, source_version or version, hashlib.sha256(data).hexdigest(), source)


def _diff_summary(old: str, new: str, output: Path) -> str:
    diff = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), f"{output} (checked in)", f"{output} (generated)", lineterm=""
        )
    )
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    lines = [f"{output} is out of date with the spec: +{added} -{removed} lines. Regenerate with `{COMMAND}`."]
    lines.extend(diff[:DIFF_LINES_SHOWN])
    if len(diff) > DIFF_LINES_SHOWN:
        lines.append(f"... {len(diff) - DIFF_LINES_SHOWN} more diff lines")
    return "\n".join(lines)


def _write_or_check(text: str, output: Path, check: bool) -> int:
    try:
        current = output.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    if check:
        if current == text:
            return 0
        print(_diff_summary(current, text, output), file=sys.stderr)
        return 1
    if current == text:
        print(f"{output} is up to date")
        return 0
    output.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m openclb.api.codegen`` and ``openclb gen-api``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="openclb gen-api", description="Generate openclb/api/types*.py from api.json")
    parser.add_argument("--service", choices=sorted(SOURCES_BY_SERVICE), help="one service (default: every one)")
    parser.add_argument("--api-json", type=Path, help="path to api.json (one service; default: the installed tccli's)")
    parser.add_argument("--output", type=Path, help="module to write (one service; default: openclb/api/types*.py)")
    parser.add_argument("--source-version", help=f"{SOURCE_PACKAGE} version to record (default: the installed one)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a module would change")
    args = parser.parse_args(argv)
    if args.service:
        chosen = [SOURCES_BY_SERVICE[args.service]]
    else:
        chosen = [CLB] if args.api_json or args.output else list(SOURCES)
    status = 0
    for source in chosen:
        try:
            text = generate(args.api_json, args.source_version, source)
        except SpecError as exc:
            print(f"gen-api: {exc}", file=sys.stderr)
            return 2
        status = max(status, _write_or_check(text, args.output or source.output, args.check))
    return status


if __name__ == "__main__":
    sys.exit(main())
