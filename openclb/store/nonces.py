"""The v1 signature nonces seen within the replay window, kept in the store.

A verified v1 call's (SecretId, Nonce, Timestamp) is inserted once; the primary key refuses a
second insert, on SQLite and PostgreSQL alike, so a replay is recognised by every process on
the store and after a restart. A row is useless once its timestamp has left the signature
window (the timestamp check refuses the call by itself), so ``prune`` deletes those.

Synchronous, like ``store.py``: the caller runs these methods off the event loop.
"""

from __future__ import annotations

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from openclb.store import schema


class NonceStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def remember(self, secret_id: str, nonce: str, timestamp: int, expires_at: int) -> bool:
        """Record the nonce; False when it was already recorded (the call is a replay)."""
        row = {"secret_id": secret_id, "nonce": nonce, "timestamp": timestamp, "expires_at": expires_at}
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(schema.v1_nonces).values(row))
        except IntegrityError:
            return False
        return True

    def prune(self, now: float) -> int:
        """Delete the nonces whose window has passed; returns how many."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(schema.v1_nonces).where(schema.v1_nonces.c.expires_at < int(now)))
        return result.rowcount or 0
