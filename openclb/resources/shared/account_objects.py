"""Reads and writes of account objects (``schema.account_objects``): things of an account and
region that belong to no CLB, by kind (CLS log sets and topics, customized configurations)."""

from __future__ import annotations

from dataclasses import asdict, fields

from sqlalchemy import insert, select

from openclb.domain.models import AccountObject, Scope
from openclb.store import schema
from openclb.store.query import columns
from openclb.store.store import Store


def list_objects(store: Store, scope: Scope, kind: str) -> list[AccountObject]:
    table = schema.account_objects
    query = (select(*columns(table, AccountObject))
             .where(table.c.app_id == scope.app_id, table.c.region == scope.region, table.c.kind == kind)
             .order_by(table.c.created_at, table.c.id))
    with store.engine.connect() as conn:
        return [AccountObject(**dict(zip((f.name for f in fields(AccountObject)), row))) for row in conn.execute(query)]


def insert_object(store: Store, item: AccountObject) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(schema.account_objects), [asdict(item)])
