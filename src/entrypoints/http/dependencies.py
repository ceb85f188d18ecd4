"""Typed FastAPI dependencies, resolved from the app's container.

A router names what it needs as a type: `cases: Annotated[BiggestCities,
Depends(provided(lambda c: c.biggest_cities))]`. The provider is looked up on the container
of the app serving the request, so a test that overrides a container provider overrides what
every route receives.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from dependency_injector import providers
from fastapi import Depends, Request

from entrypoints.container import Container
from entrypoints.settings import Settings

T = TypeVar("T")


def container_of(request: Request) -> Container:
    """The container of the app serving `request` (set by `create_app`)."""
    container: Container = request.app.state.container
    return container


def provided(pick: Callable[[Container], providers.Provider[T]]
             ) -> Callable[[Request], Awaitable[T]]:
    """A dependency giving what `pick`'s provider provides, on the request's container.

    It is a coroutine function so that FastAPI calls it on the event loop, not in a thread."""

    async def dependency(request: Request) -> T:
        return pick(container_of(request))()

    return dependency


async def settings_of(request: Request) -> Settings:
    """The settings of the app serving `request`."""
    settings: Settings = request.app.state.settings
    return settings


async def _container(request: Request) -> Container:
    return container_of(request)


AppSettings = Annotated[Settings, Depends(settings_of)]
AppContainer = Annotated[Container, Depends(_container)]
"""The whole container: for the few routes that look at its providers (is the engine up?)."""
