"""The app's routes as the middlewares see them, before the router runs: which route a request
will reach, and whom that route answers (a tenant, the operator, anyone)."""

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from entrypoints.http.auth import Audience, audience_of


class Routes:
    """Looks requests up in the app's routes (the list itself: routes added later count)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._routes = routes
        self._audiences: dict[int, Audience] = {}  # by id(route): routes are not hashable

    def route(self, scope: Scope) -> BaseRoute | None:
        """The route answering this request, also kept as `scope["route"]` (so that an answer
        given before the router runs is logged and counted under it)."""
        found = scope.get("route")
        if isinstance(found, BaseRoute):
            return found
        for route in self._routes:
            if route.matches(scope)[0] == Match.FULL:
                scope["route"] = route
                return route
        return None

    def audience(self, scope: Scope) -> Audience:
        """Whom the request's route answers (ANYONE when no route matches)."""
        route = self.route(scope)
        if not isinstance(route, APIRoute):
            return Audience.ANYONE
        audience = self._audiences.get(id(route))
        if audience is None:
            audience = self._audiences[id(route)] = audience_of(route)
        return audience
