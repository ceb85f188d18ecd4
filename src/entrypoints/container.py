"""The composition root: builds the engine, the units of work and every use case."""

from collections.abc import Iterator

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.clock import SystemClock
from adapters.ratelimit.concurrency import TenantConcurrency
from adapters.ratelimit.local import InMemoryRateLimiter
from adapters.ratelimit.shared import RedisRateLimiter
from adapters.security.cache import TtlCredentialCache
from adapters.security.hashing import Sha256KeyHasher
from adapters.security.idempotency import AesGcmIdempotencyCipher
from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.idempotency import SqlaIdempotencyStore
from adapters.sqlalchemy.key_events import SqlaKeyEventFeed, SqlaKeyUsageRecorder
from adapters.sqlalchemy.readers import SqlaApiKeyReader, SqlaCityReader
from adapters.sqlalchemy.readiness import SchemaReadiness
from adapters.sqlalchemy.transactions import TransactionScope, Transactions
from adapters.sqlalchemy.unit_of_work import SqlaOperatorUnitOfWork, SqlaUnitOfWork
from domain.model import RateLimit
from domain.use_cases import api_keys as key_cases
from domain.use_cases import cities as city_cases
from domain.use_cases import idempotency as idempotency_cases
from domain.use_cases import key_events
from domain.use_cases import records
from domain.use_cases import tenants as tenant_cases
from domain.use_cases import users as user_cases
from entrypoints.http.observability import REDIS_FALLBACKS
from entrypoints.settings import Settings

# Cached keys are trusted only while the key event feed has caught up within this many seconds
# (with polls every key_events_poll_seconds <= 1 s): a revocation reaches every instance in 2 s.
KEY_CACHE_STALE_AFTER = 1.5


def _engine(settings: Settings) -> Iterator[AsyncEngine]:
    """The engine as a resource: created by init_resources(), disposed by `dispose()`."""
    yield create_engine(
        settings.url, pool_size=settings.pool_size, max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout, pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        pre_ping_idle_seconds=settings.pool_pre_ping_idle_seconds,
        pgbouncer=settings.behind_pgbouncer,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms, echo=settings.echo_sql)


def _probe_engine(settings: Settings) -> Iterator[AsyncEngine]:
    """One connection of its own for /readyz, failing fast rather than waiting."""
    yield create_engine(settings.url, pool_size=1, max_overflow=0,
                        pool_timeout=settings.readiness_timeout, pool_recycle=settings.pool_recycle,
                        pool_pre_ping=True, pgbouncer=settings.behind_pgbouncer)


def _scope(engine: AsyncEngine, settings: Settings) -> TransactionScope:
    return TransactionScope.for_dialect(
        engine.dialect.name, settings.backend, statement_timeout_ms=settings.statement_timeout_ms,
        lock_timeout_ms=settings.lock_timeout_ms,
        idle_in_transaction_timeout_ms=settings.idle_in_transaction_timeout_ms)


def _rate_limiter(settings: Settings) -> InMemoryRateLimiter | RedisRateLimiter:
    """Shared through Redis when CATALOG_REDIS_URL is set, else this instance's own."""
    local = InMemoryRateLimiter()
    if settings.redis_url is None:
        return local
    return RedisRateLimiter(settings.redis_url.get_secret_value(),
                            timeout=settings.redis_timeout_ms / 1000, fallback=local,
                            on_fallback=REDIS_FALLBACKS.inc)


class Container(containers.DeclarativeContainer):
    """Providers for one process; tests override `uow` and `operator_uow` with fakes."""

    settings = providers.Dependency(instance_of=Settings)

    engine = providers.Resource(_engine, settings)
    scope = providers.Singleton(_scope, engine, settings)
    transactions = providers.Singleton(Transactions, engine, scope)
    probe_engine = providers.Resource(_probe_engine, settings)
    readiness = providers.Singleton(SchemaReadiness, probe_engine)

    clock = providers.Singleton(SystemClock)
    hasher = providers.Singleton(Sha256KeyHasher)
    credential_cache = providers.Singleton(
        TtlCredentialCache, ttl=providers.Callable(lambda s: s.key_cache_ttl, settings),
        stale_after=KEY_CACHE_STALE_AFTER)

    uow = providers.Factory(SqlaUnitOfWork, transactions)
    operator_uow = providers.Factory(SqlaOperatorUnitOfWork, transactions)

    create_record = providers.Singleton(records.CreateRecord, uow.provider, clock)
    get_record = providers.Singleton(records.GetRecord, uow.provider, clock)
    list_records = providers.Singleton(records.ListRecords, uow.provider, clock)
    update_record = providers.Singleton(records.UpdateRecord, uow.provider, clock)
    delete_record = providers.Singleton(records.DeleteRecord, uow.provider, clock)
    city_reader = providers.Singleton(SqlaCityReader, transactions)
    biggest_cities = providers.Singleton(city_cases.BiggestCities, city_reader)
    get_user_by_name = providers.Singleton(user_cases.GetUserByName, uow.provider, clock)
    get_or_create_user = providers.Singleton(user_cases.GetOrCreateUser, uow.provider, clock)
    update_or_create_user = providers.Singleton(user_cases.UpdateOrCreateUser, uow.provider, clock)

    _operator = (operator_uow.provider, clock, hasher, credential_cache)
    key_reader = providers.Singleton(SqlaApiKeyReader, transactions)
    key_usage = providers.Singleton(SqlaKeyUsageRecorder, transactions)
    authenticate = providers.Singleton(key_cases.Authenticate, *_operator, keys=key_reader,
                                       usage=key_usage)
    create_tenant = providers.Singleton(tenant_cases.CreateTenant, *_operator)
    get_tenant = providers.Singleton(tenant_cases.GetTenant, *_operator)
    list_tenants = providers.Singleton(tenant_cases.ListTenants, *_operator)
    delete_tenant = providers.Singleton(tenant_cases.DeleteTenant, *_operator)
    issue_api_key = providers.Singleton(key_cases.IssueApiKey, *_operator)
    list_api_keys = providers.Singleton(key_cases.ListApiKeys, *_operator)
    get_api_key = providers.Singleton(key_cases.GetApiKey, *_operator)
    revoke_api_key = providers.Singleton(key_cases.RevokeApiKey, *_operator)
    roll_api_key = providers.Singleton(key_cases.RollApiKey, *_operator)
    key_event_feed = providers.Singleton(SqlaKeyEventFeed, transactions)
    follow_key_events = providers.Singleton(key_events.FollowKeyEvents, key_event_feed,
                                            credential_cache, clock)

    default_rate_limit = providers.Singleton(
        lambda s: RateLimit.of(s.tenant_rate, s.tenant_burst), settings)
    rate_limiter = providers.Singleton(_rate_limiter, settings)
    tenant_concurrency = providers.Singleton(
        lambda s: TenantConcurrency(s.max_concurrency, s.queue_timeout), settings)
    update_tenant = providers.Singleton(tenant_cases.UpdateTenant, *_operator)

    idempotency_store = providers.Singleton(SqlaIdempotencyStore, transactions)
    idempotency_cipher = providers.Singleton(AesGcmIdempotencyCipher)
    idempotent_requests = providers.Singleton(
        idempotency_cases.IdempotentRequests, idempotency_store, idempotency_cipher, clock,
        providers.Callable(lambda s: s.idempotency_ttl_seconds, settings),
        providers.Callable(lambda s: s.idempotency_lease_seconds, settings))
    purge_idempotency_keys = providers.Singleton(
        idempotency_cases.PurgeExpiredIdempotencyKeys, idempotency_store, clock)


async def dispose(container: Container) -> None:
    """Close the pool (if it was ever created) and release every resource."""
    if container.engine.initialized:
        await container.key_usage().drain()
    for engine in (container.engine, container.probe_engine):
        if engine.initialized:
            await engine().dispose()
    await container.rate_limiter().close()
    container.shutdown_resources()
