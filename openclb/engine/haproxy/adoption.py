"""What a later openclb process needs to adopt the HAProxy this one leaves serving.

HAProxy outlives openclb (a crash, an upgrade restart). The next process adopts it instead of
starting another, and must then know two things the running HAProxy cannot tell it:

- The desired state HAProxy was loaded with, so the first reload after adoption renders
  every CLB, not only the first one the worker applies again (the others would lose their
  ports until their turn). After every load the engine saves the state of every CLB here
  (``save_states``: JSON, mode 0600, replaced atomically; it holds private keys, as the
  certificate files beside it do); ``load_states`` reads it back, or None when it is missing
  or was written by a version whose state no longer fits. Then the first reload serves only
  the CLBs applied so far, and the others' ports come back as the worker applies them.
- Which ports it may hold (``possibly_held``), so that re-applying a listener it serves does
  not fail the engine's own "port in use" probe. The saved state can lag the configuration
  by one load (a crash between the reload and the save) and the configuration on disk can
  be a candidate HAProxy refused, so both are counted: the union holds every port HAProxy
  may hold. Counting one too many is safe: a bind that then fails is blamed on its listener
  by the load, as any bind that loses a race.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from openclb.engine.haproxy import runtime
from openclb.engine.haproxy.ports import Port, ports_of
from openclb.engine.spec import LoadBalancerState

log = logging.getLogger("openclb.engine.haproxy")

FORMAT = 1


def save_states(path: Path, states: dict[str, LoadBalancerState]) -> None:
    """Record ``states`` (by CLB id) as what HAProxy now serves.

    A record that cannot be written is logged, never raised: serving does not depend on it.
    """
    document = {"format": FORMAT, "states": [dataclasses.asdict(state) for state in states.values()]}
    temporary = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("could not save the HAProxy state to %s (a restart will reload from the applies): %s", path, exc)


def load_states(path: Path) -> dict[str, LoadBalancerState] | None:
    """The states ``save_states`` recorded, by CLB id; None if there are none that fit."""
    try:
        document = json.loads(path.read_text())
        if document.get("format") != FORMAT:
            return None
        states = [_build(LoadBalancerState, raw) for raw in document["states"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        if path.exists():
            log.warning("the saved HAProxy state %s cannot be read (%s); applies will rebuild it", path, exc)
        return None
    return {state.load_balancer_id: state for state in states}


def possibly_held(config_path: Path, states: dict[str, LoadBalancerState]) -> set[Port]:
    """Every port the HAProxy that loaded ``config_path`` (or the load before) may hold."""
    try:
        text = config_path.read_text()
    except OSError:
        text = ""
    return runtime.bound_ports(text) | ports_of(states.values())


def _build(kind: Any, raw: Any) -> Any:
    """``raw`` (what ``dataclasses.asdict`` and JSON made of a value of type ``kind``) as that type."""
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        if raw is None:
            return None
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return _build(inner, raw)
    if origin is tuple:
        inner = typing.get_args(kind)[0]
        return tuple(_build(inner, item) for item in raw)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = {f.name for f in dataclasses.fields(kind) if f.init}
        unknown = set(raw) - fields
        if unknown:
            raise ValueError(f"{kind.__name__} has no field {sorted(unknown)[0]}")
        return kind(**{name: _build(hints[name], value) for name, value in raw.items()})
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(raw)
    if kind in (int, float, str, bool) and isinstance(raw, kind):
        return raw
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    raise ValueError(f"{raw!r} is not a {kind}")
