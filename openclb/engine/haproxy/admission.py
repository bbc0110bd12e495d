"""A listener's ``AdmissionSpec`` as HAProxy ``tcp-request connection`` rules (pure).

HAProxy evaluates these rules in order at accept, before any byte is read, and stops at the
first ``accept`` or ``reject``, so the order is the embedded engine's (``engine/embedded/
admission.py``):

1. Blocked clients: ``reject if { src -f <list> }``, one list file per expiry time, with
   ``{ date lt <expiry> }`` so an entry stops blocking on time without a reload. HAProxy
   closes a rejected connection at once (the client sees a reset or an empty close).
2. Security-group ingress policies in order: ACCEPT → ``accept``, DROP → ``reject``, each
   ``if { src <cidr> }`` and, for policies naming ports, ``{ dst_port <low>:<high> ... }``;
   UDP policies are left out (HAProxy serves TCP listeners only).
3. With any security group bound, a final ``reject``: what no policy accepts is dropped.

The HTTP header case (ClientIPField) needs layer 7: HAProxy serves no HTTP listener here.
"""

from __future__ import annotations

from pathlib import Path

from openclb.engine.spec import ListenerSpec


def admission_lines(spec: ListenerSpec, lists_dir: Path, files: dict[Path, str]) -> list[str]:
    admission = spec.admission
    lines: list[str] = []
    by_expiry: dict[float, list[str]] = {}
    for blocked in admission.blocked:
        by_expiry.setdefault(blocked.expires_at, []).append(blocked.ip)
    for index, (expiry, ips) in enumerate(sorted(by_expiry.items())):
        path = lists_dir / f"{spec.listener_id}-blocked-{index}.lst"
        files[path] = "".join(f"{ip}\n" for ip in sorted(ips))
        until = f" {{ date lt {int(expiry)} }}" if expiry else ""
        lines.append(f"tcp-request connection reject if {{ src -f {path} }}{until}")
    if admission.rules is None:
        return lines
    for rule in admission.rules:
        if rule.protocol not in ("ALL", "TCP"):
            continue
        conditions = f"{{ src {rule.network} }}"
        if rule.ports:
            conditions += " { dst_port " + " ".join(
                f"{low}:{high}" if high > low else f"{low}" for low, high in rule.ports) + " }"
        lines.append(f"tcp-request connection {'accept' if rule.accept else 'reject'} if {conditions}")
    lines.append("tcp-request connection reject")
    return lines
