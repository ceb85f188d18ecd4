"""The ASGI entry point uvicorn imports in each worker: settings from the environment."""

import signal
import threading
from types import FrameType
from typing import Any

from fastapi import FastAPI

from entrypoints import lifecycle, runtime
from entrypoints.http.app import create_app
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings


def app_factory() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    drain_on_sigterm(settings.shutdown_drain_seconds)
    runtime.tune_collector(runtime.parse_threshold(settings.gc_threshold))
    app = create_app(settings)
    if settings.gc_freeze:  # the worker's long-lived heap, out of the collector's sight
        app.router.lifespan_context = runtime.freezing_after_startup(app.router.lifespan_context)
    return app


def drain_on_sigterm(seconds: float) -> None:
    """On SIGTERM, first answer /readyz 503 for `seconds` (load balancers stop sending new
    requests), then hand the signal to uvicorn, which stops accepting, finishes the requests
    in flight and runs the shutdown that closes the pool. A second SIGTERM stops at once."""
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        if lifecycle.draining.is_set() or seconds <= 0:
            lifecycle.draining.set()
            previous(sig, frame)
            return
        lifecycle.draining.set()
        timer = threading.Timer(seconds, previous, (sig, frame))
        timer.daemon = True
        timer.start()

    handler: Any = on_sigterm
    signal.signal(signal.SIGTERM, handler)
