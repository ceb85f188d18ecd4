"""Cities: besides the routes every resource has, the most populated ones."""

from types import GenericAlias
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from domain.model import CITIES
from domain.use_cases.cities import BIGGEST_DEFAULT, BIGGEST_MAX, BiggestCities
from entrypoints.http import rendering
from entrypoints.http.auth import Tenant
from entrypoints.http.dependencies import provided
from entrypoints.http.json import JsonResponse
from entrypoints.http.problems import problem_responses
from entrypoints.http.routers.records import AUTH_ERRORS
from entrypoints.http.schemas import schemas_for

biggest = APIRouter(prefix="/v1/cities", tags=["cities"])


@biggest.get("/biggest", name="biggest", response_model=GenericAlias(list, (schemas_for(CITIES).out,)),
             summary="The most populated cities",
             description="Most populated first; ties by name ascending.",
             responses=problem_responses(*AUTH_ERRORS))
async def biggest_cities(
        tenant: Tenant,
        cases: Annotated[BiggestCities, Depends(provided(lambda c: c.biggest_cities))],
        limit: Annotated[int, Query(ge=1, le=BIGGEST_MAX)] = BIGGEST_DEFAULT) -> Response:
    found = await cases(tenant, limit)
    return JsonResponse([rendering.record(city) for city in found])
