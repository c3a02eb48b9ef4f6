"""`imagehub generate`: generate or edit images through a running hub and write them to files.

Talks to the hub over HTTP with a key, like any client: `--base-url` takes the hub's root or the
SDK's convention (`…/api`, `…/v1`).
"""

from __future__ import annotations

import base64
import re
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import click
import httpx


def endpoint(base_url: str, operation: str) -> str:
    """`http://h:8080`, `http://h:8080/api` and `http://h:8080/v1` all reach `…/<api>/images/<op>`."""
    base = base_url.rstrip("/")
    if not re.search(r"/(api|v1)$", base):
        base += "/api"
    return f"{base}/images/{operation}"


class Progress:
    """Elapsed time on stderr while the hub works: redrawn in place on a terminal, one line when piped.

    Image models take 5-60 s, so a silent wait looks like a hang. When stderr is a file or a pipe
    there is no redrawing (no carriage returns in logs): one line at start and one at the end.
    """

    def __init__(self, label: str, stream: IO[str] | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> Progress:
        if self.live:
            self._thread.start()
        else:
            print(f"{self.label} ...", file=self.stream, flush=True)
        return self

    def _tick(self) -> None:
        frames = "|/-\\"
        index = 0
        while not self._done.wait(0.1):
            elapsed = time.monotonic() - self.started
            print(f"\r{frames[index % 4]} {self.label} {elapsed:5.1f}s", end="", file=self.stream, flush=True)
            index += 1

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self.live:
            self._thread.join()
            print("\r\033[K", end="", file=self.stream, flush=True)
        outcome = "failed" if exc[0] else "done"
        print(
            f"{self.label}: {outcome} in {time.monotonic() - self.started:.1f}s", file=self.stream, flush=True
        )


def error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        param = f" (param: {error['param']})" if error.get("param") else ""
        return f"HTTP {response.status_code}: {error['message']}{param}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _file_stem(model: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
    return f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


def _image_bytes(item: dict[str, Any], client: httpx.Client) -> bytes:
    if "b64_json" in item:
        return base64.b64decode(item["b64_json"])
    response = client.get(item["url"])
    if response.status_code != 200:
        raise click.ClickException(f"Could not download {item['url']}: HTTP {response.status_code}")
    return response.content


@click.command()
@click.argument("prompt")
@click.option("--model", default=None, help="Model name; the hub's default (dall-e-2) when omitted.")
@click.option("--n", "n", default=1, show_default=True, type=int)
@click.option("--size", default=None)
@click.option("--quality", default=None)
@click.option("--style", default=None)
@click.option("--output-format", default=None, help="png, jpeg or webp (GPT image and local models).")
@click.option("--background", default=None, help="transparent, opaque or auto (GPT image models).")
@click.option(
    "--response-format",
    type=click.Choice(["b64_json", "url"]),
    default="b64_json",
    show_default=True,
    help="url: the hub stores the images; they are downloaded from their signed URLs.",
)
@click.option("--seed", default=None, type=int, help="Local models: the same seed gives the same image.")
@click.option(
    "--image",
    "images",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Edit this image (repeat for several); sends the request to /images/edits.",
)
@click.option(
    "--mask",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PNG whose transparent pixels mark what to edit (with --image).",
)
@click.option(
    "--out", "out_dir", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--base-url",
    default="http://127.0.0.1:8080",
    show_default=True,
    envvar="IMAGEHUB_BASE_URL",
    help="The hub's root, or the SDK's base URL (…/api or …/v1).",
)
@click.option("--api-key", envvar="IMAGEHUB_API_KEY", required=True, help="Or set IMAGEHUB_API_KEY.")
@click.option("--timeout", default=300.0, show_default=True, type=float)
def generate(
    prompt: str,
    model: str | None,
    images: tuple[Path, ...],
    mask: Path | None,
    out_dir: Path,
    base_url: str,
    api_key: str,
    timeout: float,
    **fields: Any,
) -> None:
    """Generate images (or edit --image files) through a running hub and write them to --out.

    Prints the paths written on stdout, one a line; progress, revised prompts and costs on stderr.
    """
    if mask is not None and not images:
        raise click.UsageError("--mask needs --image")
    body: dict[str, Any] = {"prompt": prompt, **{k: v for k, v in fields.items() if v is not None}}
    if model is not None:
        body["model"] = model
    operation = "edits" if images else "generations"
    url = endpoint(base_url, operation)
    label = (
        f"{'Editing' if images else 'Generating'} {body['n']} image(s) with {model or 'the default model'}"
    )
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(timeout=timeout, headers=headers) as client:
        try:
            with Progress(label):
                if images:
                    files = [
                        ("image[]" if len(images) > 1 else "image", (p.name, p.read_bytes())) for p in images
                    ]
                    if mask is not None:
                        files.append(("mask", (mask.name, mask.read_bytes())))
                    data = {name: str(value) for name, value in body.items()}
                    response = client.post(url, data=data, files=files)
                else:
                    response = client.post(url, json=body)
                if response.status_code != 200:
                    raise click.ClickException(error_message(response))
        except httpx.HTTPError as exc:
            raise click.ClickException(f"Could not reach the hub at {url}: {exc}") from None
        payload = response.json()
        out_dir.mkdir(parents=True, exist_ok=True)
        ext = payload.get("output_format") or body.get("output_format") or "png"
        stem = _file_stem(model or "dall-e-2")
        written = []
        for index, item in enumerate(payload["data"], start=1):
            path = out_dir / f"{stem}-{index}.{ext}"
            path.write_bytes(_image_bytes(item, client))
            written.append(path)
            if item.get("revised_prompt"):
                click.echo(f"revised prompt ({path.name}): {item['revised_prompt']}", err=True)
            if item.get("url"):
                click.echo(f"url ({path.name}): {item['url']}", err=True)
    cost = response.headers.get("x-imagehub-cost-micros")
    if cost is not None:
        click.echo(f"cost: ${int(cost) / 1_000_000:.6f}".rstrip("0").rstrip("."), err=True)
    for path in written:
        click.echo(str(path))
