"""The store side of CLS log sets and topics: account objects of kind ``logset`` and ``topic``.

They belong to no CLB and change no data plane, so they are written at once, without a task;
binding a CLB to them is a CLB settings change (``load_balancers.queries``), which is a task.
"""

from __future__ import annotations

from openclb.resources.shared.account_objects import insert_object, list_objects

__all__ = ["LOGSET", "TOPIC", "insert_object", "list_objects"]

LOGSET = "logset"
TOPIC = "topic"
