"""The app's routes as the middlewares see them, before the router runs: which route a request
will reach, and whom that route answers (a tenant, the operator, anyone)."""

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from entrypoints.http.auth import Audience, audience_of


class Routes:
    """Looks requests up in the app's routes (the list itself: routes added later count)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._routes = routes
        self._audiences: dict[int, Audience] = {}  # by id(route): routes are not hashable
        self._indexed: list[tuple[str, BaseRoute]] = []

    def _by_prefix(self) -> list[tuple[str, BaseRoute]]:
        """Each route with the literal start of its path (before its first parameter), so
        that only the routes a path starts with are matched (a string test, not a regex)."""
        if len(self._indexed) != len(self._routes):
            self._indexed = [(route.path_format.split("{", 1)[0] if isinstance(route, Route)
                              else "", route) for route in self._routes]
        return self._indexed

    def route(self, scope: Scope) -> BaseRoute | None:
        """The route answering this request, also kept as `scope["route"]` (so that an answer
        given before the router runs is logged and counted under it)."""
        found = scope.get("route")
        if isinstance(found, BaseRoute):
            return found
        path = scope["path"]
        for prefix, route in self._by_prefix():
            if path.startswith(prefix) and route.matches(scope)[0] == Match.FULL:
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
