"""Everything about a client kept in the database: API keys, limits, the ledger, usage records.

Owns keys (hashed secrets, modes, limits), rate limits (in process or Redis), reservations and
settlements in integer micro-units, idempotency records, the usage journal and its writer, and
the schema's migrations. May import `catalog` (limits name models), `concurrency` and `errors`;
never the service, providers or HTTP.
"""
