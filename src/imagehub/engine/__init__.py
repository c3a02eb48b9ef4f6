"""The GPU tier: the local engine as its own HTTP server, one model per process, one device.

`imagehub engine serve` runs it under uvicorn; `imagehub engine ray` (or Ray's own `serve run
imagehub.engine.ray_app:build_app`) runs it as a Ray Serve application across many GPUs. A hub
reaches either over HTTP with a `provider = "engine"` deployment and keeps keys, money, storage
and routing; the engine only draws. torch is imported only once weights are loaded.
"""
