"""The `catalog` command: serve, migrate, manage tenants and show the settings."""

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Annotated, Any, TypeVar
from uuid import UUID

import typer
from pydantic import ValidationError

from domain.errors import DomainError, Unavailable
from domain.model import RateLimit
from entrypoints import startup
from entrypoints.container import Container, dispose
from entrypoints.http import rendering
from entrypoints.http.json import dumps
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings

_PLAIN: dict[str, Any] = {"no_args_is_help": True, "add_completion": False,
                         "pretty_exceptions_enable": False, "rich_markup_mode": None}
app = typer.Typer(help="tenant-catalog: a multi-tenant catalog service.", **_PLAIN)
db = typer.Typer(help="Database schema migrations (Alembic).", **_PLAIN)
tenants = typer.Typer(help="Create, update, list and delete tenants.", **_PLAIN)
app.add_typer(db, name="db")
keys = typer.Typer(help="List, create, revoke and roll a tenant's API keys.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
app.add_typer(keys, name="keys")

T = TypeVar("T")


def _migrate() -> ModuleType:
    from adapters.sqlalchemy import migrate  # Alembic is slow to import: only when needed

    return migrate


def _on_database(work: Callable[[str], Awaitable[T]]) -> T:
    """Run `work(url)` on the migration URL; a database that cannot be used is a StartupError
    naming the setting that points at it."""
    settings = Settings()
    setting = ("CATALOG_MIGRATION_DATABASE_URL" if settings.migration_database_url
               else "CATALOG_DATABASE_URL")
    try:
        return asyncio.run(work(settings.migration_url))
    except startup.CONNECTION_ERRORS as error:
        raise startup.database_problem(setting, error) from None


def _migrate_on_start(settings: Settings) -> None:
    """`db sync` first where the settings ask for it (by default, on SQLite only)."""
    if settings.migrate_on_start if settings.migrate_on_start is not None else settings.is_sqlite:
        _on_database(lambda url: _migrate().sync(url))


def _echo(data: Any) -> None:
    typer.echo(dumps(data).decode())


def _with_container(work: Callable[[Container], Awaitable[T]]) -> T:
    """Run `work` against a container whose engine lives only for this command."""

    settings = Settings()
    _migrate_on_start(settings)

    async def run() -> T:
        container = Container(settings=settings)
        container.init_resources()
        try:
            return await work(container)
        finally:
            await dispose(container)

    try:
        return asyncio.run(run())
    except Unavailable as error:
        if not _on_database(lambda url: _migrate().is_at_head(url)):
            raise startup.StartupError("CATALOG_DATABASE_URL: the database's schema is not at "
                                       "the migrations' head; run `catalog db upgrade`") from None
        raise startup.StartupError(f"CATALOG_DATABASE_URL: {error}") from None
    except startup.CONNECTION_ERRORS as error:
        raise startup.database_problem("CATALOG_DATABASE_URL", error) from None
    except DomainError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(host: Annotated[str | None, typer.Option(
              "--host", metavar="HOST", help="address to listen on",
              show_default="CATALOG_HOST, else 127.0.0.1")] = None,
          port: Annotated[int | None, typer.Option(
              "--port", metavar="PORT", help="port to listen on",
              show_default="CATALOG_PORT, else 8000")] = None,
          workers: Annotated[int | None, typer.Option(
              "--workers", metavar="N", min=1, help="worker processes",
              show_default="CATALOG_WORKERS, else 1")] = None) -> None:
    """Start the HTTP service (on SQLite, the schema is brought up to date first)."""
    import uvicorn

    from entrypoints.http.protocol import Limits, bounded_protocol

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    host, port = host or settings.host, port or settings.port
    startup.check_port_free(host, port)
    _migrate_on_start(settings)
    workers = workers or settings.workers
    metrics_dir = None  # made here for the workers' metrics, and removed when they are done
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="catalog-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    # uvicorn re-raises SIGTERM/SIGINT once it has shut down gracefully, to whatever handler
    # was there before it: make that one a no-op, so a graceful stop exits with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        uvicorn.run("entrypoints.http.asgi:app_factory", factory=True,
                    host=host, port=port, workers=workers,
                    log_level=settings.log_level, access_log=False, log_config=None,
                    proxy_headers=True, server_header=False, http=bounded_protocol(Limits(
                        settings.http_max_header_bytes, settings.http_max_header_line_bytes,
                        settings.http_max_headers, settings.http_header_timeout,
                        settings.http_body_timeout)),
                    timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds))
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def config() -> None:
    """Print the effective settings, secrets masked."""
    typer.echo(json.dumps(Settings().masked(), indent=2, default=str))


@db.command()
def upgrade(revision: Annotated[str, typer.Argument(metavar="[REVISION]")] = "head") -> None:
    """Upgrade the schema to REVISION (default: head)."""
    _on_database(lambda url: _migrate().upgrade(url, revision))


@db.command()
def downgrade(revision: Annotated[str, typer.Argument(metavar="REVISION")]) -> None:
    """Downgrade the schema to REVISION (`base` removes it all)."""
    _on_database(lambda url: _migrate().downgrade(url, revision))


@db.command()
def current() -> None:
    """Print the schema's current revision."""
    typer.echo(_on_database(lambda url: _migrate().current(url)) or "none")


@db.command()
def sync() -> None:
    """Empty database: create the schema and stamp head; otherwise upgrade to head."""
    _on_database(lambda url: _migrate().sync(url))


Rate = Annotated[float | None, typer.Option(
    help="the tenant's own rate limit: requests per second on average (with --burst)")]
Burst = Annotated[int | None, typer.Option(
    help="the tenant's own rate limit: requests at once (with --rate)")]


def _rate_limit(rate: float | None, burst: int | None) -> RateLimit | None:
    if (rate is None) != (burst is None):
        raise typer.BadParameter("--rate and --burst go together")
    if rate is None:
        return None
    try:
        return RateLimit.of(rate, burst)
    except DomainError as error:
        raise typer.BadParameter(str(error)) from None


@tenants.command("create")
def create_tenant(slug: Annotated[str, typer.Argument(metavar="SLUG", show_default=False)],
                  name: Annotated[str | None, typer.Option(
                      "--name", metavar="NAME", show_default="the slug")] = None,
                  rate: Rate = None, burst: Burst = None) -> None:
    """Create a tenant and print it with its first API key (shown only now)."""
    limit = _rate_limit(rate, burst)
    tenant, key = _with_container(lambda c: c.create_tenant()(slug, name, rate_limit=limit))
    _echo({"tenant": rendering.tenant(tenant), "api_key": rendering.issued_key(key)})


@tenants.command("update")
def update_tenant(slug: str, name: Annotated[str | None, typer.Option()] = None,
                  rate: Rate = None, burst: Burst = None,
                  default_limit: Annotated[bool, typer.Option(
                      "--default-limit", help="drop the tenant's own rate limit: the service's "
                                              "defaults apply again")] = False) -> None:
    """Rename a tenant or set its rate limit, and print it."""
    limit = _rate_limit(rate, burst)
    if default_limit and limit is not None:
        raise typer.BadParameter("--default-limit goes without --rate and --burst")
    changes: dict[str, Any] = {"name": name}
    if limit is not None or default_limit:
        changes["rate_limit"] = limit

    async def update(container: Container) -> Any:
        tenant = await container.get_tenant()(slug=slug)
        return await container.update_tenant()(tenant.id, **changes)

    _echo(rendering.tenant(_with_container(update)))


@tenants.command("list")
def list_tenants() -> None:
    """Print every tenant, one JSON object per line, in creation order."""

    async def every(container: Container) -> list[Any]:
        found, after = [], None
        while True:
            page = await container.list_tenants()(after=after, limit=100)
            found.extend(page.items)
            if page.next_after is None:
                return found
            after = page.next_after

    for tenant in _with_container(every):
        _echo(rendering.tenant(tenant))


@tenants.command("delete")
def delete_tenant(slug: Annotated[str, typer.Argument(metavar="SLUG", show_default=False)]
                  ) -> None:
    """Delete the tenant with this slug and all of its data."""

    async def delete(container: Container) -> None:
        tenant = await container.get_tenant()(slug=slug)
        await container.delete_tenant()(tenant.id)

    _with_container(delete)
    typer.echo(f"deleted {slug}")


TenantSlug = Annotated[str, typer.Option("--tenant", help="the tenant's slug")]


def _for_tenant(slug: str, work: Callable[[Container, Any], Awaitable[T]]) -> T:
    async def run(container: Container) -> T:
        return await work(container, (await container.get_tenant()(slug=slug)).id)

    return _with_container(run)


def _key_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a key id (a UUID)") from None


@keys.command("list")
def list_keys(tenant: TenantSlug) -> None:
    """Print the tenant's keys (metadata only, revoked ones too), one JSON object per line."""

    async def every(container: Container, tenant_id: Any) -> list[Any]:
        found, after = [], None
        while True:
            page = await container.list_api_keys()(tenant_id, after=after, limit=100)
            found.extend(page.items)
            if page.next_after is None:
                return found
            after = page.next_after

    for key in _for_tenant(tenant, every):
        _echo(rendering.api_key(key))


@keys.command("create")
def create_key(tenant: TenantSlug,
               name: Annotated[str, typer.Option(help="a label for the key")] = "",
               read_only: Annotated[bool, typer.Option(
                   "--read-only", help="the key may only GET and HEAD")] = False,
               expires_at: Annotated[datetime | None, typer.Option(
                   help="when the key stops working (UTC unless a zone is given)",
                   formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"])] = None,
               ) -> None:
    """Issue a key for the tenant and print it with its secret (shown only now)."""
    when = expires_at.replace(tzinfo=UTC) if expires_at and expires_at.tzinfo is None \
        else expires_at
    scopes = ["read"] if read_only else ["read", "write"]
    issued = _for_tenant(tenant, lambda c, t: c.issue_api_key()(
        t, name=name, scopes=scopes, expires_at=when))
    _echo(rendering.issued_key(issued))


@keys.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="the key's id")],
               tenant: TenantSlug) -> None:
    """Revoke one of the tenant's keys (every running instance stops taking it within 2 s)."""
    _for_tenant(tenant, lambda c, t: c.revoke_api_key()(t, _key_id(key_id)))
    typer.echo(f"revoked {key_id}")


@keys.command("roll")
def roll_key(key_id: Annotated[str, typer.Argument(help="the key's id")], tenant: TenantSlug,
             expires_in: Annotated[int, typer.Option(
                 min=0, max=604_800, help="seconds the old key keeps working")] = 3600) -> None:
    """Issue a key with the same name and scopes; the old one works `expires_in` seconds more."""
    issued = _for_tenant(tenant, lambda c, t: c.roll_api_key()(t, _key_id(key_id), expires_in))
    _echo(rendering.issued_key(issued))


def main() -> None:
    """The `catalog` program: a settings or startup error is one line on stderr and exit 2."""
    try:
        app()
    except (ValidationError, startup.StartupError, *startup.CONNECTION_ERRORS) as error:
        typer.echo(f"error: {startup.explain(error)}", err=True)
        sys.exit(2)
