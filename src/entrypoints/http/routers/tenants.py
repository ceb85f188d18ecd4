"""The operator's API: tenants and their keys, behind CATALOG_ADMIN_TOKEN; and /v1/me."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response

from domain.model import RateLimit
from domain.pagination import DEFAULT_LIMIT
from domain.use_cases import api_keys as key_cases
from domain.use_cases import tenants as cases
from entrypoints.http import rendering
from entrypoints.http.auth import Operator, Tenant
from entrypoints.http.dependencies import provided
from entrypoints.http.json import JsonResponse
from entrypoints.http.problems import problem_responses
from entrypoints.http.routers.records import Cursor, Limit
from entrypoints.http.routers.api_keys import key_options
from entrypoints.http.schemas import (ApiKeyCreated, ApiKeyIn, ApiKeyPage, TenantCreated, TenantIn,
                                      TenantOut, TenantPage, TenantPatch)

router = APIRouter(prefix="/v1/tenants", tags=["operators"], dependencies=[Operator])
me = APIRouter(tags=["tenancy"])
OPERATOR_ERRORS = (401, 403, 422, 503)


Creating = Annotated[cases.CreateTenant, Depends(provided(lambda c: c.create_tenant))]
Getting = Annotated[cases.GetTenant, Depends(provided(lambda c: c.get_tenant))]
Listing = Annotated[cases.ListTenants, Depends(provided(lambda c: c.list_tenants))]
Updating = Annotated[cases.UpdateTenant, Depends(provided(lambda c: c.update_tenant))]
Deleting = Annotated[cases.DeleteTenant, Depends(provided(lambda c: c.delete_tenant))]
IssuingKey = Annotated[key_cases.IssueApiKey, Depends(provided(lambda c: c.issue_api_key))]
ListingKeys = Annotated[key_cases.ListApiKeys, Depends(provided(lambda c: c.list_api_keys))]
RevokingKey = Annotated[key_cases.RevokeApiKey, Depends(provided(lambda c: c.revoke_api_key))]


@me.get("/v1/me", name="get", response_model=TenantOut,
        summary="The tenant the caller's key belongs to",
        responses=problem_responses(401, 503))
async def get_me(tenant: Tenant, getting: Getting) -> Response:
    return JsonResponse(rendering.tenant(await getting(tenant)))


@router.post("", name="create", status_code=201, response_model=TenantCreated,
             summary="Create a tenant and its first API key",
             responses=problem_responses(*OPERATOR_ERRORS, 409, 413, 415))
async def create_tenant(creating: Creating, body: TenantIn) -> Response:
    tenant, key = await creating(body.slug, body.name)
    return JsonResponse({"tenant": rendering.tenant(tenant), "api_key": rendering.issued_key(key)},
                        status_code=201, headers={"Location": f"/v1/tenants/{tenant.id}"})


@router.get("", name="list", response_model=TenantPage, summary="List tenants in creation order",
            responses=problem_responses(400, *OPERATOR_ERRORS))
async def list_tenants(listing: Listing, limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> Response:
    result = await listing(
        after=rendering.decode_cursor(cursor), limit=limit)
    return JsonResponse(rendering.page(result, rendering.tenant))


@router.get("/{tenant_id}", name="get", response_model=TenantOut, summary="Get a tenant",
            responses=problem_responses(*OPERATOR_ERRORS, 404))
async def get_tenant(getting: Getting, tenant_id: UUID) -> Response:
    return JsonResponse(rendering.tenant(await getting(tenant_id)))


@router.patch("/{tenant_id}", name="update", response_model=TenantOut,
              summary="Rename a tenant or set its own rate limit (null: the defaults)",
              responses=problem_responses(*OPERATOR_ERRORS, 404, 413, 415))
async def update_tenant(updating: Updating, tenant_id: UUID, body: TenantPatch) -> Response:
    sent = body.model_fields_set
    changes: dict[str, object] = {}
    if "name" in sent and body.name is not None:
        changes["name"] = body.name
    if "rate_limit" in sent:
        limit = body.rate_limit
        changes["rate_limit"] = None if limit is None else RateLimit.of(limit.rate, limit.burst)
    tenant = await updating(tenant_id, **changes)
    return JsonResponse(rendering.tenant(tenant))


@router.delete("/{tenant_id}", name="delete", status_code=204,
               summary="Delete a tenant and all its data",
               responses=problem_responses(*OPERATOR_ERRORS, 404))
async def delete_tenant(deleting: Deleting, tenant_id: UUID) -> Response:
    await deleting(tenant_id)
    return Response(status_code=204)


@router.post("/{tenant_id}/api-keys", name="issue_api_key", status_code=201,
             response_model=ApiKeyCreated,
             summary="Issue a new API key (shown once)",
             responses=problem_responses(*OPERATOR_ERRORS, 404, 413, 415))
async def issue_api_key(issuing: IssuingKey, tenant_id: UUID,
                        body: ApiKeyIn = Body(None)  # optional: a generated client may send none
                        ) -> Response:
    key = await issuing(tenant_id, **key_options(body))
    return JsonResponse(rendering.issued_key(key), status_code=201)


@router.get("/{tenant_id}/api-keys", response_model=ApiKeyPage,
            summary="List a tenant's API keys (metadata only, revoked keys included)",
            responses=problem_responses(400, *OPERATOR_ERRORS, 404))
async def list_api_keys(listing: ListingKeys, tenant_id: UUID, limit: Limit = DEFAULT_LIMIT,
                        cursor: Cursor = None) -> Response:
    result = await listing(
        tenant_id, after=rendering.decode_cursor(cursor), limit=limit)
    return JsonResponse(rendering.page(result, rendering.api_key))


@router.delete("/{tenant_id}/api-keys/{key_id}", name="revoke_api_key",
               status_code=204, summary="Revoke an API key",
               responses=problem_responses(*OPERATOR_ERRORS, 404))
async def revoke_api_key(revoking: RevokingKey, tenant_id: UUID, key_id: UUID) -> Response:
    await revoking(tenant_id, key_id)
    return Response(status_code=204)
