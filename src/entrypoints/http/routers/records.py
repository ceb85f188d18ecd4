"""The routes every record kind shares: create, list, get, patch, put and delete."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response

from domain.pagination import DEFAULT_LIMIT, MAX_LIMIT
from entrypoints.http import rendering
from entrypoints.http.auth import Tenant
from entrypoints.http.json import JsonResponse
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import Name

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page; empty or "
                                                "absent: the first page")]
IfMatch = Annotated[str | None, Header(description="the ETag the record must still have")]
FilterValue = Annotated[Name | None, Query(alias="author", description="exact match")]
IfNoneMatch = Annotated[str | None, Header(description="answer 304 if the ETag still matches")]

AUTH_ERRORS = (401, 422, 503)
WRITE_ERRORS = (*AUTH_ERRORS, 403)  # 403: a read-only key


def cases(request: Request, kind: str) -> dict[str, Any]:
    return getattr(request.app.state.container, kind)()  # type: ignore[no-any-return]


def one(item: Any, status: int = 200, location: str | None = None) -> JsonResponse:
    headers = {"ETag": rendering.etag(item.version)}
    if location:
        headers["Location"] = location
    return JsonResponse(rendering.record(item), status_code=status, headers=headers)


def record_router(kind: str, path: str, *, create: type, patch: type, out: type, page: type,
                  put: type | None = None, tag: str, filter_by: str | None = None) -> APIRouter:
    """A router for one record kind; `kind` names the container's dict of its use cases."""
    router = APIRouter(prefix=path, tags=[tag])

    @router.post("", name="create", status_code=201, response_model=out, summary=f"Create a {tag[:-1]}",
                 responses=problem_responses(*WRITE_ERRORS, 409, 413, 415))
    async def create_record(request: Request, tenant: Tenant, body: create) -> Response:  # type: ignore[valid-type]
        item = await cases(request, kind)["create"](tenant, body.model_dump())
        return one(item, 201, f"{path}/{item.id}")

    async def list_page(request: Request, tenant: Any, limit: int, cursor: str | None,
                        filters: dict[str, object] | None = None) -> Response:
        result = await cases(request, kind)["list"](
            tenant, after=rendering.decode_cursor(cursor), limit=limit, filters=filters)
        return JsonResponse(rendering.page(result, rendering.record))

    list_doc = {"response_model": page, "summary": f"List {tag} in creation order",
                "responses": problem_responses(400, *AUTH_ERRORS)}
    if filter_by is None:
        @router.get("", name="list", **list_doc)
        async def list_records(request: Request, tenant: Tenant, limit: Limit = DEFAULT_LIMIT,
                               cursor: Cursor = None) -> Response:
            return await list_page(request, tenant, limit, cursor)
    else:
        @router.get("", name="list", **list_doc)
        async def list_filtered(request: Request, tenant: Tenant, limit: Limit = DEFAULT_LIMIT,
                                cursor: Cursor = None, match: FilterValue = None) -> Response:
            return await list_page(request, tenant, limit, cursor,
                                   None if match is None else {filter_by: match})

    @router.get("/{record_id:uuid}", name="get", response_model=out, summary=f"Get a {tag[:-1]}",
                responses={304: {"description": "Not Modified"},
                           **problem_responses(*AUTH_ERRORS, 404)})
    async def get_record(request: Request, tenant: Tenant, record_id: UUID,
                         if_none_match: IfNoneMatch = None) -> Response:
        item = await cases(request, kind)["get"](tenant, record_id)
        if rendering.matches_none(if_none_match, item.version):
            return Response(status_code=304, headers={"ETag": rendering.etag(item.version)})
        return one(item)

    async def expected(request: Request, tenant: Any, record_id: UUID,
                       if_match: str | None) -> int | None:
        """The one version the write must find (-1: none can match), or None: any."""
        versions = rendering.if_match_versions(if_match)
        if versions is None or len(versions) == 1:
            return None if versions is None else next(iter(versions))
        if not versions:
            return -1
        current = (await cases(request, kind)["get"](tenant, record_id)).version
        return current if current in versions else -1  # the write checks it again

    async def change(request: Request, tenant: Any, record_id: UUID, changes: dict[str, object],
                     if_match: str | None) -> Response:
        item = await cases(request, kind)["update"](
            tenant, record_id, changes,
            expected_version=await expected(request, tenant, record_id, if_match))
        return one(item)

    @router.patch("/{record_id:uuid}", name="update", response_model=out,
                  summary=f"Change some fields of a {tag[:-1]}",
                  responses=problem_responses(400, *WRITE_ERRORS, 404, 409, 412, 413, 415))
    async def patch_record(request: Request, tenant: Tenant, record_id: UUID, body: patch,  # type: ignore[valid-type]
                           if_match: IfMatch = None) -> Response:
        return await change(request, tenant, record_id, body.sent(), if_match)

    if put is not None:
        @router.put("/{record_id:uuid}", name="replace", response_model=out,
                    summary=f"Replace a {tag[:-1]}",
                    responses=problem_responses(400, *WRITE_ERRORS, 404, 409, 412, 413, 415))
        async def put_record(request: Request, tenant: Tenant, record_id: UUID, body: put,  # type: ignore[valid-type]
                             if_match: IfMatch = None) -> Response:
            return await change(request, tenant, record_id, body.model_dump(), if_match)

    @router.delete("/{record_id:uuid}", name="delete", status_code=204,
                   summary=f"Delete a {tag[:-1]}",
                   responses=problem_responses(400, *WRITE_ERRORS, 404, 412))
    async def delete_record(request: Request, tenant: Tenant, record_id: UUID,
                            if_match: IfMatch = None) -> Response:
        await cases(request, kind)["delete"](
            tenant, record_id,
            expected_version=await expected(request, tenant, record_id, if_match))
        return Response(status_code=204)

    return router
