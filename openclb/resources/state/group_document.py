"""Target groups in the state document (version 2): ``TargetGroups``, each with its instances and associations.

```
"TargetGroups": [{"TargetGroupId": "lbtg-0a1b2c3d", "Region": "ap-guangzhou", "TargetGroupName": "web",
                  "VpcId": "vpc-openclb0", "Port": 80, "CreateTime": "...", "UpdateTime": "...", "Settings": {},
                  "Instances": [{"Ip": "10.0.0.5", "Port": 8080, "Weight": 10, "RegisteredTime": "..."}],
                  "Associations": [{"LoadBalancerId": "lb-0a1b2c3d", "ListenerId": "lbl-0a1b2c3d",
                                    "LocationId": "", "Weight": null, "CreateTime": "..."}]}]
```

An association names a listener (``LocationId`` "") or a rule of a CLB of the same document; a
listener or rule takes one group. A version-1 document has no target groups.
"""

from __future__ import annotations

from typing import Any

from openclb.domain.models import Listener, Rule
from openclb.domain.target_groups import TargetGroup, TargetGroupAssociation, TargetGroupInstance
from openclb.resources.state import checks as check


def to_entries(
    groups: tuple[TargetGroup, ...], instances: tuple[TargetGroupInstance, ...],
    associations: tuple[TargetGroupAssociation, ...],
) -> list[dict[str, Any]]:
    return [
        {
            "TargetGroupId": group.id, "Region": group.region, "TargetGroupName": group.name, "VpcId": group.vpc_id,
            "Port": group.port, "CreateTime": group.created_at, "UpdateTime": group.updated_at,
            "Settings": check.sorted_settings(group.settings),
            "Instances": [{"Ip": x.ip, "Port": x.port, "Weight": x.weight, "RegisteredTime": x.registered_at}
                          for x in sorted(instances, key=lambda x: (x.registered_at, x.ip, x.port))
                          if x.target_group_id == group.id],
            "Associations": [{"LoadBalancerId": x.lb_id, "ListenerId": x.listener_id, "LocationId": x.location_id,
                              "Weight": x.weight, "CreateTime": x.created_at}
                             for x in sorted(associations, key=lambda x: (x.created_at, x.listener_id, x.location_id))
                             if x.target_group_id == group.id],
        }
        for group in sorted(groups, key=lambda g: (g.created_at, g.id))
    ]


def from_entries(
    value: Any, app_id: int, listeners: list[Listener], rules: list[Rule], path: str,
) -> tuple[tuple[TargetGroup, ...], tuple[TargetGroupInstance, ...], tuple[TargetGroupAssociation, ...]]:
    """The groups of ``TargetGroups``, checked against the document's listeners and rules."""
    listener_index = {l.id: l for l in listeners}
    rule_index = {r.id: r for r in rules}
    groups, instances, associations = [], [], []
    for index, item in enumerate(check.items(value, path)):
        where = f"{path}.{index}"
        check.members(item, where, ("TargetGroupId", "Region", "TargetGroupName", "VpcId", "Port", "CreateTime",
                                    "UpdateTime", "Settings", "Instances", "Associations"))
        group = TargetGroup(
            id=check.identifier(item["TargetGroupId"], f"{where}.TargetGroupId", "target_group"), app_id=app_id,
            region=check.region(item["Region"], f"{where}.Region"),
            name=check.text(item["TargetGroupName"], f"{where}.TargetGroupName", 1, 80),
            vpc_id=check.identifier(item["VpcId"], f"{where}.VpcId", "vpc"),
            port=None if item["Port"] is None else check.number(item["Port"], f"{where}.Port", 1, 65535),
            created_at=check.stamp(item["CreateTime"], f"{where}.CreateTime"),
            updated_at=check.stamp(item["UpdateTime"], f"{where}.UpdateTime"),
            settings=check.settings(item["Settings"], f"{where}.Settings"),
        )
        groups.append(group)
        instances += _instances(group.id, item["Instances"], f"{where}.Instances")
        associations += _associations(group.id, item["Associations"], listener_index, rule_index,
                                      f"{where}.Associations")
    check.unique([g.id for g in groups], path)
    check.unique([f"{x.listener_id}/{x.location_id}" for x in associations], f"{path} (Associations)")
    return tuple(groups), tuple(instances), tuple(associations)


def _instances(group_id: str, value: Any, path: str) -> list[TargetGroupInstance]:
    found = []
    for index, item in enumerate(check.items(value, path)):
        where = f"{path}.{index}"
        check.members(item, where, ("Ip", "Port", "Weight", "RegisteredTime"))
        found.append(TargetGroupInstance(
            group_id, check.address(item["Ip"], f"{where}.Ip"), check.number(item["Port"], f"{where}.Port", 1, 65535),
            check.number(item["Weight"], f"{where}.Weight", 0, 100),
            check.stamp(item["RegisteredTime"], f"{where}.RegisteredTime")))
    check.unique([f"{x.ip}:{x.port}" for x in found], path)
    return found


def _associations(
    group_id: str, value: Any, listeners: dict[str, Listener], rules: dict[str, Rule], path: str,
) -> list[TargetGroupAssociation]:
    found = []
    for index, item in enumerate(check.items(value, path)):
        where = f"{path}.{index}"
        check.members(item, where, ("LoadBalancerId", "ListenerId", "LocationId", "Weight", "CreateTime"))
        listener = listeners.get(item["ListenerId"])
        if listener is None or listener.lb_id != item["LoadBalancerId"]:
            raise check.refuse(f"{where}.ListenerId", "must name a listener of that load balancer in this state")
        location_id = item["LocationId"]
        if location_id and (location_id not in rules or rules[location_id].listener_id != listener.id):
            raise check.refuse(f"{where}.LocationId", "must be empty or name a rule of that listener in this state")
        weight = item["Weight"]
        found.append(TargetGroupAssociation(
            group_id, listener.lb_id, listener.id, location_id,
            None if weight is None else check.number(weight, f"{where}.Weight", 0, 100),
            check.stamp(item["CreateTime"], f"{where}.CreateTime")))
    return found
