"""The `catalog` command: serve, migrate, manage tenants and show the settings."""

import asyncio
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from domain.errors import DomainError
from domain.model import RateLimit
from entrypoints.container import Container, dispose
from entrypoints.http import rendering
from entrypoints.http.json import dumps
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings

app = typer.Typer(help="tenant-catalog: a multi-tenant catalog service.", no_args_is_help=True)
db = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)
tenants = typer.Typer(help="Create, update, list and delete tenants.", no_args_is_help=True)
app.add_typer(db, name="db")
app.add_typer(tenants, name="tenants")

T = TypeVar("T")


def _migrate():  # type: ignore[no-untyped-def]
    from adapters.sqlalchemy import migrate  # Alembic is slow to import: only when needed

    return migrate


def _echo(data: Any) -> None:
    typer.echo(dumps(data).decode())


def _with_container(work: Callable[[Container], Awaitable[T]]) -> T:
    """Run `work` against a container whose engine lives only for this command."""

    async def run() -> T:
        container = Container(settings=Settings())
        container.init_resources()
        try:
            return await work(container)
        finally:
            await dispose(container)

    try:
        return asyncio.run(run())
    except DomainError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
          port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
          workers: Annotated[int | None, typer.Option(help="worker processes")] = None) -> None:
    """Start the HTTP service (on SQLite, the schema is brought up to date first)."""
    import uvicorn

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.migrate_on_start if settings.migrate_on_start is not None else settings.is_sqlite:
        asyncio.run(_migrate().sync(settings.migration_url))
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
                    host=host or settings.host, port=port or settings.port, workers=workers,
                    log_level=settings.log_level, access_log=False, log_config=None,
                    proxy_headers=True, server_header=False,
                    timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds))
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def config() -> None:
    """Print the effective settings, secrets masked."""
    typer.echo(json.dumps(Settings().masked(), indent=2, default=str))


@db.command()
def upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema to REVISION (default: head)."""
    asyncio.run(_migrate().upgrade(Settings().migration_url, revision))


@db.command()
def downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Downgrade the schema to REVISION (`base` removes it all)."""
    asyncio.run(_migrate().downgrade(Settings().migration_url, revision))


@db.command()
def current() -> None:
    """Print the schema's current revision."""
    typer.echo(asyncio.run(_migrate().current(Settings().migration_url)) or "none")


@db.command()
def sync() -> None:
    """Empty database: create the schema and stamp head; otherwise upgrade to head."""
    asyncio.run(_migrate().sync(Settings().migration_url))


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
def create_tenant(slug: str, name: Annotated[str | None, typer.Option()] = None,
                  rate: Rate = None, burst: Burst = None) -> None:
    """Create a tenant and print it with its first API key (shown only now)."""
    limit = _rate_limit(rate, burst)
    tenant, key = _with_container(lambda c: c.create_tenant()(slug, name, rate_limit=limit))
    _echo({"tenant": rendering.tenant(tenant), "api_key": rendering.api_key(key)})


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
def delete_tenant(slug: str) -> None:
    """Delete the tenant with this slug and all of its data."""

    async def delete(container: Container) -> None:
        tenant = await container.get_tenant()(slug=slug)
        await container.delete_tenant()(tenant.id)

    _with_container(delete)
    typer.echo(f"deleted {slug}")


def main() -> None:
    app()
