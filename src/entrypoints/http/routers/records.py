"""The routes of every resource, built from its declaration: create, list, get, patch,
put (when the resource is replaceable) and delete, under `/v1/<collection>`."""

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Response

from domain.model import Record, Resource
from domain.pagination import DEFAULT_LIMIT, MAX_LIMIT
from domain.use_cases.records import (CreateRecord, DeleteRecord, GetRecord, ListRecords,
                                      UpdateRecord)
from entrypoints.http import rendering
from entrypoints.http.auth import Tenant
from entrypoints.http.dependencies import provided
from entrypoints.http.json import JsonResponse
from entrypoints.http.problems import problem_responses
from entrypoints.http.schemas import Body, field_type, schemas_for

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page; empty or "
                                                "absent: the first page")]
IfMatch = Annotated[str | None, Header(description="the ETag the record must still have")]
IfNoneMatch = Annotated[str | None, Header(description="answer 304 if the ETag still matches")]

Creating = Annotated[CreateRecord, Depends(provided(lambda c: c.create_record))]
Getting = Annotated[GetRecord, Depends(provided(lambda c: c.get_record))]
Listing = Annotated[ListRecords, Depends(provided(lambda c: c.list_records))]
Updating = Annotated[UpdateRecord, Depends(provided(lambda c: c.update_record))]
Deleting = Annotated[DeleteRecord, Depends(provided(lambda c: c.delete_record))]

AUTH_ERRORS = (401, 422, 503)
WRITE_ERRORS = (*AUTH_ERRORS, 403)  # 403: a read-only key

E = TypeVar("E", bound=Callable[..., Any])


def one(item: Record, status: int = 200, location: str | None = None) -> JsonResponse:
    headers = {"ETag": rendering.etag(item.version)}
    if location:
        headers["Location"] = location
    return JsonResponse(rendering.record(item), status_code=status, headers=headers)


def _declaring(endpoint: E, body: type | None = None,
               filters: dict[str, Any] | None = None) -> E:
    """`endpoint`, with the signature FastAPI reads naming the resource's own body type and
    one query parameter per filter (in place of `**filters`)."""
    parameters = []
    for parameter in inspect.signature(endpoint).parameters.values():
        if parameter.name == "body" and body is not None:
            parameter = parameter.replace(annotation=body)
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            parameters.extend(
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                  annotation=Annotated[kind | None,
                                                       Query(description="exact match")])
                for name, kind in (filters or {}).items())
            continue
        parameters.append(parameter)
    setattr(endpoint, "__signature__", inspect.Signature(parameters))  # noqa: B010
    return endpoint


def record_router(resource: Resource[Record]) -> APIRouter:
    """The routes of one resource, served under `/v1/<collection>` and tagged with it."""
    path, tag, kind = f"/v1/{resource.collection}", resource.collection, resource.kind
    schemas = schemas_for(resource)
    router = APIRouter(prefix=path, tags=[tag])

    async def create_record(tenant: Tenant, cases: Creating, body: Any) -> Response:
        item = await cases(resource, tenant, body.model_dump())
        return one(item, 201, f"{path}/{item.id}")

    router.add_api_route(
        "", _declaring(create_record, schemas.create), methods=["POST"], name="create",
        status_code=201, response_model=schemas.out, summary=f"Create a {kind}",
        responses=problem_responses(*WRITE_ERRORS, 409, 413, 415))

    async def list_records(tenant: Tenant, cases: Listing, limit: Limit = DEFAULT_LIMIT,
                           cursor: Cursor = None, **filters: object) -> Response:
        chosen = {name: value for name, value in filters.items() if value is not None}
        result = await cases(resource, tenant, after=rendering.decode_cursor(cursor),
                             limit=limit, filters=chosen or None)
        return JsonResponse(rendering.page(result, rendering.record))

    router.add_api_route(
        "", _declaring(list_records, filters={
            name: field_type(resource.rules[name]) for name in resource.filters}),
        methods=["GET"], name="list", response_model=schemas.page,
        summary=f"List {tag} in creation order", responses=problem_responses(400, *AUTH_ERRORS))

    @router.get("/{record_id:uuid}", name="get", response_model=schemas.out,
                summary=f"Get a {kind}",
                responses={304: {"description": "Not Modified"},
                           **problem_responses(*AUTH_ERRORS, 404)})
    async def get_record(tenant: Tenant, cases: Getting, record_id: UUID,
                         if_none_match: IfNoneMatch = None) -> Response:
        item = await cases(resource, tenant, record_id)
        if rendering.matches_none(if_none_match, item.version):
            return Response(status_code=304, headers={"ETag": rendering.etag(item.version)})
        return one(item)

    async def expected(getting: GetRecord, tenant: Any, record_id: UUID,
                       if_match: str | None) -> int | None:
        """The one version the write must find (-1: none can match), or None: any."""
        versions = rendering.if_match_versions(if_match)
        if versions is None or len(versions) == 1:
            return None if versions is None else next(iter(versions))
        if not versions:
            return -1
        current = (await getting(resource, tenant, record_id)).version
        return current if current in versions else -1  # the write checks it again

    def changing(changes: Callable[[Body], dict[str, Any]]) -> Callable[..., Any]:
        """PATCH (the fields sent) and PUT (every field): one update, with If-Match."""
        async def change_record(tenant: Tenant, cases: Updating, getting: Getting,
                                record_id: UUID, body: Any, if_match: IfMatch = None
                                ) -> Response:
            item = await cases(
                resource, tenant, record_id, changes(body),
                expected_version=await expected(getting, tenant, record_id, if_match))
            return one(item)
        return change_record

    writes = problem_responses(400, *WRITE_ERRORS, 404, 409, 412, 413, 415)
    router.add_api_route(
        "/{record_id:uuid}", _declaring(changing(Body.sent), schemas.patch), methods=["PATCH"],
        name="update", response_model=schemas.out, summary=f"Change some fields of a {kind}",
        responses=writes)
    if resource.replaceable:
        router.add_api_route(
            "/{record_id:uuid}", _declaring(changing(Body.model_dump), schemas.create),
            methods=["PUT"],
            name="replace", response_model=schemas.out, summary=f"Replace a {kind}",
            responses=writes)

    @router.delete("/{record_id:uuid}", name="delete", status_code=204,
                   summary=f"Delete a {kind}",
                   responses=problem_responses(400, *WRITE_ERRORS, 404, 412))
    async def delete_record(tenant: Tenant, cases: Deleting, getting: Getting,
                            record_id: UUID, if_match: IfMatch = None) -> Response:
        await cases(resource, tenant, record_id,
                    expected_version=await expected(getting, tenant, record_id, if_match))
        return Response(status_code=204)

    return router
