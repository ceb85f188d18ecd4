"""Credentials: the tenant's API key for /v1 resources, the operator's token for /v1/tenants."""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException

from domain.errors import InvalidCredentials
from domain.tenancy import TenantId
from entrypoints.settings import Settings

_api_key = HTTPBearer(scheme_name="ApiKey", auto_error=False,
                      description="A tenant's API key: `Authorization: Bearer ck_...`")
_admin = HTTPBearer(scheme_name="AdminToken", auto_error=False,
                    description="The operator's token (CATALOG_ADMIN_TOKEN)")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="catalog"'}


async def current_tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_api_key)],
) -> TenantId:
    """The tenant whose API key authorised this request; 401 otherwise."""
    if credentials is None:
        raise InvalidCredentials()
    principal = request.scope.get("state", {}).get("principal")  # resolved by TenantLimits
    tenant_id = principal.tenant_id if principal is not None else (
        await request.app.state.container.authenticate()(credentials.credentials))
    request.scope["state"]["tenant_id"] = str(tenant_id)
    return tenant_id  # type: ignore[no-any-return]


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
Operator = Depends(require_operator)
