"""What a GPT image request is charged when the upstream reports tokens, only terms, or nothing.

The policy (README, Billing): reported tokens price the request; otherwise the quality and size
the upstream says it used; otherwise those the request resolved to (`auto` quality as medium,
`auto` size as the model's usual 1024x1024). The usage record, the response's echo and the charge
always name the same terms; the dearest price is only ever the reservation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.billing_hub import BillingHub, billing_hub

USD = 1_000_000
DEAREST = 250_000  # gpt-image-1 high/1536x1024: what quality and size `auto` reserve


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingHub]:
    # Priced on gpt-image-1's own tables: the hub as of 2026-04-01, before its shutdown.
    today = {"IMAGEHUB_TODAY": "2026-04-01"}
    with billing_hub(tmp_path_factory.mktemp("settle"), "sqlite", extra_env=today) as hub:
        yield hub


@pytest.mark.parametrize(
    ("reports", "price", "quality"),
    [
        ("usage", 10 * 5 + 4160 * 40, "medium"),  # 10 input and 4160 output tokens at $5/$40 per M
        ("terms", 167_000, "high"),  # the upstream says it used high/1024x1024
        ("nothing", 42_000, "medium"),  # auto resolves to medium/1024x1024
    ],
)
def test_auto_quality_and_size_are_charged_as_recorded(
    billing: BillingHub, reports: str, price: int, quality: str
) -> None:
    billing.upstream.reports = reports  # type: ignore[assignment]
    try:
        key_id, secret = billing.new_key(balance_micros=1 * USD)
        result = billing.sdk(secret).images.generate(
            model="gpt-image-1", prompt=f"reports {reports}", quality="auto", size="auto"
        )
    finally:
        billing.upstream.reports = "usage"
    [record] = billing.records(key_id)
    assert record["reserved_micros"] == DEAREST
    assert record["price_micros"] == price
    assert (record["quality"], record["size"]) == (quality, "1024x1024")
    assert (result.quality, result.size) == (quality, "1024x1024"), "the echo names the same terms"
    assert billing.key(key_id)["balance_micros"] == 1 * USD - price
