"""`response_format=url` through an S3 store, beside the local segment store, at c16 and 1,000 in flight.

Two hubs on one worker each, identical but for IMAGEHUB_STORE_URL: one on the local segment
store, one on an S3 bucket (bench/s3_upstream.py, a fast in-memory S3, or with `--store moto`
the tests' moto server). Each has two deployments of the fake upstream (bench/upstream.py):
dall-e-2 answers at once (c16: the hub's own cost per request), dall-e-3 after `--delay`
seconds (1,000 connections: that many requests in flight, as slow image models make them).
Reports req/s, p50/p99, errors, the hub's CPU per request and its peak RSS. Loopback only.

    .venv/bin/python bench/s3.py --seconds 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import PYTHON, ensure_wrk, free_port, peak_rss_mb, run_wrk, wait_http  # noqa: E402

CONFIG = """
[[deployments]]
name = "fast"
provider = "openai"
base_url = "http://127.0.0.1:{fast}/v1"
api_key = "sk-bench"
models = ["dall-e-2"]

[[deployments]]
name = "slow"
provider = "openai"
base_url = "http://127.0.0.1:{slow}/v1"
api_key = "sk-bench"
models = ["dall-e-3"]
timeout_seconds = 120
max_connections = 4000   # the default 100 would cap requests in flight to this upstream
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--delay", type=float, default=1.0, help="the slow upstream's answer time")
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--store", choices=["fake", "moto"], default="fake")
    args = parser.parse_args()
    wrk = ensure_wrk()
    scratch = ROOT / "bench" / ".work"
    scratch.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="s3-", dir=scratch))
    fast_port, slow_port, s3_port = free_port(), free_port(), free_port()
    (work / "imagehub.toml").write_text(CONFIG.format(fast=fast_port, slow=slow_port))
    processes: list[subprocess.Popen[bytes]] = [
        subprocess.Popen([PYTHON, str(ROOT / "bench" / "upstream.py"), str(fast_port)]),
        subprocess.Popen([PYTHON, str(ROOT / "bench" / "upstream.py"), str(slow_port), str(args.delay)]),
    ]
    moto = None
    if args.store == "moto":
        from tests.s3_server import S3Server

        moto = S3Server(port=s3_port).start()
        moto.create_bucket("bench")
    else:
        processes.append(subprocess.Popen([PYTHON, str(ROOT / "bench" / "s3_upstream.py"), str(s3_port)]))
    base = {**os.environ, "IMAGEHUB_CONFIG_FILE": str(work / "imagehub.toml")}
    for name in ("REDIS_URL", "DATABASE_URL", "IMAGEHUB_DATABASE_URL"):
        base.pop(name, None)
    s3_env = {
        "IMAGEHUB_STORE_URL": "s3://bench/images",
        "IMAGEHUB_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "IMAGEHUB_SIGNING_SECRET": "00" * 32,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
    }
    hubs: dict[str, tuple[subprocess.Popen[bytes], int, str]] = {}
    results: list[tuple[str, float, float, float, int, float]] = []
    try:
        for store, extra in (("local", {}), ("s3", s3_env)):
            env = {**base, **extra, "IMAGEHUB_DATA_DIR": str(work / store)}
            key = subprocess.run(
                [PYTHON, "-m", "imagehub", "keys", "create", "--name", "bench"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            port = free_port()
            hub = subprocess.Popen(
                [PYTHON, "-m", "imagehub", "serve", "--port", str(port), "--log-level", "warning"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(work / f"{store}.log").open("w"),
            )
            processes.append(hub)
            wait_http(f"http://127.0.0.1:{port}/healthz", hub)
            hubs[store] = (hub, port, key)
        fast = {"model": "dall-e-2", "prompt": "a benchmark", "size": "256x256", "response_format": "url"}
        slow = {"model": "dall-e-3", "prompt": "a benchmark", "size": "1024x1024", "response_format": "url"}
        for _, port, key in hubs.values():  # warm-up: pools, caches, first imports
            run_wrk(wrk, f"http://127.0.0.1:{port}/v1/images/generations", key, fast, 4, 2)
        for label, body, connections in (("c16", fast, 16), (f"{args.in_flight} in flight", slow, args.in_flight)):
            for store, (hub, port, key) in hubs.items():
                url = f"http://127.0.0.1:{port}/v1/images/generations"
                before = cpu_seconds(hub.pid)
                result = run_wrk(wrk, url, key, body, connections, args.seconds, timeout_s=60)
                used = cpu_seconds(hub.pid) - before
                per_request = used / max(1.0, result.rps * args.seconds) * 1e6
                results.append((f"{store} url {label}", result.rps, result.p50_ms, result.p99_ms, result.errors, per_request))
        rss = {store: peak_rss_mb(hub.pid) for store, (hub, _, _) in hubs.items()}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # a hub still draining requests stuck on a slow store
                process.kill()
                process.wait(10)
        if moto is not None:
            moto.stop()
    print(f"\nstore: {args.store}; slow upstream answers after {args.delay} s")
    print(f"{'run':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'CPU us/req':>12}")
    for name, rps, p50, p99, errors, cpu in results:
        print(f"{name:<28}{rps:>10.0f}{p50:>10.2f}{p99:>10.2f}{errors:>8}{cpu:>12.0f}")
    print("peak RSS: " + ", ".join(f"{store} {value:.0f} MB" for store, value in rss.items()))


if __name__ == "__main__":
    main()
