"""The operator's API: tenants and their keys, behind CATALOG_ADMIN_TOKEN; and /v1/me."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Request, Response

from domain.model import RateLimit
from domain.pagination import DEFAULT_LIMIT
from entrypoints.http import rendering
from entrypoints.http.auth import Operator, Tenant
from entrypoints.http.json import JsonResponse
from entrypoints.http.problems import problem_responses
from entrypoints.http.routers.records import Cursor, Limit
from entrypoints.http.routers.api_keys import key_options
from entrypoints.http.schemas import (ApiKeyCreated, ApiKeyIn, ApiKeyPage, TenantCreated, TenantIn,
                                      TenantOut, TenantPage, TenantPatch)

router = APIRouter(prefix="/v1/tenants", tags=["operators"], dependencies=[Operator])
me = APIRouter(tags=["tenancy"])
OPERATOR_ERRORS = (401, 403, 422, 503)


def _container(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.container


@me.get("/v1/me", name="get", response_model=TenantOut,
        summary="The tenant the caller's key belongs to",
        responses=problem_responses(401, 503))
async def get_me(request: Request, tenant: Tenant) -> Response:
    return JsonResponse(rendering.tenant(await _container(request).get_tenant()(tenant)))


@router.post("", name="create", status_code=201, response_model=TenantCreated,
             summary="Create a tenant and its first API key",
             responses=problem_responses(*OPERATOR_ERRORS, 409, 413, 415))
async def create_tenant(request: Request, body: TenantIn) -> Response:
    tenant, key = await _container(request).create_tenant()(body.slug, body.name)
    return JsonResponse({"tenant": rendering.tenant(tenant), "api_key": rendering.issued_key(key)},
                        status_code=201, headers={"Location": f"/v1/tenants/{tenant.id}"})


@router.get("", name="list", response_model=TenantPage, summary="List tenants in creation order",
            responses=problem_responses(400, *OPERATOR_ERRORS))
async def list_tenants(request: Request, limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> Response:
    result = await _container(request).list_tenants()(
        after=rendering.decode_cursor(cursor), limit=limit)
    return JsonResponse(rendering.page(result, rendering.tenant))


@router.get("/{tenant_id}", name="get", response_model=TenantOut, summary="Get a tenant",
            responses=problem_responses(*OPERATOR_ERRORS, 404))
async def get_tenant(request: Request, tenant_id: UUID) -> Response:
    return JsonResponse(rendering.tenant(await _container(request).get_tenant()(tenant_id)))


@router.patch("/{tenant_id}", name="update", response_model=TenantOut,
              summary="Rename a tenant or set its own rate limit (null: the defaults)",
              responses=problem_responses(*OPERATOR_ERRORS, 404, 413, 415))
async def update_tenant(request: Request, tenant_id: UUID, body: TenantPatch) -> Response:
    sent = body.model_fields_set
    changes: dict[str, object] = {}
    if "name" in sent and body.name is not None:
        changes["name"] = body.name
    if "rate_limit" in sent:
        limit = body.rate_limit
        changes["rate_limit"] = None if limit is None else RateLimit.of(limit.rate, limit.burst)
    tenant = await _container(request).update_tenant()(tenant_id, **changes)
    return JsonResponse(rendering.tenant(tenant))


@router.delete("/{tenant_id}", name="delete", status_code=204,
               summary="Delete a tenant and all its data",
               responses=problem_responses(*OPERATOR_ERRORS, 404))
async def delete_tenant(request: Request, tenant_id: UUID) -> Response:
    await _container(request).delete_tenant()(tenant_id)
    return Response(status_code=204)


@router.post("/{tenant_id}/api-keys", name="issue_api_key", status_code=201,
             response_model=ApiKeyCreated,
             summary="Issue a new API key (shown once)",
             responses=problem_responses(*OPERATOR_ERRORS, 404, 413, 415))
async def issue_api_key(request: Request, tenant_id: UUID,
                        body: Annotated[ApiKeyIn, Body()] = None  # type: ignore[assignment]
                        ) -> Response:  # optional body: a generated client may send none
    key = await _container(request).issue_api_key()(tenant_id, **key_options(body))
    return JsonResponse(rendering.issued_key(key), status_code=201)


@router.get("/{tenant_id}/api-keys", response_model=ApiKeyPage,
            summary="List a tenant's API keys (metadata only, revoked keys included)",
            responses=problem_responses(400, *OPERATOR_ERRORS, 404))
async def list_api_keys(request: Request, tenant_id: UUID, limit: Limit = DEFAULT_LIMIT,
                        cursor: Cursor = None) -> Response:
    result = await _container(request).list_api_keys()(
        tenant_id, after=rendering.decode_cursor(cursor), limit=limit)
    return JsonResponse(rendering.page(result, rendering.api_key))


@router.delete("/{tenant_id}/api-keys/{key_id}", name="revoke_api_key",
               status_code=204, summary="Revoke an API key",
               responses=problem_responses(*OPERATOR_ERRORS, 404))
async def revoke_api_key(request: Request, tenant_id: UUID, key_id: UUID) -> Response:
    await _container(request).revoke_api_key()(tenant_id, key_id)
    return Response(status_code=204)
