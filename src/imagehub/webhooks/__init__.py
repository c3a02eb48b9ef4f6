"""Webhooks: endpoints registered per key, events signed as Standard Webhooks says, delivered
durably with retries and exponential backoff, and a delivery log per endpoint.

Owns the `webhook_endpoints` and `webhook_deliveries` tables, the signing (the maintained
`standardwebhooks` package), the delivery loop and the target-URL guard (the same AddressPolicy
that guards image URLs: no internal targets unless the operator allowlists them).

Sits beside the service layer: imports accounts (tables' base), inputs.netguard, observability,
config and errors; never service, jobs, batches, the API or app.
"""
