"""Cities: the shared record routes, and the most populated ones."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from domain.use_cases.cities import BIGGEST_DEFAULT, BIGGEST_MAX
from entrypoints.http import rendering
from entrypoints.http.auth import Tenant
from entrypoints.http.json import JsonResponse
from entrypoints.http.problems import problem_responses
from entrypoints.http.routers.records import AUTH_ERRORS, record_router
from entrypoints.http.schemas import CityIn, CityOut, CityPage, CityPatch

biggest = APIRouter(prefix="/v1/cities", tags=["cities"])


@biggest.get("/biggest", name="biggest", response_model=list[CityOut],
             summary="The most populated cities",
             description="Most populated first; ties by name ascending.",
             responses=problem_responses(*AUTH_ERRORS))
async def biggest_cities(request: Request, tenant: Tenant,
                         limit: Annotated[int, Query(ge=1, le=BIGGEST_MAX)] = BIGGEST_DEFAULT
                         ) -> Response:
    found = await request.app.state.container.biggest_cities()(tenant, limit)
    return JsonResponse([rendering.record(city) for city in found])


router = record_router("cities", "/v1/cities", create=CityIn, patch=CityPatch, out=CityOut,
                       page=CityPage, tag="cities")
