"""Fake OpenAI and Google image APIs for the test suite (real HTTP servers on 127.0.0.1)."""

from tests.fakes.google import FakeGoogle, google_error
from tests.fakes.openai import FakeOpenAI, openai_error
from tests.fakes.server import (
    FakeServer,
    Fault,
    RecordedRequest,
    UploadedFile,
    image_bytes,
    png_b64,
    png_bytes,
)

__all__ = [
    "FakeGoogle",
    "FakeOpenAI",
    "FakeServer",
    "Fault",
    "RecordedRequest",
    "UploadedFile",
    "google_error",
    "image_bytes",
    "openai_error",
    "png_b64",
    "png_bytes",
]
