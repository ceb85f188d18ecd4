"""/docs: Swagger UI from the installed swagger-ui-bundle package, so it needs no network."""

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"
router = APIRouter()


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> Response:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="tenant-catalog API",
                               swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                               swagger_css_url=f"{ASSETS}/swagger-ui.css",
                               swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")


router.routes.append(Mount(ASSETS, app=StaticFiles(directory=str(swagger_ui_path)),
                           name="docs-assets"))
