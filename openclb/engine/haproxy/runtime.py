"""Reading HAProxy's runtime answers: pure parsers, tested without a running HAProxy.

- ``show stat`` CSV → rows by (section, server); a checked server's row → the CLB health
  words (Alive, Dead, Unknown before the first check, Close when checks are off).
- ``show proc`` (master CLI) → the master's pid and reload count and the current worker,
  which is how a reload's outcome is known: the master answers again only once it has
  re-executed, and a new current worker exists only if the new configuration loaded; and
  the old workers, still finishing connections of earlier configurations. The master's pid
  is how an adopted master is known to be the one its CLI socket belongs to.
- ``show sess`` → the sessions of given listeners, to cut what an old worker still carries
  of a listener that left once its drain grace is over; and those to given real servers
  (DeregisterTargetRst).
- The master's log → which listener a failed load blames (a bind that lost a race).
- ``show servers state`` → the state file the next load restores health from, adapted so
  the new configuration's weights and check ports win over the recorded ones.
- A configuration we rendered → the addresses and ports its ``bind`` lines hold.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from openclb.engine.haproxy.render import FALLBACK_PREFIX

_BIND_ALERT = re.compile(r"\[ALERT\].*? for (?:proxy|frontend|listen) '?(?P<name>[^\s':]+)'?: (?P<why>.*)$")
_ADDRESS_IN_USE = re.compile(r"Address already in use", re.IGNORECASE)


@dataclass(frozen=True)
class ProcState:
    """The master's view: reloads so far, the pid of the current (newest) worker, the pids
    of the old workers (they have been reloaded away and are draining), the master's pid."""

    reloads: int
    current_worker: int | None
    old_workers: tuple[int, ...] = ()
    master: int | None = None


def parse_show_stat(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """``show stat`` CSV → {(pxname, svname): {column: value}}."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return {}
    columns = lines[0][2:].split(",")
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for line in lines[1:]:
        values = line.split(",")
        row = dict(zip(columns, values))
        if "pxname" in row and "svname" in row:
            rows[(row["pxname"], row["svname"])] = row
    return rows


def classify_health(row: Mapping[str, str] | None, check_enabled: bool) -> tuple[bool, str]:
    """(HealthStatus, HealthStatusDetail) of one real server as DescribeTargetHealth reports it."""
    if not check_enabled:
        return True, "Close"
    if row is None:
        return False, "Unknown"
    status = row.get("status", "")
    check_status = row.get("check_status", "").lstrip("* ")
    if status == "no check":
        return True, "Close"
    if status.startswith("DOWN"):
        return False, "Dead"
    if status.startswith(("UP", "NOLB", "DRAIN")):
        if check_status in ("", "INI", "UNK"):
            return False, "Unknown"
        return True, "Alive"
    return False, "Unknown"


def listener_counters(rows: Mapping[tuple[str, str], Mapping[str, str]], section: str) -> dict[str, int] | None:
    """Counters of one ``listen`` section (its FRONTEND row), None when HAProxy has none."""
    row = rows.get((section, "FRONTEND"))
    if row is None:
        return None
    return {
        "active": _int(row, "scur"), "total": _int(row, "stot"),
        "dropped": _int(row, "dcon") + _int(row, "dses") + _int(row, "ereq"),
        "bytes_in": _int(row, "bin"), "bytes_out": _int(row, "bout"),
    }


def server_counters(rows: Mapping[tuple[str, str], Mapping[str, str]], section: str, name: str) -> dict[str, int]:
    """Counters of one real server: its checked server and its fallback twin together."""
    totals = {"active": 0, "total": 0, "bytes_in": 0, "bytes_out": 0}
    for server in (name, FALLBACK_PREFIX + name):
        row = rows.get((section, server))
        if row is not None:
            totals["active"] += _int(row, "scur")
            totals["total"] += _int(row, "stot")
            totals["bytes_in"] += _int(row, "bin")
            totals["bytes_out"] += _int(row, "bout")
    return totals


def _int(row: Mapping[str, str], column: str) -> int:
    value = row.get(column, "")
    return int(value) if value.isdigit() else 0


def parse_show_proc(text: str) -> ProcState | None:
    """Master CLI ``show proc`` → ProcState; None if the text is not a complete answer."""
    reloads = None
    master: int | None = None
    current: int | None = None
    old: list[int] = []
    in_workers = False
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if line.startswith(("# workers", "# old workers")):
            in_workers = True
            continue
        if line.startswith("#"):
            in_workers = False
            continue
        if len(fields) >= 3 and fields[1] == "master" and fields[2].isdigit():
            reloads = int(fields[2])
            master = int(fields[0]) if fields[0].isdigit() else None
        elif in_workers and len(fields) >= 3 and fields[1] == "worker" and fields[0].isdigit():
            if fields[2] == "0":
                current = int(fields[0])
            else:
                old.append(int(fields[0]))
    if reloads is None or "# programs" not in text:
        return None
    return ProcState(reloads, current, tuple(old), master)


def sessions_of(show_sess: str, sections: Collection[str]) -> list[str]:
    """``show sess`` → the ids (``0x…``) of the sessions accepted by any of ``sections``."""
    found = []
    for line in show_sess.splitlines():
        session, _, rest = line.partition(": ")
        if session.startswith("0x"):
            frontend = next((f[3:] for f in rest.split() if f.startswith("fe=")), None)
            if frontend in sections:
                found.append(session)
    return found


def sessions_to(show_sess: str, servers: Collection[tuple[str, str]]) -> list[str]:
    """``show sess`` → the ids of the sessions going to any of ``servers`` (backend, server)."""
    found = []
    for line in show_sess.splitlines():
        session, _, rest = line.partition(": ")
        if session.startswith("0x"):
            fields = dict(f.split("=", 1) for f in rest.split() if "=" in f)
            if (fields.get("be"), fields.get("srv")) in servers:
                found.append(session)
    return found


def blamed_listeners(log_text: str) -> dict[str, str]:
    """Sections a failed load names (a bind that failed), with HAProxy's reason."""
    blamed: dict[str, str] = {}
    for line in log_text.splitlines():
        match = _BIND_ALERT.search(line)
        if match:
            blamed.setdefault(match.group("name"), match.group("why").strip())
    return blamed


def address_in_use(reason: str) -> bool:
    return bool(_ADDRESS_IN_USE.search(reason))


def alerts(log_text: str) -> str:
    """The ALERT lines of a log excerpt, for an operator message."""
    return "\n".join(line for line in log_text.splitlines() if "[ALERT]" in line)


def server_state_for(state_text: str, weights: Mapping[tuple[str, str], int]) -> str:
    """``show servers state`` text adapted to the next configuration, which must win.

    HAProxy restores a server's health from the state file whatever its weight, but it also
    restores a *check port* recorded there over the configured one, so a changed CheckPort
    would be ignored: the check port and address columns are cleared ("0", "-": "use the
    configuration"). Weights are set to the new ones, so the file never disagrees with the
    configuration. Columns (state file version 1): 7 srv_uweight, 8 srv_iweight,
    21 srv_check_port, 22 srv_check_addr.
    """
    out = []
    for line in state_text.splitlines():
        fields = line.split(" ")
        if len(fields) > 22 and not line.startswith("#"):
            weight = weights.get((fields[1], fields[3]))
            if weight is not None:
                fields[7] = fields[8] = str(weight)
            fields[21], fields[22] = "0", "-"
            line = " ".join(fields)
        out.append(line)
    return "\n".join(out) + "\n" if out else ""


def normalise_address(ip: str) -> str:
    return str(ipaddress.ip_address(ip))


def bound_ports(config_text: str) -> set[tuple[str, int]]:
    """(address, port) of every ``bind`` line of a configuration ``render`` wrote.

    Used on a configuration that may be what a running HAProxy serves, to know which ports
    it may hold; a line that does not parse binds nothing we know of and is skipped.
    """
    bound = set()
    for line in config_text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0] != "bind":
            continue
        address, _, ports = fields[1].removeprefix("ipv6@").rpartition(":")
        first, _, last = ports.partition("-")
        try:
            address = normalise_address(address)
            span = range(int(first), int(last or first) + 1)
        except ValueError:
            continue
        bound.update((address, port) for port in span)
    return bound
