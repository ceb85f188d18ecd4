"""Spreading what makes cached keys stale to every instance: events published in the unit of
work that makes the change, applied here once it has committed, and everywhere else by
FollowKeyEvents polling the log.

To say that a tenant changed (so that every instance drops its cached keys):

    event = tenant_changed(tenant_id)
    async with operator_uow() as uow:
        await uow.key_events.publish(event)   # first in the transaction
        ...                                   # the change itself
        await uow.commit()
    apply(cache, event)
"""

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from domain.ids import new_id
from domain.model import KeyEvent
from domain.model.api_key import KEY_CHANGED, TENANT_CHANGED
from domain.ports import Clock, CredentialCache, KeyEventFeed
from domain.tenancy import TenantId


def key_changed(tenant_id: TenantId, key_id: UUID) -> KeyEvent:
    return KeyEvent(new_id(), KEY_CHANGED, tenant_id, key_id)


def tenant_changed(tenant_id: TenantId) -> KeyEvent:
    """The event that drops every cached key of a tenant, on every instance: publish it in the
    unit of work that changes (or deletes) the tenant, then `apply` it once committed."""
    return KeyEvent(new_id(), TENANT_CHANGED, tenant_id)


def apply(cache: CredentialCache, event: KeyEvent) -> None:
    """Drop what `event` makes stale from this instance's cache."""
    if event.kind == KEY_CHANGED and event.key_id is not None:
        cache.forget(event.key_id)
    else:
        cache.forget_tenant(event.tenant_id)


class FollowKeyEvents:
    """One round of the key event feed: apply every new event to this instance's cache, then
    mark the cache fresh as of the moment the round began. Every so often, prune old events."""

    PRUNE_EVERY, KEEP = 1_000, timedelta(hours=1)

    def __init__(self, feed: KeyEventFeed, cache: CredentialCache, clock: Clock) -> None:
        self._feed, self._cache, self._clock = feed, cache, clock
        self._rounds = 0

    async def __call__(self) -> Sequence[KeyEvent]:
        stamp = self._cache.stamp()
        events = await self._feed.poll()
        for event in events:
            apply(self._cache, event)
        self._cache.mark_fresh(stamp)
        self._rounds += 1
        if self._rounds % self.PRUNE_EVERY == 0:
            await self._feed.prune(self._clock.now() - self.KEEP)
        return events
