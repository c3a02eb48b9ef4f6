"""Asynchronous image jobs: submitted now, run by any hub of a cluster, read back later.

Owns the `image_jobs` table (a job is also how a batch line runs), claiming work with leases
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, a conditional UPDATE on SQLite), the workers that run
claimed jobs through the GenerationService, cancellation, `Prefer: wait`, and sweeping finished
jobs once their results expire.

Sits above the service layer and below the API: imports service, webhooks, accounts, storage,
schema, inputs, observability, config and errors; never the API, batches or app.
"""
