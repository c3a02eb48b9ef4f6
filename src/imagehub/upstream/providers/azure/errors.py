"""Azure OpenAI's error bodies: OpenAI's envelope plus the content filter's verdict per category."""

from __future__ import annotations

from typing import Any

from imagehub.upstream.providers.http import UpstreamErrorInfo
from imagehub.upstream.providers.openai.provider import parse_openai_error

# Codes Azure answers when its content filter (or the model's own moderation) refused the request.
_FILTER_CODES = {"content_policy_violation", "contentfilter", "content_filter", "moderation_blocked"}


def filtered_categories(error: dict[str, Any]) -> list[str]:
    """The content-filter categories that fired (hate, sexual, violence, self_harm, jailbreak …)."""
    inner = error.get("inner_error") or error.get("innererror") or {}
    results = inner.get("content_filter_results") or inner.get("content_filter_result") or {}
    if not isinstance(results, dict):
        return []
    return [
        name for name, verdict in results.items() if isinstance(verdict, dict) and verdict.get("filtered")
    ]


def parse_azure_error(status: int, payload: Any) -> UpstreamErrorInfo:
    info = parse_openai_error(status, payload)
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return info
    inner = error.get("inner_error") or error.get("innererror") or {}
    inner_code = str(inner.get("code") or "") if isinstance(inner, dict) else ""
    if (info.code or "").lower() in _FILTER_CODES or inner_code == "ResponsibleAIPolicyViolation":
        categories = filtered_categories(error)
        which = f" (filtered: {', '.join(categories)})" if categories else ""
        message = f"The request was rejected by Azure OpenAI's content filter{which}."
        return UpstreamErrorInfo(message, "content_policy_violation", info.param, "invalid_request_error")
    return info
