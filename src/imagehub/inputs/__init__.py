"""Reading the images a client sends: sources, SSRF-safe fetching, decoding and checks.

Owns where a source image may come from (upload, base64, data: URI, URL, file id), the network
guard that refuses internal addresses, the size-capped fetcher, and decoding with Pillow. May
import `schema`, `catalog`, `config` and `errors`; never the service, providers or HTTP.
"""
