"""Read a JSON answer as it arrives, keeping every big string out of memory.

The document's small parts (braces, keys, numbers, short strings) are kept as they come and
parsed by orjson at the end; a string that grows past `spool_above` bytes goes, unescaped, into a
`Spool`, and its place in the document holds a marker that `finish` swaps for the spool. So an
answer of n images costs the small JSON around them plus one read buffer, whatever the images
weigh. Scanning is a few `bytes.find` calls per chunk: the image text is never looked at byte by
byte in Python.
"""

from __future__ import annotations

from typing import Any

import orjson

from imagehub.payloads.budget import ANSWERS, ByteBudget, Share
from imagehub.payloads.spool import Spool

SPOOL_ABOVE_BYTES = 256 * 1024  # a 1024x1024 PNG is ~2.5 MB; a thumbnail answer stays a plain string
_MARKER = "\x00imagehub-spool:"
_SIMPLE_ESCAPES = {
    ord("/"): b"/",
    ord("\\"): b"\\",
    ord('"'): b'"',
    ord("b"): b"",  # whitespace and control escapes carry no base64
    ord("f"): b"",
    ord("n"): b"",
    ord("r"): b"",
    ord("t"): b"",
}


class MalformedJSON(ValueError):
    """The answer ended inside a string, or its small parts do not parse."""


class JSONSpooler:
    """Feed chunks, then `finish()` for the parsed document with `Spool`s for big strings."""

    def __init__(self, spool_above: int = SPOOL_ABOVE_BYTES, budget: ByteBudget = ANSWERS) -> None:
        self._spool_above = spool_above
        self._budget = budget
        self._skeleton = bytearray()
        self._in_string = False
        self._string = bytearray()  # the current string's raw text while it is small
        self._spool: Spool | None = None
        self._carry = b""  # an escape sequence cut by a chunk boundary
        self.spools: list[Spool] = []
        self.share = Share()  # one answer's images never wait for each other

    async def feed(self, chunk: bytes) -> None:
        data = self._carry + chunk if self._carry else chunk
        self._carry = b""
        view = memoryview(data)  # slices of it are views: the image text is never copied here
        pos, end = 0, len(data)
        while pos < end:
            if not self._in_string:
                quote = data.find(b'"', pos)
                if quote < 0:
                    self._skeleton += view[pos:]
                    return
                self._skeleton += view[pos : quote + 1]
                self._in_string = True
                pos = quote + 1
                continue
            quote = data.find(b'"', pos)
            escape = data.find(b"\\", pos, quote if quote >= 0 else end)
            if escape >= 0:
                if escape + 1 >= end or (data[escape + 1] == ord("u") and escape + 6 > end):
                    await self._text(view[pos:escape])
                    self._carry = bytes(view[escape:])
                    return
                await self._text(view[pos:escape])
                length = 6 if data[escape + 1] == ord("u") else 2
                await self._escape(bytes(view[escape : escape + length]))
                pos = escape + length
                continue
            if quote < 0:
                await self._text(view[pos:])
                return
            await self._text(view[pos:quote])
            self._close_string()
            pos = quote + 1

    async def _text(self, text: memoryview) -> None:
        if not text:
            return
        if self._spool is not None:
            await self._spool.append(text)
            return
        self._string += text
        if len(self._string) > self._spool_above:
            await self._start_spool()

    async def _escape(self, sequence: bytes) -> None:
        if self._spool is None:
            self._string += sequence  # small strings keep their escapes: orjson reads them
            if len(self._string) > self._spool_above:
                await self._start_spool()
            return
        if sequence[1] == ord("u"):
            code = int(sequence[2:], 16)
            if code < 0x80:
                await self._spool.append(bytes([code]) if chr(code).isprintable() and code > 0x20 else b"")
                return
            raise MalformedJSON("a long string holds non-ASCII text; it cannot be image data")
        replacement = _SIMPLE_ESCAPES.get(sequence[1])
        if replacement is None:
            raise MalformedJSON("a long string holds an invalid escape")
        await self._spool.append(replacement)

    async def _start_spool(self) -> None:
        spool = Spool(self._budget, share=self.share)
        self.spools.append(spool)
        raw, self._string = bytes(self._string), bytearray()
        self._spool = spool
        await spool.append(_unescape(raw))
        self._skeleton += f"{_MARKER}{len(self.spools) - 1}".encode().replace(b"\x00", b"\\u0000")

    def _close_string(self) -> None:
        if self._spool is None:
            self._skeleton += self._string
        self._skeleton += b'"'
        self._string = bytearray()
        self._spool = None
        self._in_string = False

    def finish(self) -> Any:
        """The whole document; MalformedJSON when it is cut short or does not parse."""
        if self._in_string or self._carry:
            raise MalformedJSON("the answer ended inside a string")
        try:
            document = orjson.loads(self._skeleton)
        except orjson.JSONDecodeError as error:
            raise MalformedJSON(str(error)) from None
        finally:
            self._skeleton = bytearray()
        return self._swap(document) if self.spools else document

    def close(self) -> None:
        """Give back what the spools hold (an answer abandoned halfway)."""
        for spool in self.spools:
            spool.close()

    def _swap(self, value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith(_MARKER):
                return self.spools[int(value[len(_MARKER) :])]
            return value
        if isinstance(value, dict):
            return {key: self._swap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._swap(item) for item in value]
        return value


def _unescape(raw: bytes) -> bytes:
    """A small string's text as a spool holds it: only `\\/` is common in base64 (PHP escapes it)."""
    if b"\\" not in raw:
        return raw
    out = bytearray()
    pos = 0
    while (escape := raw.find(b"\\", pos)) >= 0:
        out += raw[pos:escape]
        kind = raw[escape + 1]
        if kind == ord("u"):
            code = int(raw[escape + 2 : escape + 6], 16)
            out += bytes([code]) if 0x20 < code < 0x7F else b""
            pos = escape + 6
        else:
            out += _SIMPLE_ESCAPES.get(kind, b"")
            pos = escape + 2
    out += raw[pos:]
    return bytes(out)
