"""v1 replay protection that survives a restart: verified nonces are written to the store.

``auth.verify_v1`` already refuses a nonce this process has seen (``NonceReplayGuard``, in
memory, no I/O); ``DurableNonces`` then records the nonce in the store, off the event loop,
and refuses the call when the store already holds it: a replay sent to a restarted server, or
to another server on the same store. Rows whose window has passed are pruned at most once per
``prune_interval`` seconds, in the background.

Invariant: only calls whose signature verified reach ``remember``, so unauthenticated traffic
cannot write to the store.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from typing import Protocol

from openclb import errors
from openclb.api.auth import SIGNATURE_WINDOW_SECONDS

log = logging.getLogger("openclb.api")


class NonceStore(Protocol):
    """Where nonces are kept (``store/nonces.py``; ``app.py`` hands it in: the API never imports the store)."""

    def remember(self, secret_id: str, nonce: str, timestamp: int, expires_at: int) -> bool: ...

    def prune(self, now: float) -> int: ...


class DurableNonces:
    def __init__(
        self,
        store: NonceStore,
        executor: Executor,
        window_seconds: int = SIGNATURE_WINDOW_SECONDS,
        prune_interval: float = 60.0,
    ) -> None:
        self._store = store
        self._executor = executor
        self._window = window_seconds
        self._prune_interval = prune_interval
        self._next_prune = 0.0
        self._pruning: asyncio.Future | None = None

    async def remember(self, secret_id: str, nonce: str, timestamp: int, now: float) -> None:
        """Record a verified call's nonce, or raise SignatureFailure if the store has it."""
        loop = asyncio.get_running_loop()
        expires_at = timestamp + self._window
        fresh = await loop.run_in_executor(
            self._executor, self._store.remember, secret_id, nonce, timestamp, expires_at
        )
        if not fresh:
            raise errors.AuthFailureSignatureFailure(
                "The request has been replayed: this Nonce and Timestamp were already used."
            )
        if now >= self._next_prune and self._pruning is None:
            self._next_prune = now + self._prune_interval
            self._pruning = loop.run_in_executor(self._executor, self._store.prune, now)
            self._pruning.add_done_callback(self._pruned)

    def _pruned(self, future: asyncio.Future) -> None:
        self._pruning = None
        if not future.cancelled() and future.exception() is not None:
            log.warning("pruning v1 nonces failed: %s", future.exception())
