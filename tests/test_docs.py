"""The README and docs/ say what the hub does: their examples run, their links resolve.

The README's curl and SDK examples are run as written against a freshly started hub (only the
key and the address are the real ones), so an example that stops working fails here; the docs
build with `mkdocs build --strict`, which fails on a broken link or anchor.
"""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.hub import Hub, cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE_BASE = "http://127.0.0.1:8080"
EXAMPLE_KEY = "ih-sbx-…"


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


@pytest.fixture(scope="module")
def first_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, str]]:
    """A hub started on an empty data directory, and the sandbox key its first start printed."""
    hub = Hub(tmp_path_factory.mktemp("readme") / "data").start()
    try:
        printed = re.search(r"^\s+(ih-sbx-\S+)$", hub.log(), flags=re.MULTILINE)
        assert printed, hub.log()
        yield hub, printed.group(1)
    finally:
        hub.stop()


def _png_size(url: str) -> tuple[int, int]:
    image = Image.open(io.BytesIO(httpx.get(url, timeout=30).raise_for_status().content))
    assert image.format == "PNG"
    return image.size


def test_the_readme_is_a_front_page_whose_links_resolve() -> None:
    assert len(README.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
    assert "../shared" not in README


def test_the_readme_curl_example_runs_as_written(first_start: tuple[Hub, str]) -> None:
    hub, key = first_start
    [curl] = [block for block in _blocks(README, "sh") if block.lstrip().startswith("curl ")]
    command = curl.replace(EXAMPLE_BASE, hub.url).replace(EXAMPLE_KEY, key).replace("\\\n", " ")
    done = subprocess.run(
        [*shlex.split(command), "-sS", "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=60
    )
    body, status = done.stdout.rsplit("\n", 1)
    assert status == "200", body
    assert _png_size(httpx.Response(200, content=body).json()["data"][0]["url"]) == (1024, 1024)


def test_the_readme_sdk_example_runs_as_written(first_start: tuple[Hub, str]) -> None:
    hub, key = first_start
    [snippet] = [block for block in _blocks(README, "python") if "OpenAI(" in block]
    code = snippet.replace(EXAMPLE_BASE, hub.url).replace(EXAMPLE_KEY, key)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    size = re.search(r'size="(\d+)x(\d+)"', snippet)
    assert size
    assert _png_size(url) == (int(size.group(1)), int(size.group(2)))


def test_the_readme_way_to_another_sandbox_key_works(first_start: tuple[Hub, str]) -> None:
    hub, _ = first_start
    command = re.search(r"`\.venv/bin/imagehub (keys create [^`]*--sandbox)`", README)
    assert command, "the README says how to get another sandbox key"
    done = cli(hub.data_dir, *shlex.split(command.group(1)))
    secret = done.stdout.strip().splitlines()[-1]
    assert secret.startswith("ih-sbx-")
    answer = httpx.get(f"{hub.url}/v1/models", headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert answer.status_code == 200


def test_the_start_up_warning_names_the_status_live_keys_get(first_start: tuple[Hub, str]) -> None:
    """With no provider configured, `serve` warns what a live key gets; it must be what it gets."""
    hub, _ = first_start
    claimed = re.search(r"live keys get (\d{3}) (\w+)", hub.log())
    assert claimed, hub.log()
    live = cli(hub.data_dir, "keys", "create", "--name", "live").stdout.strip().splitlines()[-1]
    answer = httpx.post(
        f"{hub.url}/v1/images/generations",
        headers={"Authorization": f"Bearer {live}"},
        json={"prompt": "a fox", "model": "dall-e-3"},
        timeout=30,
    )
    assert answer.status_code == int(claimed.group(1))
    assert answer.json()["error"]["code"] == claimed.group(2)
    for page in (ROOT / "docs").glob("*.md"):
        assert "503 model_not_available" not in page.read_text(encoding="utf-8"), page


def test_the_docs_build_without_a_broken_link(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "api" / "index.html").exists()
