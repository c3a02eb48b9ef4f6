"""Prices and what a request costs: quoted before the upstream call, settled after.

Owns the price book (prices.toml plus an operator's overrides) and the rule that turns a job and
its result into micro-units. May import `catalog` and `schema`; knows nothing of keys or ledgers.
"""
