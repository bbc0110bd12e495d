"""The official examples of an action (tccli's examples.json) as request parameters.

An example's input is either a query (``&Name=value`` lines, nested names dotted as the v1
signature flattens them: ``SnatIps.0.SubnetId``) or an HTTP request with a JSON body; both are
turned back into the nested parameters ``call_json`` sends. Query values are typed from the
spec (integers and booleans), as the gateway types a v1 request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tccli


_SERVICE = Path(tccli.__file__).parent / "services" / "clb" / "v20180317"


def example_params(action: str) -> list[dict[str, Any]]:
    examples = json.loads((_SERVICE / "examples.json").read_text())["actions"].get(action, [])
    return [_params(action, example["input"]) for example in examples]


def _params(action: str, text: str) -> dict[str, Any]:
    if "{" in text:
        return json.loads(text[text.index("{"):text.rindex("}") + 1])
    params: dict[str, Any] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().lstrip("&").partition("=")
        if not sep or name == "https://clb.tencentcloudapi.com/?Action" or name.startswith("<"):
            continue
        _put(params, name.split("."), value.strip())
    return _typed(params)


def _put(params: dict, path: list[str], value: str) -> None:
    node: Any = params
    for key, nxt in zip(path, path[1:]):
        default: Any = [] if nxt.isdigit() else {}
        if isinstance(node, list):
            while len(node) <= int(key):
                node.append(default)
            node = node[int(key)]
        else:
            node = node.setdefault(key, default)
    last = path[-1]
    if isinstance(node, list):
        node.append(value)
    else:
        node[last] = value


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value
