"""Batches and files as OpenAI's SDK parses them (openai.types.Batch, openai.types.FileObject)."""

from __future__ import annotations

from typing import Any

import orjson

from imagehub.batches.models import BatchFileRow, BatchRow


def _s(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def file_object(row: BatchFileRow, size: int | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file",
        "bytes": len(row.content) if size is None else size,
        "created_at": _s(row.created_at),
        "expires_at": _s(row.expires_at),
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
    }


def batch_object(row: BatchRow, counts: dict[str, int]) -> dict[str, Any]:
    """`counts`: total, completed and failed lines (invalid ones count as failed)."""
    return {
        "id": row.id,
        "object": "batch",
        "endpoint": row.endpoint,
        "errors": None,
        "input_file_id": row.input_file_id,
        "completion_window": row.completion_window,
        "status": row.status,
        "output_file_id": row.output_file_id,
        "error_file_id": row.error_file_id,
        "created_at": _s(row.created_at),
        "in_progress_at": _s(row.in_progress_at),
        "expires_at": _s(row.expires_at),
        "finalizing_at": _s(row.finalizing_at),
        "completed_at": _s(row.completed_at),
        "failed_at": None,
        "expired_at": _s(row.completed_at) if row.status == "expired" else None,
        "cancelling_at": _s(row.cancelling_at),
        "cancelled_at": _s(row.cancelled_at),
        "request_counts": counts,
        "metadata": orjson.loads(row.metadata_json) if row.metadata_json else None,
    }
