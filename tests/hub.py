"""Run a real hub for tests: `imagehub serve` in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the real `imagehub` CLI against a data directory."""
    full_env = {**os.environ, "IMAGEHUB_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "imagehub", *args],
        env=full_env,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def create_key(
    data_dir: Path,
    name: str,
    *,
    sandbox: bool = False,
    admin: bool = False,
    env: dict[str, str] | None = None,
) -> str:
    """Create a key through the real CLI, in-process (a subprocess per key costs a second)."""
    from click.testing import CliRunner

    from imagehub.cli import main

    args = (
        ["keys", "create", "--name", name]
        + (["--sandbox"] if sandbox else [])
        + (["--admin"] if admin else [])
    )
    result = CliRunner().invoke(
        main, args, env={"IMAGEHUB_DATA_DIR": str(data_dir), **(env or {})}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


@dataclass
class Hub:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str, default_workers: bool = False) -> Hub:
        """Start `imagehub serve`; one worker unless `extra` says otherwise (or `default_workers`)."""
        if not default_workers and "--workers" not in extra:
            extra = ("--workers", "1", *extra)
        self.log_path = self.data_dir.parent / f"hub-{self.port}.log"
        env = {**os.environ, "IMAGEHUB_DATA_DIR": str(self.data_dir), **self.env}
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "imagehub",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *extra,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Generous: a local-engine hub imports torch and loads a pipeline before it answers, and
        # on a busy 2-core machine that alone has taken close to 30 s.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()  # nobody else holds it: a hub that never came up must not outlive the test
        raise RuntimeError(f"hub did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
