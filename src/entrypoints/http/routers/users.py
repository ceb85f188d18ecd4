"""Users: besides the routes every resource has, get / get-or-create / update-or-create by
name."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Response
from starlette.convertors import Convertor, register_url_convertor

from domain.model import USERS
from domain.use_cases.users import GetOrCreateUser, GetUserByName, UpdateOrCreateUser
from entrypoints.http.auth import Tenant
from entrypoints.http.dependencies import provided
from entrypoints.http.problems import problem_responses
from entrypoints.http.routers.records import AUTH_ERRORS, WRITE_ERRORS, one
from entrypoints.http.schemas import Name, UserDefaults, UserFullName, schemas_for


class _WholeName(Convertor[str]):
    """The rest of the path, newlines included (`path` stops before a trailing one), so that
    the name's rules see every character of it."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("name", _WholeName())
UserName = Annotated[Name, Path(description="the user's name, unique within the tenant")]
by_name = APIRouter(prefix="/v1/users/by-name", tags=["users"])
UserOut = schemas_for(USERS).out
_FOUND_OR_CREATED = {200: {"model": UserOut, "description": "the existing user"},
                     201: {"model": UserOut, "description": "the user, newly created"}}


@by_name.get("/{name:name}", name="get_by_name", response_model=UserOut,
             summary="Get a user by name",
             responses=problem_responses(*AUTH_ERRORS, 404))
async def get_user_by_name(
        tenant: Tenant, name: UserName,
        cases: Annotated[GetUserByName, Depends(provided(lambda c: c.get_user_by_name))]
) -> Response:
    return one(await cases(tenant, name))


@by_name.post("/{name:name}", name="get_or_create_by_name",
              response_model=UserOut, summary="Get or create a user by name",
              description="201 with the new user, or 200 with the existing one, unchanged. "
                          "`full_name` is used only when creating.",
              responses={**_FOUND_OR_CREATED, **problem_responses(*WRITE_ERRORS, 413, 415)})
async def get_or_create_user(
        tenant: Tenant, name: UserName,
        cases: Annotated[GetOrCreateUser, Depends(provided(lambda c: c.get_or_create_user))],
        body: UserDefaults = Body(None)
) -> Response:
    full_name = body.full_name if body is not None else ""
    user, created = await cases(tenant, name, full_name)
    return one(user, 201 if created else 200, f"/v1/users/{user.id}" if created else None)


@by_name.put("/{name:name}", name="update_or_create_by_name",
             response_model=UserOut, summary="Update or create a user by name",
             description="201 when created, 200 when updated.",
             responses={**_FOUND_OR_CREATED, **problem_responses(*WRITE_ERRORS, 413, 415)})
async def update_or_create_user(
        tenant: Tenant, name: UserName, body: UserFullName,
        cases: Annotated[UpdateOrCreateUser, Depends(provided(lambda c: c.update_or_create_user))]
) -> Response:
    user, created = await cases(tenant, name, body.full_name)
    return one(user, 201 if created else 200, f"/v1/users/{user.id}" if created else None)

