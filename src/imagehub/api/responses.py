"""A JSON response encoded with orjson: the hub's hot path returns large base64 strings."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    """Same as JSONResponse, encoded with orjson (several times faster on big payloads)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
