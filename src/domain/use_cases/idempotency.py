"""Idempotent requests: claim a key, replay the first answer, and purge expired keys."""

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from domain.idempotency import Outcome, Replay, SavedResponse, StoredAnswer
from domain.ports import Clock, IdempotencyCipher, IdempotencyStore


class IdempotentRequests:
    """Claims an idempotency key for a request, then records its answer or releases the key.

    Keys and requests reach the store only as hashes, answers only sealed under the key."""

    def __init__(self, store: IdempotencyStore, cipher: IdempotencyCipher, clock: Clock,
                 ttl_seconds: float, lease_seconds: float = 10.0) -> None:
        self._store, self._cipher, self._clock, self._ttl = store, cipher, clock, ttl_seconds
        self.lease_seconds = lease_seconds

    async def begin(self, scope_id: UUID, key: str, request: Sequence[bytes]) -> Outcome:
        """Started (run the request, renewing the claim's lease every lease_seconds / 3 until
        it completes or abandons), Replay (the first answer), InProgress or Mismatch. A claim
        whose attempt died (the process killed, the database gone) lapses after its lease, so
        that a retry runs again; it never blocks the key for longer."""
        claim = await self._store.begin(
            scope_id, self._cipher.key_hash(scope_id, key),
            self._cipher.request_hash(scope_id, key, request),
            now=self._clock.now(), ttl_seconds=self.lease_seconds)
        if not isinstance(claim, StoredAnswer):
            return claim
        response = self._cipher.open(scope_id, key, claim.sealed)
        if response is None:  # same key hash, yet not sealed under this key: corrupted
            raise RuntimeError("the answer stored under this idempotency key cannot be opened")
        return Replay(response)

    async def complete(self, scope_id: UUID, key: str, response: SavedResponse) -> None:
        """Keep the answer for replays until the key expires."""
        await self._store.complete(scope_id, self._cipher.key_hash(scope_id, key),
                                   response.status, self._cipher.seal(scope_id, key, response),
                                   expires_at=self._clock.now() + timedelta(seconds=self._ttl))

    async def renew(self, scope_id: UUID, key: str) -> None:
        """Extend the claim of a request still running by another lease."""
        await self._store.renew(
            scope_id, self._cipher.key_hash(scope_id, key),
            expires_at=self._clock.now() + timedelta(seconds=self.lease_seconds))

    async def abandon(self, scope_id: UUID, key: str) -> None:
        """Release the key of a request that gave no answer worth keeping."""
        await self._store.abandon(scope_id, self._cipher.key_hash(scope_id, key))


class PurgeExpiredIdempotencyKeys:
    """Delete every idempotency record expired by now, in small batches with pauses between
    them, so that no transaction holds many locks for long; returns how many went."""

    def __init__(self, store: IdempotencyStore, clock: Clock) -> None:
        self._store, self._clock = store, clock

    async def __call__(self, *, batch_size: int = 500, pause_seconds: float = 0.05) -> int:
        now, deleted, resume_from = self._clock.now(), 0, None
        while True:
            batch = await self._store.purge_expired(now, batch_size, resume_from=resume_from)
            deleted += batch.deleted
            if batch.resume_from is None:
                return deleted
            resume_from = batch.resume_from
            await asyncio.sleep(pause_seconds)
