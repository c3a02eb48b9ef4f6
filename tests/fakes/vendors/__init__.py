"""Fakes of the image vendors' APIs (BFL, Stability, Ideogram, Recraft, xAI, Seedream, DashScope,
fal, Replicate): real HTTP on 127.0.0.1, each speaking its vendor's wire and checking its auth."""

from tests.fakes.vendors.base import VendorFake
from tests.fakes.vendors.bfl import FakeBFL
from tests.fakes.vendors.dashscope import FakeDashScope
from tests.fakes.vendors.fal import FakeFal
from tests.fakes.vendors.ideogram import FakeIdeogram
from tests.fakes.vendors.openai_shaped import FakeRecraft, FakeSeedream, FakeXAI
from tests.fakes.vendors.replicate import FakeReplicate
from tests.fakes.vendors.stability import FakeStability

__all__ = [
    "FakeBFL",
    "FakeDashScope",
    "FakeFal",
    "FakeIdeogram",
    "FakeRecraft",
    "FakeReplicate",
    "FakeSeedream",
    "FakeStability",
    "FakeXAI",
    "VendorFake",
]
