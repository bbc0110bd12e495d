"""Which configuration changes the runtime API makes without a reload, and with which commands (pure).

A reload starts a new worker: its counters restart, keep-alive client connections of the old
one are closed after their response, and health verdicts travel through the state file. A
new rendering whose sections and every line but their ``server`` lines are unchanged (and
whose files are unchanged) needs none of that; its real servers change on the running worker:

- a weight only: ``set weight <section>/<server> <weight>``;
- a server added: ``add server`` with the rendered options (HAProxy 2.6 adds it in
  maintenance), ``enable server``, and ``enable health`` when it is checked;
- a server removed: ``set server ... state maint`` (no new connection; established ones carry
  on, as the embedded engine drains them), ``shutdown sessions server`` first when its section
  is one of ``reset_sections`` (DeregisterTargetRst), then ``del server``, which HAProxy
  refuses while connections remain: the server then stays in maintenance, unused, until the
  next reload.

A server line HAProxy 2.6 does not accept for a dynamic server (``cookie``: persistence on an
HTTP rule) and any other difference are structural: ``plan`` says None and the engine reloads.
The configuration file is replaced either way, so the next reload, the state file and an
adopting openclb all see the new servers.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

_SERVER = re.compile(r"^    server (\S+) (.*)$")
_WEIGHT = re.compile(r" weight \d+")
_SECTION = re.compile(r"^(?:listen|frontend|backend) (\S+)$")
_NOT_DYNAMIC = (" cookie ",)
ADDED = "New server registered."
DELETED = "Server deleted."


@dataclass(frozen=True)
class RuntimeCommand:
    """One runtime API command and the answer it must give (None: any answer will do)."""

    command: str
    expect: str | None = ""


Section = tuple[str, list[str], dict[str, str]]


def plan(served: str, wanted: str, reset_sections: Collection[str] = ()) -> list[RuntimeCommand] | None:
    """The commands that turn the worker serving ``served`` into one serving ``wanted``; [] when
    they are equal; None when the change is structural (a reload)."""
    old, new = _sections(served), _sections(wanted)
    if [(h, lines) for h, lines, _ in old] != [(h, lines) for h, lines, _ in new]:
        return None
    removals: list[RuntimeCommand] = []
    additions: list[RuntimeCommand] = []
    weights: list[RuntimeCommand] = []
    for (header, _, before), (_, _, after) in zip(old, new):
        if before == after:
            continue
        section = _SECTION.match(header).group(1)
        for name in before.keys() - after.keys():
            removals.append(RuntimeCommand(f"set server {section}/{name} state maint"))
            if section in reset_sections:
                removals.append(RuntimeCommand(f"shutdown sessions server {section}/{name}"))
            removals.append(RuntimeCommand(f"del server {section}/{name}", None))
        for name in sorted(after.keys() - before.keys()):
            options = after[name]
            if any(word in f" {options} " for word in _NOT_DYNAMIC):
                return None
            additions += [RuntimeCommand(f"add server {section}/{name} {options}", ADDED),
                          RuntimeCommand(f"enable server {section}/{name}")]
            if " check " in f" {options} ":
                additions.append(RuntimeCommand(f"enable health {section}/{name}"))
        for name in sorted(before.keys() & after.keys()):
            if before[name] == after[name]:
                continue
            if _WEIGHT.sub("", before[name]) != _WEIGHT.sub("", after[name]):
                return None
            weight = _WEIGHT.search(after[name]).group(0).split()[1]
            weights.append(RuntimeCommand(f"set weight {section}/{name} {weight}"))
    return sorted(removals, key=lambda c: not c.command.startswith("set server")) + additions + weights


def _sections(text: str) -> list[Section]:
    """(header, other lines, {server name: rest of its line}) per section, in order."""
    sections: list[Section] = []
    for line in text.splitlines():
        server = _SERVER.match(line)
        if server and sections and _SECTION.match(sections[-1][0]):
            sections[-1][2][server.group(1)] = server.group(2)
        elif line.startswith(" ") and sections:
            sections[-1][1].append(line)
        else:
            sections.append((line, [], {}))
    return sections
