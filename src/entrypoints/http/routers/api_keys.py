"""A tenant's own API keys: list, issue, read, revoke and roll them, with a `write` key."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response

from domain.model import IssuedKey
from domain.pagination import DEFAULT_LIMIT
from domain.use_cases import api_keys as cases
from entrypoints.http import rendering
from entrypoints.http.auth import KeyManager
from entrypoints.http.dependencies import provided
from entrypoints.http.json import JsonResponse
from entrypoints.http.problems import problem_responses
from entrypoints.http.routers.records import Cursor, Limit
from entrypoints.http.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, ApiKeyPage, ApiKeyRoll

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
ERRORS = (401, 403, 422, 503)
Issuing = Annotated[cases.IssueApiKey, Depends(provided(lambda c: c.issue_api_key))]
Listing = Annotated[cases.ListApiKeys, Depends(provided(lambda c: c.list_api_keys))]
Getting = Annotated[cases.GetApiKey, Depends(provided(lambda c: c.get_api_key))]
Revoking = Annotated[cases.RevokeApiKey, Depends(provided(lambda c: c.revoke_api_key))]
Rolling = Annotated[cases.RollApiKey, Depends(provided(lambda c: c.roll_api_key))]


def _created(issued: IssuedKey) -> JsonResponse:
    return JsonResponse(rendering.issued_key(issued), status_code=201,
                        headers={"Location": f"/v1/api-keys/{issued.key.id}"})


def key_options(body: ApiKeyIn | None) -> dict[str, object]:
    """The options a body sets, for IssueApiKey."""
    return body.model_dump(exclude_unset=True) if body is not None else {}


@router.get("", name="list", response_model=ApiKeyPage, summary="List the tenant's API keys",
            description="Metadata only (never a secret), revoked keys included, in creation "
                        "order.",
            responses=problem_responses(400, *ERRORS))
async def list_api_keys(caller: KeyManager, listing: Listing, limit: Limit = DEFAULT_LIMIT,
                        cursor: Cursor = None) -> Response:
    result = await listing(
        caller.tenant_id, after=rendering.decode_cursor(cursor), limit=limit)
    return JsonResponse(rendering.page(result, rendering.api_key))


@router.post("", name="create", status_code=201, response_model=ApiKeyCreated,
             summary="Issue an API key (its secret is shown only in this answer)",
             responses=problem_responses(*ERRORS, 413, 415))
async def create_api_key(caller: KeyManager, issuing: Issuing,
                         body: ApiKeyIn = Body(None)  # optional: a generated client may send none
                         ) -> Response:
    return _created(await issuing(caller.tenant_id, **key_options(body)))


@router.get("/{key_id}", name="get", response_model=ApiKeyOut, summary="Get one of the tenant's API keys",
            responses=problem_responses(*ERRORS, 404))
async def get_api_key(caller: KeyManager, getting: Getting, key_id: UUID) -> Response:
    key = await getting(caller.tenant_id, key_id)
    return JsonResponse(rendering.api_key(key))


@router.delete("/{key_id}", name="revoke", status_code=204, summary="Revoke an API key",
               description="At once here, within 2 s on every instance. The key can still be "
                           "read; revoking it again changes nothing. A key may revoke itself.",
               responses=problem_responses(*ERRORS, 404))
async def revoke_api_key(caller: KeyManager, revoking: Revoking, key_id: UUID) -> Response:
    await revoking(caller.tenant_id, key_id)
    return Response(status_code=204)


@router.post("/{key_id}/roll", name="roll", status_code=201, response_model=ApiKeyCreated,
             summary="Roll an API key: a new key with the same name and scopes",
             description="The rolled key keeps working for `expires_in` seconds more (default "
                         "3600; 0: it stops at once), so that clients can switch without "
                         "downtime. 409 when the key is already revoked or expired.",
             responses=problem_responses(*ERRORS, 404, 409, 413, 415))
async def roll_api_key(caller: KeyManager, rolling: Rolling, key_id: UUID,
                       body: ApiKeyRoll = Body(None)  # optional: a generated client may send none
                       ) -> Response:
    expires_in = (body or ApiKeyRoll()).expires_in
    return _created(await rolling(caller.tenant_id, key_id, expires_in))
