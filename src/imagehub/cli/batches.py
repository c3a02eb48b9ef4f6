"""`imagehub batch submit FILE.jsonl [--wait]` and `imagehub jobs list`: the asynchronous API from
a terminal, over HTTP with a key like any client.

`batch submit` uploads the file (purpose "batch"), creates the batch and prints its id; with
`--wait` it shows a progress bar (completed + failed of total) until the batch ends, then writes
the output and error files next to the input.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import IO, Any

import click
import httpx

from imagehub.cli.generate import error_message

ENDED = ("completed", "cancelled", "expired", "failed")


def api_base(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base if re.search(r"/(api|v1)$", base) else base + "/api"


def progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def _draw(stream: IO[str], line: str, live: bool) -> None:
    if live:
        print(f"\r{line}", end="", file=stream, flush=True)


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise click.ClickException(error_message(response))
    body: dict[str, Any] = response.json()
    return body


_BASE = click.option(
    "--base-url", default="http://127.0.0.1:8080", show_default=True, envvar="IMAGEHUB_BASE_URL"
)
_KEY = click.option("--api-key", envvar="IMAGEHUB_API_KEY", required=True, help="Or set IMAGEHUB_API_KEY.")


@click.group()
def batch() -> None:
    """Batches of image requests (OpenAI's Batch API)."""


@batch.command("submit")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--endpoint", default="/v1/images/generations", show_default=True)
@click.option("--wait", is_flag=True, help="Show progress until the batch ends; save its output files.")
@click.option("--poll", default=1.0, show_default=True, type=float, help="Seconds between status checks.")
@_BASE
@_KEY
def submit(path: Path, endpoint: str, wait: bool, poll: float, base_url: str, api_key: str) -> None:
    """Submit PATH (JSONL, one request per line) as a batch."""
    base = api_base(base_url)
    with httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=120) as client:
        uploaded = _check(
            client.post(
                f"{base}/files", files={"file": (path.name, path.read_bytes())}, data={"purpose": "batch"}
            )
        )
        created = _check(
            client.post(
                f"{base}/batches",
                json={"input_file_id": uploaded["id"], "endpoint": endpoint, "completion_window": "24h"},
            )
        )
        click.echo(created["id"])
        if not wait:
            return
        ended = _wait(client, base, created, poll, sys.stderr)
        for field, suffix in (("output_file_id", "output"), ("error_file_id", "errors")):
            if ended.get(field):
                target = path.with_name(f"{path.stem}.{suffix}.jsonl")
                response = client.get(f"{base}/files/{ended[field]}/content")
                if response.status_code >= 400:
                    raise click.ClickException(error_message(response))
                target.write_bytes(response.content)
                click.echo(f"{suffix}: {target}", err=True)
        if ended["status"] != "completed":
            raise click.ClickException(f"batch {ended['id']} ended {ended['status']}")


def _wait(
    client: httpx.Client, base: str, batch: dict[str, Any], poll: float, stream: IO[str]
) -> dict[str, Any]:
    live = stream.isatty()
    while True:
        counts = batch["request_counts"]
        line = progress_bar(counts["completed"] + counts["failed"], counts["total"])
        _draw(stream, f"{batch['status']:<12} {line}", live)
        if batch["status"] in ENDED:
            print(
                ("\n" if live else "") + f"{batch['status']} {line} ({counts['failed']} failed)", file=stream
            )
            return batch
        time.sleep(poll)
        batch = _check(client.get(f"{base}/batches/{batch['id']}"))


@click.group()
def jobs() -> None:
    """Asynchronous image jobs of a key."""


@jobs.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--after", default=None, help="Continue after this job id (the last one listed).")
@_BASE
@_KEY
def list_jobs(limit: int, after: str | None, base_url: str, api_key: str) -> None:
    """The key's jobs, newest first: id, status, model, size, created (UTC)."""
    params: dict[str, str | int] = {"limit": limit, **({"after": after} if after else {})}
    response = httpx.get(
        f"{api_base(base_url)}/images/jobs",
        params=params,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=60,
    )
    page = _check(response)
    for job in page["data"]:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job["created_at"]))
        click.echo(
            f"{job['id']}  {job['status']:<11}  {job['model']:<20}  {job['size'] or '-':<10}  {created}"
        )
    if page["has_more"]:
        click.echo(f"more: --after {page['last_id']}", err=True)
