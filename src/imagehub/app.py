"""create_app(settings) -> FastAPI: wiring only; behaviour lives in the modules it wires."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI
from starlette.types import ASGIApp

from imagehub import __version__
from imagehub.accounts.db import create_engine, migrate, sessionmaker
from imagehub.accounts.durable import DurableReservations
from imagehub.accounts.idempotency import IdempotencyStore
from imagehub.accounts.keys import KeyStore
from imagehub.accounts.ledger import Ledger
from imagehub.accounts.ratelimit import create_rate_limiter
from imagehub.accounts.usage_writer import UsageWriter
from imagehub.api import (
    account,
    admin,
    aigne,
    batch_files,
    batches,
    edits,
    files,
    health,
    images,
    jobs,
    models,
    usage,
    webhooks,
)
from imagehub.api.cors import with_cors
from imagehub.api.docs import install_docs
from imagehub.api.errors import install_error_handlers
from imagehub.api.fast_path import FastPath
from imagehub.api.middleware import RequestObserver
from imagehub.api.responses import JsonResponse
from imagehub.batches.files import FileStore
from imagehub.batches.finalize import Finalizer
from imagehub.batches.service import BatchService
from imagehub.billing.pricing import PriceBook
from imagehub.catalog import load_catalog
from imagehub.config import Settings
from imagehub.console import install_console
from imagehub.inputs.decoding import InputLoader
from imagehub.inputs.netguard import AddressPolicy
from imagehub.jobs.events import JobEvents
from imagehub.jobs.maintenance import maintain_jobs
from imagehub.jobs.queue import JobQueue
from imagehub.jobs.runner import JobRunner, RunnerSettings
from imagehub.jobs.submission import JobService
from imagehub.observability import metrics
from imagehub.observability.logs import configure_logging
from imagehub.payloads import ANSWERS, spool
from imagehub.service.generation import GenerationService
from imagehub.storage import ImageStore, UrlSigner, load_or_create_secret
from imagehub.storage.factory import open_store
from imagehub.storage.sweeping import SweepLock, sweep_expired, sweep_lock_for
from imagehub.upstream.assembly import build_router
from imagehub.upstream.capacity import raise_open_file_limit
from imagehub.upstream.deployments import load_config
from imagehub.upstream.providers.pixels import DECODES
from imagehub.webhooks.sender import WebhookSender
from imagehub.webhooks.store import WebhookStore

log = logging.getLogger("imagehub")


async def _maintain_forever(
    store: ImageStore,
    sweep_lock: SweepLock,
    ledger: Ledger,
    writer: UsageWriter,
    idempotency: IdempotencyStore,
    interval: float,
    stale_after: timedelta,
) -> None:
    """Housekeeping so nothing grows without bound or stays stuck.

    Expired images go (from a shared bucket, only on the hub holding the sweep lock);
    reservations left pending by a crashed process are released (their requests never answered
    anyone); idempotency records older than 24 h are purged.
    """
    while True:
        try:
            removed = await sweep_expired(store, sweep_lock) or 0
            metrics.SWEPT.inc(removed)
            recovered = await ledger.recover_stale(stale_after) + await writer.replay_orphans()
            purged = await idempotency.purge_expired()
            if removed or recovered or purged:
                log.info(
                    "maintenance: %d expired image(s), %d stale reservation(s), %d idempotency record(s)",
                    removed,
                    recovered,
                    purged,
                )
        except Exception:
            log.exception("maintenance failed; will retry")
        await asyncio.sleep(interval)


#: Young-generation threshold: net new container objects before a collection (CPython's is 700).
GC_THRESHOLDS = (50_000, 20, 100)


def _tune_gc() -> None:
    """Keep the garbage collector's cost per request flat however many requests are in flight.

    Imports and wiring leave a few hundred thousand long-lived objects; every full collection
    walked them all, stalling the event loop for 40-100 ms about once a second under load
    (bench: b64_json p99 at c16 fell from ~85 ms to ~14 ms once they were frozen out of sight).

    A request in flight for seconds keeps a few hundred objects alive, and the hub makes almost
    no cyclic garbage (a collection under load frees ~0 objects: refcounting frees it all). With
    CPython's threshold of 700 every such object was walked by a young collection, then by the
    middle one, then by ~4 full collections while its request waited on the upstream: GC took
    ~1 ms per request at 2,000 in flight against ~0.1 ms with a fast upstream. The threshold
    counts net growth, so at 50,000 a steady load (however many requests it holds) triggers
    almost no collections; growth and any cyclic garbage still do, 50,000 objects at a time.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.effective_database_url)
        await migrate(engine)
        sessions = sessionmaker(engine)
        store = open_store(settings)
        if store.shared and not settings.signing_secret and settings.image_urls == "hub":
            log.warning(
                "the image store is shared but IMAGEHUB_SIGNING_SECRET is unset: other hubs will refuse "
                "this hub's image URLs unless they share its data directory's secret.key"
            )
        signer = UrlSigner(
            bytes.fromhex(settings.signing_secret)
            if settings.signing_secret
            else load_or_create_secret(settings.secret_path)
        )
        catalog = load_catalog()
        config = load_config(catalog, settings.config_file)
        DECODES.configure(settings.decode_budget_mb << 20)
        # The answer budgets are the hub's: each of its worker processes takes an equal share.
        share = max(1, settings.workers)
        ANSWERS.configure((settings.answer_budget_mb << 20) // share)
        spool.IN_MEMORY.configure((settings.answer_memory_mb << 20) // share)
        spool.configure(str(settings.data_dir / "spool"))
        router = build_router(config, workers=settings.workers)
        is_sqlite = engine.dialect.name == "sqlite"
        writer = UsageWriter(
            sessions, settings.data_dir / "journal", flush_interval=settings.usage_flush_seconds
        )
        ledger = Ledger(sessions, writer, serialize_writes=is_sqlite)
        writer.set_write_guard(ledger.writing)
        await writer.replay_orphans(min_age_seconds=0)
        idempotency = IdempotencyStore(sessions)
        rate_limiter = create_rate_limiter(settings.redis_url)
        app.state.settings = settings
        app.state.catalog = catalog
        app.state.router = router
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.keys = KeyStore(sessions)
        app.state.store = store
        app.state.signer = signer
        app.state.idempotency = idempotency
        app.state.rate_limiter = rate_limiter
        app.state.usage_writer = writer
        app.state.generation = GenerationService(
            catalog,
            router,
            store,
            signer,
            settings.url_ttl_seconds,
            ledger,
            PriceBook.from_config(
                config.billing,
                {d.name: d.prices for d in config.deployments if d.prices},
                allow_unpriced=settings.allow_unpriced,
            ),
        )
        app.state.generation.configure_inputs(InputLoader.from_settings(settings))
        runner = JobRunner(
            JobQueue(sessions, postgres=engine.dialect.name == "postgresql"),
            app.state.generation,
            DurableReservations(sessions, ledger),
            app.state.keys,
            RunnerSettings(
                workers=settings.job_workers,
                lease_seconds=settings.job_lease_seconds,
                poll_seconds=settings.job_poll_seconds,
                retention_seconds=settings.job_retention_seconds,
            ),
            rate_limiter,
        )
        app.state.jobs = JobService(runner.queue, runner, app.state.generation)
        app.state.webhooks = WebhookStore(sessions)
        app.state.webhook_policy = AddressPolicy.from_setting(settings.webhook_allowlist)
        sender = WebhookSender(
            app.state.webhooks, app.state.webhook_policy, base_delay=settings.webhook_retry_base_seconds
        )
        app.state.webhook_sender = sender
        runner.listeners.append(JobEvents(app.state.webhooks, sender).job_ended)
        runner.start()
        delivering = asyncio.create_task(sender.run_forever())
        app.state.batch_files = FileStore(sessions)
        app.state.batches = BatchService(sessions, app.state.batch_files, catalog)
        finalizer = Finalizer(
            sessions, app.state.batches, app.state.batch_files, app.state.webhooks, sender.wake
        )
        finalizing = asyncio.create_task(finalizer.run_forever(max(settings.job_poll_seconds * 2, 0.2)))
        job_upkeep = asyncio.create_task(maintain_jobs(runner, min(settings.sweep_interval_seconds, 30.0)))
        maintenance = asyncio.create_task(
            _maintain_forever(
                store,
                sweep_lock_for(engine, settings.data_dir / "sweep.lock"),
                ledger,
                writer,
                idempotency,
                settings.sweep_interval_seconds,
                timedelta(seconds=settings.stale_reservation_seconds),
            )
        )
        _tune_gc()
        try:
            yield
        finally:
            maintenance.cancel()
            job_upkeep.cancel()
            delivering.cancel()
            finalizing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await finalizing
            with contextlib.suppress(asyncio.CancelledError):
                await delivering
            with contextlib.suppress(asyncio.CancelledError):
                await maintenance
            with contextlib.suppress(asyncio.CancelledError):
                await job_upkeep
            await runner.stop()
            await router.close()
            await store.close()
            await rate_limiter.close()
            await writer.close()
            await engine.dispose()

    app = FastAPI(
        title="imagehub",
        version=__version__,
        summary="One OpenAI-compatible image API in front of every image model.",
        lifespan=lifespan,
        default_response_class=JsonResponse,
        docs_url=None,  # install_docs serves /docs and /redoc from local assets
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(RequestObserver)
    app.router.routes.extend(images.fast_routes())
    app.include_router(images.router)
    app.include_router(edits.router)
    app.include_router(jobs.router)
    app.include_router(webhooks.router)
    app.include_router(batch_files.router)
    app.include_router(batches.router)
    app.include_router(files.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(usage.router)
    app.include_router(account.router)
    app.include_router(admin.router)
    app.include_router(aigne.router)
    install_docs(app)
    install_console(app)
    return app


def create_app_from_env() -> ASGIApp:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from the environment.

    What `imagehub serve` runs: the app behind `FastPath`, which takes image generations past
    FastAPI's middleware stack (see api/fast_path.py), and CORS around both when configured.
    """
    raise_open_file_limit()  # `serve` did already; plain `uvicorn --factory` users get it here
    settings = Settings()
    configure_logging(settings.log_level, settings.access_log, settings.log_format)
    return with_cors(FastPath(create_app(settings), images.fast_path_endpoints()), settings.cors_origins)
