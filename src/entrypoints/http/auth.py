"""Credentials: the tenant's API key for /v1 resources, the operator's token for /v1/tenants."""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException

from domain.errors import InsufficientScope, InvalidCredentials
from domain.model import Principal
from domain.tenancy import TenantId
from entrypoints.settings import Settings

_api_key = HTTPBearer(scheme_name="ApiKey", auto_error=False,
                      description="A tenant's API key: `Authorization: Bearer ck_...`")
_admin = HTTPBearer(scheme_name="AdminToken", auto_error=False,
                    description="The operator's token (CATALOG_ADMIN_TOKEN)")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="catalog"'}


READ_METHODS = frozenset({"GET", "HEAD"})


def require_scope(principal: Principal, *, write: bool) -> None:
    """The one scope check: a key without the `write` scope may only read."""
    if write and not principal.can_write:
        raise InsufficientScope()


async def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None,
                     *, write: bool) -> Principal:
    if credentials is None:
        raise InvalidCredentials()
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:  # not resolved already by TenantLimitsMiddleware
        principal = await request.app.state.container.authenticate()(credentials.credentials)
    request.scope["state"]["tenant_id"] = str(principal.tenant_id)
    require_scope(principal, write=write)
    return principal


async def current_tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_api_key)],
) -> TenantId:
    """The tenant whose API key authorised this request (a write needs the `write` scope);
    401 or 403 otherwise."""
    principal = await _principal(request, credentials,
                                 write=request.method not in READ_METHODS)
    return principal.tenant_id


async def key_manager(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_api_key)],
) -> Principal:
    """A caller managing its tenant's keys: a `write` key, whatever the method."""
    return await _principal(request, credentials, write=True)


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
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin)],
) -> None:
    """Admit the operator's bearer token; 403 to everyone while no token is configured."""
    settings = request.app.state.settings
    if settings.admin_token is None:
        raise HTTPException(403, "the admin API is disabled: CATALOG_ADMIN_TOKEN is not set")
    if not is_operator_token(settings, credentials.credentials if credentials else None):
        raise HTTPException(401, "the operator's token is required", headers=_CHALLENGE)


Tenant = Annotated[TenantId, Depends(current_tenant)]
KeyManager = Annotated[Principal, Depends(key_manager)]
Operator = Depends(require_operator)
