"""Adapters that turn an ImageJob into images: one module or subpackage per upstream API family.

Each adapter implements `base.ImageProvider` and is named in the provider table
(`upstream/registry.py`). Shared plumbing lives beside them: `http` (the pooled upstream client
and its error mapping) and `errors` (what the router does with a failure). Providers know nothing
of keys, prices or storage; they may import `upstream.deployments`, `schema`, `catalog`,
`observability` and `errors`.
"""
