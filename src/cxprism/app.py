"""The application factory: routers, middleware and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from cxprism import __version__, health
from cxprism.channels import api as channels_api
from cxprism.channels import builtin as builtin_channels  # noqa: F401 - registers connectors
from cxprism.channels.cache import channel_cache_of
from cxprism.config import Settings, get_settings
from cxprism.conversations import api as conversations_api
from cxprism.conversations import chat as webchat
from cxprism.conversations import hooks as conversation_hooks
from cxprism.conversations import privacy as conversations_privacy  # noqa: F401 - its holder
from cxprism.conversations import timeline_source as messages_timeline  # noqa: F401
from cxprism.conversations.batcher import batcher_of
from cxprism.conversations.mail_server import start_mail_server
from cxprism.customers import api as customers_api
from cxprism.kit.db import Database
from cxprism.kit.errors import install_error_handlers
from cxprism.kit.limits import BodySizeLimit
from cxprism.kit.request_id import RequestId
from cxprism.kit.storage import LocalStorage
from cxprism.ledger import api as ledger_api
from cxprism.outbound import api as outbound_api
from cxprism.outbound import timeline_source as sends_timeline  # noqa: F401 - registers
from cxprism.runtime import Runtime
from cxprism.scheduler import api as scheduler_api
from cxprism.tracking import api as tracking_api
from cxprism.tracking import privacy as tracking_privacy  # noqa: F401 - registers its holder
from cxprism.tracking import segment_api
from cxprism.tracking import timeline_source as tracking_timeline  # noqa: F401 - registers
from cxprism.tracking.gateway import close_gateway
from cxprism.web import routes as web_routes
from cxprism.webhooks import api as webhooks_api
from cxprism.workspaces import api as workspaces_api


def create_server_app(settings: Settings | None = None,
                      run_workers: bool | None = None) -> ASGIApp:
    """What ``cxprism serve`` runs: the app, with the Segment API answered in front of it.

    FastAPI does per-request work of its own (telemetry checks, middleware) before any
    middleware of ours runs; the tracking endpoints' thousands of requests a second skip it.
    """
    settings = settings or get_settings()
    return segment_api.SegmentFastPath(create_app(settings, run_workers=run_workers),
                                       settings.max_request_bytes)


def create_app(settings: Settings | None = None, *, database: Database | None = None,
               run_workers: bool | None = None) -> FastAPI:
    """Build the ASGI app. ``run_workers`` starts the relay and scheduler in-process."""
    settings = settings or get_settings()
    start_workers = settings.embedded_workers if run_workers is None else run_workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_db = not hasattr(app.state, "db")
        if owns_db:
            app.state.db = Database(settings.database_url, pool_size=settings.database_pool_size)
        runtime = Runtime(app.state.db, settings) if start_workers else None
        if runtime is not None:
            await runtime.start()
        mail = await start_mail_server(channel_cache_of(app.state), batcher_of(app.state),
                                       settings)
        try:
            yield
        finally:
            if mail is not None:
                await mail.stop()
            await batcher_of(app.state).close()  # answer every delivery already queued
            await close_gateway(app.state)  # answer every request already queued
            if runtime is not None:
                await runtime.stop()
            if owns_db:
                await app.state.db.dispose()

    app = FastAPI(title="cxprism", version=__version__, lifespan=lifespan,
                  docs_url="/docs",
                  openapi_url="/openapi.json")
    app.state.settings = settings
    app.state.storage = LocalStorage(settings.storage_dir)
    if database is not None:
        app.state.db = database
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestId, access_log=settings.access_log)  # even a 413 has the id
    # Outermost: the Segment API's and the providers' many small requests skip the whole
    # stack behind them.
    app.add_middleware(conversation_hooks.ProviderHooks, max_bytes=settings.max_request_bytes)
    app.add_middleware(segment_api.SegmentFastPath, max_bytes=settings.max_request_bytes)

    api = APIRouter(prefix="/api/v1")
    api.include_router(workspaces_api.router)
    api.include_router(customers_api.router)
    api.include_router(scheduler_api.router)
    api.include_router(tracking_api.router)
    api.include_router(channels_api.router)
    api.include_router(conversations_api.router)
    api.include_router(outbound_api.router)
    api.include_router(webhooks_api.router)
    api.include_router(ledger_api.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(webchat.router)
    web_routes.mount(app)
    return app
