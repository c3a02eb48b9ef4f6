"""`make bench`: the hub's own cost, measured against a direct call to the same fast upstream.

Starts the fake upstream (bench/upstream.py), a hub on one worker pointed at it with a live key,
and drives both with wrk at concurrency 1 and 16, for b64_json and url. Prints a table with
requests/s, p50 and p99, the latency the hub adds, its throughput as a fraction of direct, and
the hub's peak RSS. At c16 it also measures the ceiling, a bare Starlette pass-through with no
features (bench/passthrough.py), so that the hub's throughput can be read against what the same
stack reaches on this machine. Loopback only; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = '{body}'
"""


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing it from Debian's packages ...", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is required: apt-get install wrk")
    return found


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"process for {url} exited early")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    sys.exit(f"{url} did not come up")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    wrk: str,
    url: str,
    key: str,
    body: dict[str, object],
    connections: int,
    seconds: int,
    timeout_s: int = 2,
) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(key=key, body=json.dumps(body)))
    threads = min(2, connections)
    flags = [f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s", "--latency"]
    output = subprocess.run(
        [wrk, *flags, "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s)", output)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(v) for v in socket_errors.groups())
    return Result(rps, _ms(*p50.groups()), _ms(*p99.groups()), count)  # type: ignore[union-attr]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of the hub's process tree (VmHWM), in MB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{candidate}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        total = max(total, int(match.group(1))) if match else total
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    wrk = ensure_wrk()

    # Under the checkout, like `make run`'s ./data (on this machine /tmp's file creation is
    # several times slower, which would be measured as the hub's cost).
    scratch = ROOT / "bench" / ".work"
    scratch.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    upstream_port, hub_port = free_port(), free_port()
    config = work / "imagehub.toml"
    config.write_text(
        f'[[deployments]]\nname = "bench"\nprovider = "openai"\nbase_url = "http://127.0.0.1:{upstream_port}/v1"\n'
        'api_key = "sk-bench"\nmodels = ["gpt-image-2"]\n'
    )
    env = {**os.environ, "IMAGEHUB_DATA_DIR": str(work / "data"), "IMAGEHUB_CONFIG_FILE": str(config)}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    upstream = subprocess.Popen([PYTHON, str(ROOT / "bench" / "upstream.py"), str(upstream_port)])
    bare_port = free_port()
    bare = subprocess.Popen(
        [PYTHON, str(ROOT / "bench" / "passthrough.py"), str(upstream_port), str(bare_port)]
    )
    key = subprocess.run(
        [PYTHON, "-m", "imagehub", "keys", "create", "--name", "bench"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    hub = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "imagehub",
            "serve",
            "--port",
            str(hub_port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "hub.log").open("w"),  # JSON access log kept on
    )
    results: dict[str, Result] = {}
    try:
        wait_http(f"http://127.0.0.1:{upstream_port}/", upstream)
        wait_http(f"http://127.0.0.1:{hub_port}/healthz", hub)
        wait_http(f"http://127.0.0.1:{bare_port}/", bare)
        direct_url = f"http://127.0.0.1:{upstream_port}/v1/images/generations"
        hub_url = f"http://127.0.0.1:{hub_port}/v1/images/generations"
        # A live model at a size it makes (dall-e-2 is now served by a successor and resized).
        body = {"model": "gpt-image-2", "prompt": "a benchmark", "size": "1024x1024"}
        # Warm up both paths (connection pools, caches, first-request imports).
        run_wrk(wrk, hub_url, key, {**body, "response_format": "b64_json"}, 4, 2)
        for connections in (1, 16):
            results[f"direct c{connections}"] = run_wrk(
                wrk,
                direct_url,
                "sk-bench",
                {**body, "response_format": "b64_json"},
                connections,
                args.seconds,
            )
            if connections > 1:
                results[f"bare pass-through c{connections}"] = run_wrk(
                    wrk,
                    f"http://127.0.0.1:{bare_port}/v1/images/generations",
                    "sk-bench",
                    {**body, "response_format": "b64_json"},
                    connections,
                    args.seconds,
                )
            for fmt in ("b64_json", "url"):
                results[f"hub {fmt} c{connections}"] = run_wrk(
                    wrk, hub_url, key, {**body, "response_format": fmt}, connections, args.seconds
                )
        rss = peak_rss_mb(hub.pid)
    finally:
        for process in (hub, upstream, bare):
            process.terminate()
        for process in (hub, upstream, bare):
            process.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\n{'run':<20}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'added p50':>11}{'vs direct':>11}"
    )
    for name, result in results.items():
        direct = results[f"direct c{name.rsplit('c', 1)[1]}"]
        added = "" if name.startswith("direct") else f"{result.p50_ms - direct.p50_ms:+.2f} ms"
        share = "" if name.startswith("direct") else f"{result.rps / direct.rps:.0%}"
        print(
            f"{name:<20}{result.rps:>10.0f}{result.p50_ms:>10.2f}{result.p99_ms:>10.2f}{result.errors:>8}"
            f"{added:>11}{share:>11}"
        )
    print(f"\nhub peak RSS: {rss:.0f} MB (workers={args.workers})")
    bare_c16 = results["bare pass-through c16"].rps
    for fmt in ("b64_json", "url"):
        print(f"hub {fmt} c16 / bare pass-through c16: {results[f'hub {fmt} c16'].rps / bare_c16:.0%}")
    if args.json:
        args.json.write_text(
            json.dumps({"results": {k: vars(v) for k, v in results.items()}, "peak_rss_mb": rss}, indent=2)
        )


if __name__ == "__main__":
    main()
