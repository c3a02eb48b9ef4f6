"""Run real engines for tests: `imagehub engine serve` (or `engine ray`) in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.hub import free_port


def engine_config(path: Path, pipeline: Path, name: str = "tiny", **fields: object) -> Path:
    """An engine's TOML: one local sd-turbo deployment served by the tests' tiny pipeline."""
    lines = ["[[deployments]]", f'name = "{name}"', 'provider = "local"', 'models = ["sd-turbo"]']
    lines += [f'path = "{pipeline}"', *(f"{key} = {value!r}" for key, value in fields.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def hub_config(
    path: Path, engines: dict[str, tuple[str, float]], poll_seconds: float = 0.2, **routing: object
) -> Path:
    """A hub's TOML with one `provider = "engine"` deployment per (name: (url, weight))."""
    lines = ["[routing]", *(f"{key} = {value!r}" for key, value in routing.items())] if routing else []
    for name, (url, weight) in engines.items():
        lines += [
            "[[deployments]]",
            f'name = "{name}"',
            'provider = "engine"',
            'models = ["sd-turbo"]',
            f'base_url = "{url}"',
            f"weight = {weight}",
            f"poll_seconds = {poll_seconds}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Engine:
    """One engine process; `args` picks `serve` (default) or `ray` and its options."""

    config: Path
    args: tuple[str, ...] = ("serve",)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.config.parent / f"engine-{self.port}.log"

    def start(self, timeout: float = 120) -> Engine:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "imagehub", "engine", *self.args]
        command += ["--config", str(self.config), "--port", str(self.port)]
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        deadline = time.monotonic() + timeout  # torch's import alone can take 30 s on a loaded box
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"engine exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"engine did not get ready in {timeout:.0f}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crash or a lost machine would: no goodbye to anyone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: Ray's helpers too
                self.process.wait(timeout=30)
