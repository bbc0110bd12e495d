"""The official examples of an action (tccli's examples.json) as request parameters.

An example's input is either a query (``&Name=value`` lines, nested names dotted as the v1
signature flattens them: ``SnatIps.0.SubnetId``) or an HTTP request with a JSON body; both are
turned back into the nested parameters: as a v1 GET carries them (strings, ``example_calls``)
or with a query's digits as integers for ``call_json`` (``example_params``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import tccli


_SERVICE = Path(tccli.__file__).parent / "services" / "clb" / "v20180317"


def example_params(action: str) -> list[dict[str, Any]]:
    """Each example's parameters, a query's digits typed as integers (as the gateway types them)."""
    return [params if method == "POST" else _typed(params) for method, params in example_calls(action)]


def example_calls(action: str) -> list[tuple[str, dict[str, Any]]]:
    """(``GET`` or ``POST``, parameters) of each example as it is shown: a query's values stay
    strings, as a v1-signed GET carries them."""
    examples = json.loads((_SERVICE / "examples.json").read_text())["actions"].get(action, [])
    return [_call(example["input"]) for example in examples]


def _call(text: str) -> tuple[str, dict[str, Any]]:
    if "{" in text:
        return "POST", json.loads(text[text.index("{"):text.rindex("}") + 1])
    query = text.split("?", 1)[1] if "?" in text else text
    flat = {}
    for item in re.split(r"[&\n]", query):
        name, sep, value = item.strip().partition("=")
        if sep and name != "Action" and not name.startswith("<"):
            flat[name] = value.strip()
    return "GET", _unflatten(flat)


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """``Targets.0.InstanceId=x`` → ``{"Targets": [{"InstanceId": "x"}]}`` (values stay strings)."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node: Any = root
        for part, following in zip(parts, parts[1:]):
            container: Any = [] if following.isdigit() else {}
            if part.isdigit():
                while len(node) <= int(part):
                    node.append(container)
                node = node[int(part)]
            else:
                node = node.setdefault(part, container)
        last = parts[-1]
        if last.isdigit():
            while len(node) <= int(last):
                node.append(None)
            node[int(last)] = value
        else:
            node[last] = value
    return root


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value
