"""The ASGI entry point uvicorn imports in each worker: settings from the environment."""

from fastapi import FastAPI

from entrypoints.http.app import create_app
from entrypoints.settings import Settings


def app_factory() -> FastAPI:
    return create_app(Settings())
