"""Quote the most a request can cost, and settle what it actually cost, in integer micro-USD.

Quote before any upstream call (that amount is reserved); settle with what was delivered and
what the upstream reports (token usage, the quality and size it actually used). A settlement
never exceeds its quote, so a reservation is a hard ceiling on spend.

When the upstream reports neither tokens nor the quality and size it used, the request is charged
at the terms it resolved to (`billed_terms`): what it asked for, `auto` quality as medium and
`auto` size as the model's usual size. The usage record shows the same terms, so record and charge
always agree; the dearest price is only ever the reservation, never silently the charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imagehub.catalog import load_catalog
from imagehub.catalog.overlay import price_tables
from imagehub.errors import Forbidden
from imagehub.schema.images import GenerationResult, ImageJob

#: The operator's opt-in to serving models without a known price to live keys, free.
ALLOW_UNPRICED_VARIABLE = "IMAGEHUB_ALLOW_UNPRICED"


class BillingConfig(BaseModel):
    """The operator's `[billing]` table: a margin, and price overrides per model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    margin_percent: float = Field(default=0.0, ge=0, le=1000)
    prices: dict[str, dict[str, int]] = Field(
        default_factory=dict, description='Per model, "quality/size" -> micro-USD per image.'
    )


#: A billed megapixel: 1024x1024 pixels (an assumption; BFL's page does not say which megapixel it means).
MEGAPIXEL = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ModelPrice:
    per_image: Mapping[str, int]
    input_per_token: int | None = None
    output_per_token: int | None = None
    image_input_per_token: int | None = None  # where image input is dearer than text (gpt-image-2)
    tiers: Mapping[str, str] = field(default_factory=dict)  # size -> "1K"/"2K"/"4K" (Gemini)
    # Vendors that charge by output megapixels (BFL): the first started megapixel, each further one.
    first_megapixel: int | None = None
    further_megapixel: int | None = None
    unknown: bool = False  # no list price is known, and the operator set none: live keys are refused

    def megapixel_price(self, size: str) -> int | None:
        """The per-megapixel price of WIDTHxHEIGHT, each started megapixel charged in full."""
        if self.first_megapixel is None or "x" not in size:
            return None
        width, _, height = size.partition("x")
        megapixels = max(1, -(-int(width) * int(height) // MEGAPIXEL))
        return self.first_megapixel + (megapixels - 1) * (self.further_megapixel or self.first_megapixel)

    def image_price(self, quality: str | None, size: str) -> int:
        """Dearest listed price matching quality and size ("auto" and None match anything).

        A size matches its own key or its resolution tier's; a "*" size is the fallback for
        sizes listed nowhere (gpt-image-2's free sizes, models priced the same at every size).
        Listed per-image prices win over a per-megapixel rate (an operator's override is one).
        """
        by_area = self.megapixel_price(size) if not self.per_image else None
        if by_area is not None:
            return by_area
        tier = self.tiers.get(size)
        exact, fallback = [], []
        for key, price in self.per_image.items():
            q, s = key.split("/", 1)
            if not (q in ("*", quality) or quality in (None, "auto")):
                continue
            if s == "*":
                fallback.append(price)
            elif s in (size, tier) or size == "auto":
                exact.append(price)
        return max(exact or fallback, default=0)


#: What `quality: auto` is charged (and recorded) as when the upstream does not say what it used.
AUTO_QUALITY = "medium"


@dataclass(frozen=True, slots=True)
class BilledTerms:
    """The quality and size a request is recorded at and, without token usage, charged at."""

    quality: str | None
    size: str


def billed_terms(job: ImageJob, result: GenerationResult) -> BilledTerms:
    """The upstream's report wins; else the request's own values, with `auto` resolved."""
    echo = result.echo or {}
    reported_quality, reported_size = echo.get("quality"), echo.get("size")
    quality = str(reported_quality) if reported_quality else job.quality
    if quality in (None, "auto") and AUTO_QUALITY in job.spec.qualities:
        quality = AUTO_QUALITY
    size = str(reported_size) if reported_size and reported_size != "auto" else job.size
    if size == "auto":
        size = f"{job.width}x{job.height}"
    return BilledTerms(quality, size)


def _list_prices() -> dict[str, dict[str, Any]]:
    """prices.toml with the operator's catalog file over it (parsed once, in catalog.overlay)."""
    return price_tables()


@dataclass
class PriceBook:
    """List prices with the operator's overrides and margin applied.

    A deployment may price a model its own way (a cloud that resells it at another price): a
    request is then quoted at the dearest deployment that could serve it, and settled at the
    price of the one that did.
    """

    margin_percent: float = 0.0
    overrides: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # deployment name -> model -> "quality/size" -> micro-USD per image
    deployment_prices: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    #: IMAGEHUB_ALLOW_UNPRICED: serve unpriced models to live keys anyway (free) instead of refusing.
    allow_unpriced: bool = False
    _models: dict[tuple[str, str | None, str | None], ModelPrice] = field(default_factory=dict, repr=False)
    _quotes: dict[tuple[str, str | None, str, int, str | None], int] = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(
        cls,
        config: BillingConfig,
        deployment_prices: Mapping[str, Mapping[str, Mapping[str, int]]] | None = None,
        *,
        allow_unpriced: bool = False,
    ) -> PriceBook:
        return cls(config.margin_percent, config.prices, dict(deployment_prices or {}), allow_unpriced)

    def model_price(
        self, model: str, provider: str | None = None, deployment: str | None = None
    ) -> ModelPrice:
        """The model's prices: the provider's own table where it has one (fal's FLUX.2 [pro] is not
        BFL's), and over it the deployment's own per-image prices where it sets them."""
        if provider not in self.provider_tables(model):
            provider = None
        if deployment is not None and model not in self.deployment_prices.get(deployment, {}):
            deployment = None
        key = (model, provider, deployment)
        cached = self._models.get(key)
        if cached is None:
            cached = self._models[key] = self._build_model_price(model, provider, deployment)
        return cached

    @staticmethod
    def provider_tables(model: str) -> tuple[str, ...]:
        """Providers with their own prices for `model`."""
        return tuple((_list_prices().get(model) or {}).get("providers", {}))

    def _build_model_price(self, model: str, provider: str | None, deployment: str | None) -> ModelPrice:
        spec = load_catalog().get(model)
        listed = _list_prices().get(model) or _list_prices().get((spec and spec.extends) or "", {})
        if provider is not None:
            listed = listed["providers"][provider]
        per_image = {**listed.get("per_image", {}), **self.overrides.get(model, {})}
        tokens = listed.get("tokens", {}) if model not in self.overrides else {}
        if deployment is not None:
            per_image = {**per_image, **self.deployment_prices[deployment][model]}
            tokens = {}  # a deployment's own per-image prices are what it charges, tokens or not
        tiers = spec.image_sizes if spec else {}
        area = listed.get("per_megapixel", {}) if model not in self.overrides else {}
        return ModelPrice(
            per_image,
            tokens.get("input"),
            tokens.get("output"),
            tokens.get("image_input"),
            tiers,
            area.get("first"),
            area.get("further"),
            # `unknown = true` until a price is set: [billing.prices], or the catalog file's
            # [prices."model"] tables, which merge over the packaged entry and its marker.
            bool(listed.get("unknown")) and not (per_image or tokens or area.get("first") is not None),
        )

    def unpriced(self, job: ImageJob) -> bool:
        """Whether a provider that may serve `job` has no known price for it (a pinned job: its own)."""
        name = job.spec.name
        providers = (job.provider,) if job.provider else (None, *self.provider_tables(name))
        return any(self.model_price(name, provider).unknown for provider in providers)

    def require_price(self, job: ImageJob) -> None:
        """Refuse a live key's job that could only be charged nothing because nobody priced it.

        A free answer from a paid upstream is a silent loss; the operator either prices the model
        or opts in to serving it free. Sandbox keys never reach here: they are never charged.
        """
        if self.allow_unpriced or not self.unpriced(job):
            return
        name = job.spec.name
        raise Forbidden(
            f"{name} has no known price on this hub, so live keys cannot use it yet. The hub's "
            f"operator can set its price in the catalog file (IMAGEHUB_CATALOG_FILE: "
            f'[prices."{name}".per_image] "*/*" = <micro-USD>) or in [billing.prices], or serve '
            f"unpriced models free with {ALLOW_UNPRICED_VARIABLE}=1.",
            param="model",
            code="model_not_priced",
        )

    def _prices_of(self, model: str) -> list[ModelPrice]:
        """The general price and every deployment's own one: what a request may end up paying."""
        own = [name for name, models in self.deployment_prices.items() if model in models]
        return [self.model_price(model), *(self.model_price(model, deployment=name) for name in own)]

    def listing(self, model: str) -> dict[str, object]:
        """The model's prices as clients see them (margin included), in integer micro-USD."""
        listed = self._listed(self.model_price(model))
        if model not in self.overrides and self.provider_tables(model):
            listed["per_provider"] = {
                p: self._listed(self.model_price(model, p)) for p in self.provider_tables(model)
            }
        return listed

    def _listed(self, price: ModelPrice) -> dict[str, object]:
        listed: dict[str, object] = {
            "currency": "USD",
            "unit": "micro-USD",
            "per_image": {key: self._with_margin(value) for key, value in price.per_image.items()},
        }
        per_token = {
            name: self._with_margin(value)
            for name, value in (
                ("input", price.input_per_token),
                ("image_input", price.image_input_per_token),
                ("output", price.output_per_token),
            )
            if value is not None
        }
        if per_token:
            listed["per_token"] = per_token
        if price.first_megapixel is not None:
            listed["per_megapixel"] = {
                "first": self._with_margin(price.first_megapixel),
                "further": self._with_margin(price.further_megapixel or price.first_megapixel),
            }
        if price.unknown:
            listed["unknown"] = True
        return listed

    def _with_margin(self, micros: int) -> int:
        # Ceiling in integers: a margin never rounds a price down to free.
        scaled = micros * round(100 * (100 + self.margin_percent))
        return -(-scaled // 10000)

    def quote(self, job: ImageJob) -> int:
        """The most this job can cost: the reservation. Memoised: it is asked on every request.

        A job pinned to a provider is quoted at that provider's price; an unpinned one at the
        dearest of the providers that may serve it.
        """
        signature = (job.spec.name, job.quality, job.size, job.n, job.provider)
        quoted = self._quotes.get(signature)
        if quoted is None:
            candidates = [
                self.model_price(job.spec.name, provider)
                for provider in (
                    (job.provider,) if job.provider else (None, *self.provider_tables(job.spec.name))
                )
            ]
            candidates += self._prices_of(job.spec.name)
            price = max(p.image_price(job.quality, job.size) for p in candidates)
            quoted = self._quotes[signature] = self._with_margin(price * job.n)
        return quoted

    def settle(
        self, job: ImageJob, result: GenerationResult, quoted: int, terms: BilledTerms | None = None
    ) -> int:
        """What the delivered images cost, from reported tokens when there are any; at most `quoted`.

        Without tokens, the per-image price at `terms` (default: `billed_terms(job, result)`), of
        the provider that served it where that provider has its own prices.
        """
        price = self.model_price(job.spec.name, result.kind, result.provider)
        usage = result.usage or {}
        input_tokens, output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
        if (
            price.output_per_token is not None
            and isinstance(output_tokens, int)
            and isinstance(input_tokens, int)
        ):
            cost = input_tokens * (price.input_per_token or 0) + output_tokens * price.output_per_token
        else:
            terms = terms or billed_terms(job, result)
            cost = price.image_price(terms.quality, terms.size) * len(result.images)
        return min(self._with_margin(cost), quoted)
