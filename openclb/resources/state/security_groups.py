"""Security groups in the state document: the member ``SecurityGroups`` (optional on import).

Each group keeps its id, region, name, description, project, times, policy version, tags and
policies (the store's form, ``domain/security_groups.py``), so an import recreates it under the
same id and the CLBs that name it in their settings (``security_groups``) enforce it again. A
CLB naming a group the document lacks is refused before anything is written.
"""

from __future__ import annotations

from typing import Any

from openclb.domain.security_groups import SecurityGroup
from openclb.resources.state import checks as check


def to_items(groups: tuple[SecurityGroup, ...]) -> list[dict[str, Any]]:
    return [
        {"SecurityGroupId": g.id, "Region": g.region, "GroupName": g.name, "GroupDescription": g.description,
         "ProjectId": g.project_id, "CreateTime": g.created_at, "UpdateTime": g.updated_at, "Version": g.version,
         "Tags": [{"key": t["key"], "value": t.get("value", "")} for t in g.tags],
         "Policies": {d: [dict(sorted(p.items())) for p in g.policies.get(d, [])] for d in ("egress", "ingress")}}
        for g in sorted(groups, key=lambda g: (g.created_at, g.id))
    ]


def from_items(value: Any, app_id: int, path: str) -> tuple[SecurityGroup, ...]:
    groups = []
    for i, item in enumerate(check.items(value, path)):
        where = f"{path}.{i}"
        check.members(item, where, ("SecurityGroupId", "Region", "GroupName", "GroupDescription", "ProjectId",
                                    "CreateTime", "UpdateTime", "Version", "Tags", "Policies"))
        policies = check.members(item["Policies"], f"{where}.Policies", ("egress", "ingress"))
        groups.append(SecurityGroup(
            id=check.identifier(item["SecurityGroupId"], f"{where}.SecurityGroupId", "sg"), app_id=app_id,
            region=check.region(item["Region"], f"{where}.Region"),
            name=check.text(item["GroupName"], f"{where}.GroupName", 1, 60),
            description=check.text(item["GroupDescription"], f"{where}.GroupDescription", 0, 100),
            project_id=check.text(item["ProjectId"], f"{where}.ProjectId", 1, 32),
            created_at=check.stamp(item["CreateTime"], f"{where}.CreateTime"),
            updated_at=check.stamp(item["UpdateTime"], f"{where}.UpdateTime"),
            version=check.number(item["Version"], f"{where}.Version", 0, 2**31),
            tags=[check.settings(t, f"{where}.Tags.{n}")
                  for n, t in enumerate(check.items(item["Tags"], f"{where}.Tags"))],
            policies={d: [check.settings(p, f"{where}.Policies.{d}.{n}")
                          for n, p in enumerate(check.items(policies[d], f"{where}.Policies.{d}"))]
                      for d in ("egress", "ingress")},
        ))
    check.unique([g.id for g in groups], path)
    return tuple(groups)
