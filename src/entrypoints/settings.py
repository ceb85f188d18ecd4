"""Settings from CATALOG_* environment variables (and a .env file), built once per process."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./catalog.db"

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
}


_EXAMPLES = "such as postgresql://user@host/db or sqlite:///catalog.db"


def to_async_url(url: str) -> str:
    """Translate a sync SQLAlchemy URL to its async driver (`postgresql://` -> asyncpg)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"must be a URL {_EXAMPLES}")
    return f"{_ASYNC_DRIVERS.get(scheme.lower(), scheme)}://{rest}"


def usable_url(url: str) -> str:
    """`url` when the service can use it: an async driver that is installed, and for a SQLite
    file, a directory that exists. Else ValueError saying what is wrong, in one line."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except ArgumentError:
        raise ValueError(f"is not a database URL ({_EXAMPLES})") from None
    except NoSuchModuleError:
        raise ValueError(f"names a database this service cannot use ({parsed.drivername}): "
                         "use PostgreSQL or SQLite, " + _EXAMPLES) from None
    if not getattr(dialect, "is_async", False):
        raise ValueError(f"names the synchronous driver {parsed.drivername}: use "
                         "postgresql+asyncpg:// (or postgresql://) or sqlite+aiosqlite:// "
                         "(or sqlite://)")
    try:
        dialect.import_dbapi()
    except ImportError as error:
        raise ValueError(f"needs the driver {error.name or parsed.drivername}, which is not "
                         "installed") from None
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:") \
            and not database.startswith("file:"):
        directory = Path(database).expanduser().absolute().parent
        if not directory.is_dir():
            raise ValueError(f"names a SQLite file in {directory}, a directory that does not "
                             "exist")
    return url


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://***@{host}"


class Settings(BaseSettings):
    """Everything the service can be told; `catalog config` prints it with secrets masked."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_", env_file=".env", extra="ignore")

    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    migration_database_url: SecretStr | None = Field(
        None, description="the schema owner's URL for `catalog db`; default: database_url")
    app_role: str = Field("catalog_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                          description="the PostgreSQL role the migrations grant to")
    admin_token: SecretStr | None = None
    # A steady pool: connections beyond the pool size are closed on return, so overflow under
    # sustained load means reconnecting (and re-preparing statements) over and over.
    pool_size: int = Field(20, ge=1)
    pool_max_overflow: int = Field(0, ge=0)
    pool_timeout: float = Field(5.0, gt=0, description="seconds to wait for a pooled connection")
    pool_recycle: int = Field(1800, description="seconds before a connection is replaced")
    pool_pre_ping: bool = Field(
        True, description="test connections as they leave the pool (a dead one is replaced)")
    pool_pre_ping_idle_seconds: float = Field(
        1.0, ge=0, description="with pre-ping, test only connections idle longer than this "
                               "(0: every checkout)")
    statement_timeout_ms: int = Field(15_000, ge=0)
    lock_timeout_ms: int = Field(5_000, ge=0)
    idle_in_transaction_timeout_ms: int = Field(30_000, ge=0)
    database_backend: Literal["auto", "postgresql", "pgbouncer", "citus"] = Field(
        "auto", description="how transactions begin on PostgreSQL: auto asks the database "
        "whether it is Citus; pgbouncer cannot be detected")
    pgbouncer: bool = Field(False, description="PgBouncer transaction pooling in front "
                                               "(the same as database_backend=pgbouncer)")
    sqlite_busy_timeout_ms: int = Field(10_000, ge=0)
    key_cache_ttl: float = Field(
        300.0, ge=0, le=86_400,
        description="seconds a resolved key is cached (revocation reaches it within 2 s anyway)")
    key_events_poll_seconds: float = Field(
        0.5, ge=0.05, le=1.0,
        description="seconds between polls of the key event log (revocations, deleted tenants)")
    idempotency_ttl_seconds: float = Field(
        86_400, gt=0, description="seconds an Idempotency-Key's first answer is replayed")
    idempotency_lease_seconds: float = Field(
        10, gt=0, description="seconds an Idempotency-Key's claim outlives its request's "
                              "last sign of life (renewed while the request runs)")
    idempotency_purge_interval_seconds: float = Field(
        300, gt=0, description="seconds between sweeps that delete expired idempotency keys")
    tenant_limits: bool = Field(
        True, description="false turns the rate limit and the concurrency cap off")
    tenant_rate: float = Field(100.0, ge=0.1, le=100_000,
                               description="requests per second a tenant may make on average")
    tenant_burst: int = Field(200, ge=1, le=100_000,
                              description="requests a tenant may make at once")
    redis_url: SecretStr | None = Field(
        None, description="a Redis shared by every instance for the rate limit; unset: each "
                          "instance limits alone")
    redis_timeout_ms: float = Field(
        10.0, gt=0, le=10_000, description="milliseconds to wait for Redis before deciding locally")
    tenant_max_concurrency: int | None = Field(
        None, ge=1, description="requests of one tenant in flight per instance; default: half "
                                "the pool")
    tenant_queue_timeout: float | None = Field(
        None, ge=0, description="seconds a request past the cap waits; default: the pool timeout")
    migrate_on_start: bool | None = Field(
        None, description="run `db sync` before serving; default: only on SQLite")
    readiness_timeout: float = Field(2.0, gt=0, description="seconds /readyz waits on the database")
    shutdown_drain_seconds: float = Field(
        0.0, ge=0, description="on SIGTERM, answer /readyz 503 this long before closing")
    shutdown_timeout_seconds: float = Field(
        30.0, gt=0, description="on SIGTERM, longest wait for requests in flight")
    http_max_header_bytes: int = Field(
        64 * 1024, ge=1024, description="bytes of a request line and its headers, else 431")
    http_max_header_line_bytes: int = Field(
        16 * 1024, ge=256, description="bytes of one header line (or the request target)")
    http_max_headers: int = Field(100, ge=1, description="headers in one request, else 431")
    http_header_timeout: float = Field(
        10.0, gt=0, description="seconds for a request's headers to arrive, else 408 and close")
    http_body_timeout: float = Field(
        30.0, gt=0, description="seconds for a request's body to arrive whole, else 408 and close")
    metrics_token: SecretStr | None = Field(
        None, description="when set, /metrics answers only `Authorization: Bearer <token>`")
    log_format: Literal["auto", "json", "text"] = "auto"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    echo_sql: bool = False
    gc_freeze: bool = Field(
        True, description="once the app has started, move every object then alive out of the "
                          "garbage collector's sight (gc.freeze): collections stop walking them")
    gc_threshold: str = Field(
        "default", pattern=r"^\s*(default|[1-9][0-9]*(,[1-9][0-9]*){0,2})\s*$",
        description="the garbage collector's thresholds, gen0[,gen1[,gen2]] (gc.set_threshold);"
                    " default: the interpreter's own (700,10,10)")

    @field_validator("database_url", "migration_database_url", mode="before")
    @classmethod
    def _async_driver(cls, value: object) -> object:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return to_async_url(str(raw)) if raw else None

    @field_validator("database_url", mode="after")
    @classmethod
    def _default_database(cls, value: SecretStr | None) -> SecretStr:
        return SecretStr(usable_url((value or SecretStr(DEFAULT_DATABASE_URL)).get_secret_value()))

    @field_validator("migration_database_url", mode="after")
    @classmethod
    def _usable_migration_database(cls, value: SecretStr | None) -> SecretStr | None:
        return value and SecretStr(usable_url(value.get_secret_value()))

    @property
    def url(self) -> str:
        return self.database_url.get_secret_value()

    @property
    def migration_url(self) -> str:
        """Where `catalog db` connects: the owner's URL, or the service's own."""
        owner = self.migration_database_url
        return owner.get_secret_value() if owner else self.url

    @property
    def backend(self) -> str:
        """The backend the transaction module is told (SQLite is always itself)."""
        if self.is_sqlite:
            return "sqlite"
        if self.pgbouncer and self.database_backend == "auto":
            return "pgbouncer"
        return self.database_backend

    @property
    def behind_pgbouncer(self) -> bool:
        return self.backend == "pgbouncer"

    @property
    def max_concurrency(self) -> int:
        """Requests of one tenant in flight at once on this instance."""
        return self.tenant_max_concurrency or max(1, self.pool_size // 2)

    @property
    def queue_timeout(self) -> float:
        """Seconds a request past its tenant's cap waits for a slot."""
        return self.pool_timeout if self.tenant_queue_timeout is None else self.tenant_queue_timeout

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @staticmethod
    def variable(field: str) -> str:
        """The environment variable that sets a field: database_url -> CATALOG_DATABASE_URL."""
        return f"CATALOG_{field.upper()}"

    def masked(self) -> dict[str, object]:
        """The effective settings, with passwords and tokens replaced by ***."""
        from sqlalchemy.engine import make_url

        shown = self.model_dump()
        for name in ("database_url", "migration_database_url"):
            secret = getattr(self, name)
            shown[name] = secret and make_url(secret.get_secret_value()).render_as_string(
                hide_password=True)
        if self.redis_url is not None:
            shown["redis_url"] = _without_password(self.redis_url.get_secret_value())
        shown["admin_token"] = "***" if self.admin_token else None
        shown["metrics_token"] = "***" if self.metrics_token else None
        return shown
