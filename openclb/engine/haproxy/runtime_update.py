"""Which configuration changes the runtime API can make without a reload (pure).

A reload starts a new worker: its counters restart, keep-alive client connections of the old
one are closed after their response, and health verdicts travel through the state file. A
change of weights only (ModifyTargetWeight, the weights of RegisterTargets on targets that
stay) needs none of that: ``set weight <section>/<server> <weight>`` on the running worker
changes exactly what the new configuration says. So a new rendering that differs from the
served one *only* in the ``weight`` of ``server`` lines (the files it refers to unchanged) is
applied that way, and the configuration file is still replaced, so the next reload, the state
file and an adopting openclb all see the new weights. Anything else is a structural change
and reloads.
"""

from __future__ import annotations

import re

_SERVER_WEIGHT = re.compile(r"^(    server (\S+) \S+ weight )(\d+)( .*)?$")
_SECTION = re.compile(r"^(?:listen|frontend|backend) (\S+)$")

WeightChange = tuple[str, str, int]


def weight_changes(served: str, wanted: str) -> list[WeightChange] | None:
    """(section, server, weight) to set when ``wanted`` differs from ``served`` only in server
    weights; [] when they are equal; None when anything else differs."""
    served_lines, wanted_lines = served.splitlines(), wanted.splitlines()
    if len(served_lines) != len(wanted_lines):
        return None
    changes: list[WeightChange] = []
    section = ""
    for old, new in zip(served_lines, wanted_lines):
        opened = _SECTION.match(new)
        if opened:
            section = opened.group(1)
        if old == new:
            continue
        old_server, new_server = _SERVER_WEIGHT.match(old), _SERVER_WEIGHT.match(new)
        if old_server is None or new_server is None:
            return None
        if (old_server.group(1), old_server.group(4)) != (new_server.group(1), new_server.group(4)):
            return None
        changes.append((section, new_server.group(2), int(new_server.group(3))))
    return changes


def set_weight_commands(changes: list[WeightChange]) -> list[str]:
    """The runtime API commands that make ``changes``."""
    return [f"set weight {section}/{server} {weight}" for section, server, weight in changes]
