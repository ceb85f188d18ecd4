"""Credentials: the tenant's API key for /v1 resources, the operator's token for /v1/tenants."""

import hmac
from enum import Enum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException
from starlette.types import Scope

from domain.errors import InsufficientScope, InvalidCredentials
from domain.model import Principal
from domain.tenancy import TenantId
from domain.use_cases.api_keys import Authenticate
from entrypoints.http.dependencies import AppSettings, container_of
from entrypoints.settings import Settings

_admin = HTTPBearer(scheme_name="AdminToken", auto_error=False,
                    description="The operator's token (CATALOG_ADMIN_TOKEN)")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="catalog"'}


READ_METHODS = frozenset({"GET", "HEAD"})


def require_scope(principal: Principal, *, write: bool) -> None:
    """The one scope check: a key without the `write` scope may only read."""
    if write and not principal.can_write:
        raise InsufficientScope()


_REFUSED = object()  # the request's key was checked, and refused


async def principal_of(scope: Scope, authenticate: Authenticate) -> Principal:
    """The principal of the request's API key, authenticated once per request.

    The answer (or the refusal: InvalidCredentials) is kept in the request's state, so that
    the middlewares that need it first and the route that needs it last all ask this, and
    the key is looked up once. Unavailable (no database) is not kept: a later ask retries."""
    state = scope.setdefault("state", {})
    known = state.get("principal")
    if isinstance(known, Principal):
        return known
    token = None if known is _REFUSED else bearer_of(scope)
    if token is None:
        state["principal"] = _REFUSED
        raise InvalidCredentials()
    try:
        principal = await authenticate(token)
    except InvalidCredentials:
        state["principal"] = _REFUSED
        raise
    state["principal"], state["tenant_id"] = principal, str(principal.tenant_id)
    return principal


def bearer_of(scope: Scope) -> str | None:
    """The bearer token of a request's (first) Authorization header, as HTTPBearer reads it."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bearer_token(value.decode("latin-1"))
    return None


class ApiKeyAuth(SecurityBase):
    """A tenant's API key, as the `ApiKey` security scheme (HTTP bearer) of the routes that
    take one and, as their dependency, the check itself: the principal of a `write` key
    (401 or 403 otherwise).

    Scheme and check are one dependency, so that FastAPI resolves one per request rather than
    a scheme, a use case and a check, one after another."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            description="A tenant's API key: `Authorization: Bearer ck_...`")
        self.scheme_name = "ApiKey"

    async def principal(self, request: Request, *, write: bool) -> Principal:
        principal = await principal_of(request.scope, container_of(request).authenticate())
        require_scope(principal, write=write)
        return principal

    async def __call__(self, request: Request) -> Principal:
        return await self.principal(request, write=True)


class TenantKeyAuth(SecurityBase):
    """The tenant whose API key authorised this request: reads (GET, HEAD) need no scope,
    anything else the `write` scope. The same `ApiKey` scheme."""

    def __init__(self, key: ApiKeyAuth) -> None:
        self.model, self.scheme_name, self._key = key.model, key.scheme_name, key

    async def __call__(self, request: Request) -> TenantId:
        principal = await self._key.principal(request, write=request.method not in READ_METHODS)
        return principal.tenant_id


key_manager = ApiKeyAuth()
current_tenant = TenantKeyAuth(key_manager)


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer …` header (any case), as HTTPBearer reads."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    return credentials if scheme.lower() == "bearer" and credentials else None


def is_operator_token(settings: Settings, presented: str | None) -> bool:
    """True when a token is configured and `presented` is it (compared in constant time)."""
    token = settings.admin_token
    return token is not None and presented is not None and hmac.compare_digest(
        presented.encode(), token.get_secret_value().encode())


async def require_operator(
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin)],
) -> None:
    """Admit the operator's bearer token; 403 to everyone while no token is configured."""
    if settings.admin_token is None:
        raise HTTPException(403, "the admin API is disabled: CATALOG_ADMIN_TOKEN is not set")
    if not is_operator_token(settings, credentials.credentials if credentials else None):
        raise HTTPException(401, "the operator's token is required", headers=_CHALLENGE)


Tenant = Annotated[TenantId, Depends(current_tenant)]
KeyManager = Annotated[Principal, Depends(key_manager)]
Operator = Depends(require_operator)


class Audience(Enum):
    """Whom a route answers: a tenant's API key, the operator's token, or anyone."""

    TENANT = "tenant"
    OPERATOR = "operator"
    ANYONE = "anyone"


def audience_of(route: APIRoute) -> Audience:
    """Whom `route` answers, read from the credentials its dependencies ask for."""
    calls = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        calls.add(dependant.call)
        pending.extend(dependant.dependencies)
    if require_operator in calls:
        return Audience.OPERATOR
    if current_tenant in calls or key_manager in calls:
        return Audience.TENANT
    return Audience.ANYONE
