"""create_app(settings) -> FastAPI: wiring only; behaviour lives in the modules it wires."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from imagehub import __version__
from imagehub.accounts.db import create_engine, migrate, sessionmaker
from imagehub.accounts.keys import KeyStore
from imagehub.api import aigne, files, health, images, models
from imagehub.api.errors import install_error_handlers
from imagehub.api.responses import JsonResponse
from imagehub.catalog import load_catalog
from imagehub.config import Settings
from imagehub.deployments import load_config
from imagehub.generation import GenerationService
from imagehub.providers.registry import build_router
from imagehub.storage import FileStore, UrlSigner, load_or_create_secret

log = logging.getLogger("imagehub")


async def _sweep_forever(store: FileStore, interval: float) -> None:
    """Delete expired images in the background so storage never grows without bound."""
    while True:
        try:
            removed = await asyncio.to_thread(store.sweep)
            if removed:
                log.info("sweeper removed %d expired image(s)", removed)
        except Exception:
            log.exception("sweeper failed; will retry")
        await asyncio.sleep(interval)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.effective_database_url)
        await migrate(engine)
        store = FileStore(settings.images_dir)
        signer = UrlSigner(load_or_create_secret(settings.secret_path))
        catalog = load_catalog()
        router = build_router(load_config(catalog, settings.config_file))
        app.state.settings = settings
        app.state.catalog = catalog
        app.state.router = router
        app.state.engine = engine
        app.state.keys = KeyStore(sessionmaker(engine))
        app.state.store = store
        app.state.signer = signer
        app.state.generation = GenerationService(
            load_catalog(), router, store, signer, settings.url_ttl_seconds
        )
        sweeper = asyncio.create_task(_sweep_forever(store, settings.sweep_interval_seconds))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await router.close()
            await engine.dispose()

    app = FastAPI(
        title="imagehub",
        version=__version__,
        summary="One OpenAI-compatible image API in front of every image model.",
        lifespan=lifespan,
        default_response_class=JsonResponse,
    )
    install_error_handlers(app)
    app.include_router(images.router)
    app.include_router(files.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(aigne.router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from the environment."""
    return create_app(Settings())
