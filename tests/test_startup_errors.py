"""`imagehub serve` with configuration that cannot work: one line naming the fix, exit code 2.

Run as an operator would, as a subprocess; nothing may get as far as starting a worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.hub import Hub, free_port


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "IMAGEHUB_DATA_DIR": str(tmp_path / "data"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "imagehub", "serve", "--port", str(free_port()), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert all(word in lines[0] for word in words), lines[0]
    assert "serving on" not in result.stdout + result.stderr


def test_an_s3_store_without_the_s3_extra(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "obstore"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named obstore')\n")
    env = {"IMAGEHUB_STORE_URL": "s3://images/hub", "PYTHONPATH": str(shadow.parent)}
    assert_one_line(serve(tmp_path, env=env), "IMAGEHUB_STORE_URL", "pip install 'imagehub[s3]'")


def test_a_store_url_of_an_unknown_kind(tmp_path: Path) -> None:
    result = serve(tmp_path, env={"IMAGEHUB_STORE_URL": "ftp://images"})
    assert_one_line(result, "IMAGEHUB_STORE_URL", "s3://BUCKET/PREFIX")


def test_an_invalid_setting_is_named(tmp_path: Path) -> None:
    result = serve(tmp_path, env={"IMAGEHUB_SIGNING_SECRET": "not hex"})
    assert_one_line(result, "IMAGEHUB_SIGNING_SECRET", "openssl rand -hex 32")


def test_a_second_serve_on_a_busy_port(tmp_path: Path, hub: Hub) -> None:
    env = {**os.environ, "IMAGEHUB_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "imagehub", "serve", "--port", str(hub.port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line(result, f"port {hub.port}", "already in use", "--port")


def test_a_bedrock_deployment_without_a_region(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[[deployments]]\nname = "bedrock-main"\nprovider = "bedrock"\n', encoding="utf-8")
    env = {"IMAGEHUB_CONFIG_FILE": str(config), "AWS_REGION": "", "AWS_DEFAULT_REGION": ""}
    assert_one_line(serve(tmp_path, env=env), "'bedrock-main'", "region", "AWS_REGION")
