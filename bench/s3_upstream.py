"""A fast in-memory S3 stand-in for benchmarks: PUT, ranged GET, HEAD, DELETE and batch DELETE.

moto, the tests' S3 server, answers ~100-150 requests/s on this machine, so a hub measured
against it measures moto. This one is as deliberately minimal as bench/upstream.py (no auth
checks, no listing beyond an empty page), so the hub's own cost of a store round trip shows.
Run: python bench/s3_upstream.py PORT
"""

from __future__ import annotations

import re
import sys

from aiohttp import web

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
EMPTY_LIST = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>false</IsTruncated>'
    b"<KeyCount>0</KeyCount></ListBucketResult>"
)
_KEY = re.compile(rb"<Key>([^<]*)</Key>")


def build_app() -> web.Application:
    objects: dict[str, tuple[bytes, str]] = {}

    async def handle(request: web.Request) -> web.Response:
        key = request.path
        if request.method == "PUT":
            objects[key] = (await request.read(), request.headers.get("Content-Type", "application/octet-stream"))
            return web.Response(headers={"ETag": '"0"'})
        if request.method == "POST" and "delete" in request.query:
            keys = _KEY.findall(await request.read())
            for name in keys:
                objects.pop(f"{key}/{name.decode()}", None)
            deleted = b"".join(b"<Deleted><Key>" + name + b"</Key></Deleted>" for name in keys)
            body = b'<?xml version="1.0" encoding="UTF-8"?><DeleteResult>' + deleted + b"</DeleteResult>"
            return web.Response(body=body, content_type="application/xml")
        if request.method == "DELETE":
            objects.pop(key, None)
            return web.Response(status=204)
        if "list-type" in request.query:
            return web.Response(body=EMPTY_LIST, content_type="application/xml")
        found = objects.get(key)
        if found is None:
            return web.Response(status=404, body=b"<Error><Code>NoSuchKey</Code></Error>")
        data, content_type = found
        headers = {"ETag": '"0"', "Last-Modified": "Tue, 01 Dec 2026 00:00:00 GMT", "Content-Type": content_type}
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(data))})
        match = _RANGE.match(request.headers.get("Range", ""))
        if match is None:
            return web.Response(body=data, headers=headers)
        start = int(match[1])
        end = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return web.Response(status=206, body=data[start : end + 1], headers=headers)

    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


if __name__ == "__main__":
    web.run_app(build_app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
