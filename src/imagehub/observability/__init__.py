"""Logs, the per-request log context and Prometheus metrics.

Owns the log formats (JSON or text), the request id carried through a request's log lines, and
every metric the hub exports. Imports nothing of the hub, so every layer may report through it.
"""
