"""Streaming partial images: what providers yield, how one streamed request runs, how it is framed.

`events` is plain data that providers import; `session` runs one streamed request (the streamed
half of the orchestrator); `sse` frames its events as OpenAI's server-sent events for the API.
"""
