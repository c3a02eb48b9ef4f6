"""`make bench`: how many slow generations one hub holds at once, against the upstream called directly.

An image model answers after seconds, so what limits a hub is how many requests it can hold in
flight, not requests per second. For each row this starts the fake upstream (bench/upstream.py)
answering after DELAY seconds, then drives it with wrk at C connections twice: straight at the
upstream, then through a fresh hub in its **default configuration** (the README's environment
variables: OPENAI_BASE_URL and OPENAI_API_KEY; a live key with no balance; JSON access log on).
It prints the hub's completed req/s as a share of the direct run, p50/p99, errors, the hub's
CPU per request (all its processes, /proc stat) and its peak RSS, also per request in flight
(peak during the warm-up and the run, minus the idle hub before them, over C). Before the
measured run the hub is warmed up at the same concurrency for one upstream delay, so its
upstream pool is open.

A 12 s wrk run against a 2 s upstream completes at most ~10/12 of C/2 requests per second, so
only the share of the direct run means anything. Loopback only; every run is bounded in time.

With a fixed delay every client's answer comes back in the same second, C answers at once: the
worst case for memory (they are all read before the hub has processed them). The last default
row spreads the delay over DELAY ± JITTER, as a real model's latency varies, for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from run import PYTHON, ROOT, ensure_wrk, free_port, wait_http

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = '{body}'
"""
# A live model at a size it makes: a retired name (dall-e-2) is served by its successor and resized,
# which would measure Pillow, not the hub's byte path.
BODY = {"model": "gpt-image-2", "prompt": "a benchmark", "size": "1024x1024", "response_format": "b64_json"}
S3_ENV = {
    "IMAGEHUB_STORE_URL": "s3://bench/images",
    "IMAGEHUB_SIGNING_SECRET": "00" * 32,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "us-east-1",
}
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    connections: int
    delay: float
    seconds: int
    workers: int
    jitter: float = 0.0  # each upstream answer after DELAY ± JITTER (uniform), not all at once
    answer_kb: int = 64  # the upstream's base64 answer; 2500 is a real 1024x1024 PNG's weight
    response_format: str = "b64_json"
    store: str = "local"  # local, moto (the tests' S3 server) or fake (bench/s3_upstream.py)


@dataclass
class Load:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Measured:
    row: Row
    direct: Load
    hub: Load
    cpu_us_per_request: float
    peak_rss_mb: float
    idle_rss_mb: float

    @property
    def rss_kb_per_request(self) -> float:
        return (self.peak_rss_mb - self.idle_rss_mb) * 1024 / self.row.connections


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk_load(
    wrk: str, url: str, key: str, connections: int, seconds: int, timeout: float, response_format: str = "b64_json"
) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(key=key, body=json.dumps({**BODY, "response_format": response_format})))
    try:
        output = subprocess.run(
            [
                wrk,
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                f"--timeout={round(timeout)}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + timeout + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s|m)", output)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s|m)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(v) for v in socket_errors.groups())
    p50_ms = _ms(*p50.groups()) if p50 else 0.0
    p99_ms = _ms(*p99.groups()) if p99 else 0.0
    return Load(requests, rps, p50_ms, p99_ms, count)


def _tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in _tree(int(child)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process tree (the hub's parent and its workers)."""
    total = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of the workers (the whole tree when there is no separate parent)."""
    total = 0
    for member in _tree(pid):
        try:
            match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{member}/status").read_text())
        except OSError:
            continue
        total += int(match.group(1)) if match else 0
    return total / 1024


class PeakSampler(threading.Thread):
    """Samples the hub's RSS four times a second while a load runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.25):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


def top_frames(collapsed: Path, count: int = 12) -> str:
    """The functions with the most samples on top of the stack, from py-spy's collapsed output."""
    totals: dict[str, int] = {}
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack:
            continue
        leaf = stack.split(";")[-1]
        totals[leaf] = totals.get(leaf, 0) + int(number)
        samples += int(number)
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:count]
    return "\n".join(f"{n / max(1, samples):6.1%}  {name}" for name, n in ranked)


def profiled(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on the hub for the measured run, when py-spy is installed (pip install py-spy)."""
    spy = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed: no profile", file=sys.stderr)
        return None
    return subprocess.Popen(
        [spy, "record", "-p", str(pid), "-d", str(seconds), "-r", "50", "-f", "raw", "--nonblocking", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure(wrk: str, row: Row, work: Path, profile: Path | None = None) -> Measured:
    upstream_port, hub_port = free_port(), free_port()
    upstream = subprocess.Popen(
        [PYTHON, str(ROOT / "bench" / "upstream.py"), str(upstream_port), str(row.delay), str(row.jitter), str(row.answer_kb)]
    )
    data = work / f"data-{row.connections}-{row.response_format}-{row.store}"
    env = {
        **os.environ,
        "IMAGEHUB_DATA_DIR": str(data),
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "OPENAI_API_KEY": "sk-bench",
    }
    for name in ("REDIS_URL", "DATABASE_URL", "IMAGEHUB_CONFIG_FILE"):
        env.pop(name, None)
    s3: Any = None
    if row.store != "local":
        s3_port = free_port()
        env.update(S3_ENV, IMAGEHUB_S3_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}")
        if row.store == "moto":
            from tests.s3_server import S3Server

            s3 = S3Server(port=s3_port).start()
            s3.create_bucket("bench")
        else:
            s3 = subprocess.Popen([PYTHON, str(ROOT / "bench" / "s3_upstream.py"), str(s3_port)])
            wait_http(f"http://127.0.0.1:{s3_port}/bench?list-type=2", s3)
    hub: subprocess.Popen[bytes] | None = None
    timeout = (row.delay + row.jitter) * 3 + 30
    try:
        wait_http(f"http://127.0.0.1:{upstream_port}/", upstream)
        direct = wrk_load(
            wrk, f"http://127.0.0.1:{upstream_port}/v1/images/generations", "sk-bench", row.connections, row.seconds, timeout
        )
        fmt = row.response_format
        key = subprocess.run(
            [PYTHON, "-m", "imagehub", "keys", "create", "--name", "bench"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        log_path = work / f"hub-{row.connections}-{fmt}-{row.store}.log"
        log = log_path.open("w")
        hub = subprocess.Popen(
            [PYTHON, "-m", "imagehub", "serve", "--port", str(hub_port), "--workers", str(row.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        wait_http(f"http://127.0.0.1:{hub_port}/healthz", hub)
        url = f"http://127.0.0.1:{hub_port}/v1/images/generations"
        wrk_load(wrk, url, key, 8, 2, timeout, fmt)  # first-request imports, caches
        idle = rss_mb(hub.pid)
        sampler = PeakSampler(hub.pid)
        sampler.start()
        # Warm-up at the row's concurrency for one upstream delay: the upstream pool then holds
        # its connections, as a hub in production does (opening thousands of connections in the
        # first second is a cost of the ramp, not of each request). Then let it drain.
        wrk_load(wrk, url, key, row.connections, max(2, round(row.delay) + 2), timeout, fmt)
        time.sleep(row.delay + row.jitter + 1)
        cpu_before = cpu_seconds(hub.pid)
        name = f"{row.connections}-{row.answer_kb}-{fmt}-{row.store}"
        spy = profiled(hub.pid, row.seconds, profile / f"{name}.txt") if profile else None
        loaded = wrk_load(wrk, url, key, row.connections, row.seconds, timeout, fmt)
        if spy is not None and profile is not None:
            spy.wait(60)
            if (profile / f"{name}.txt").exists():
                print(f"\nwhere the hub's time went ({name}):\n" + top_frames(profile / f"{name}.txt"))
        cpu = cpu_seconds(hub.pid) - cpu_before
        peak = sampler.stop()
        start_lines = [line for line in log_path.read_text().splitlines()
                       if line.startswith("imagehub:")]
        print("\n".join(start_lines), file=sys.stderr)
    finally:
        for process in (hub, upstream):
            if process is not None:
                process.terminate()
        for process in (hub, upstream):
            if process is not None:
                process.wait(30)
        if isinstance(s3, subprocess.Popen):
            s3.terminate()
            s3.wait(30)
        elif s3 is not None:
            s3.stop()
    # The hub's CPU covers requests wrk finished and those it cut off at the end; count both
    # only as the finished ones, a small overestimate at high concurrency.
    per_request = cpu / max(1, loaded.requests) * 1e6
    return Measured(row, direct, loaded, per_request, peak, idle)


def print_table(results: list[Measured]) -> None:
    print(
        f"\n{'in flight':>9}{'delay':>9}{'answer':>8}{'format':>9}{'store':>6}{'workers':>8}{'direct r/s':>11}{'hub r/s':>9}{'share':>7}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'CPU µs/req':>11}{'peak RSS MB':>12}{'KB/in flight':>13}"
    )
    for m in results:
        r = m.row
        print(
            f"{r.connections:>9,}{_delay(r):>9}{_kb(r.answer_kb):>8}{r.response_format:>9}{r.store:>6}{r.workers:>8}{m.direct.rps:>11.0f}{m.hub.rps:>9.0f}"
            f"{m.hub.rps / m.direct.rps:>7.0%}{m.hub.p50_ms:>9.0f}{m.hub.p99_ms:>9.0f}"
            f"{m.hub.errors + m.direct.errors:>8}{m.cpu_us_per_request:>11.0f}{m.peak_rss_mb:>12.0f}"
            f"{m.rss_kb_per_request:>13.1f}"
        )


def _delay(row: Row) -> str:
    return f"{row.delay:g}±{row.jitter:g}s" if row.jitter else f"{row.delay:g}s"


def _kb(answer_kb: int) -> str:
    return f"{answer_kb / 1000:g} MB" if answer_kb >= 1000 else f"{answer_kb} KB"


def _row(spec: str) -> Row:
    """CONNECTIONS:DELAY_S:SECONDS:WORKERS[:JITTER_S[:ANSWER_KB[:FORMAT[:STORE]]]]"""
    connections, delay, seconds, workers, *rest = spec.split(":")
    jitter = float(rest[0]) if rest else 0.0
    answer_kb = int(rest[1]) if len(rest) > 1 else 64
    fmt = rest[2] if len(rest) > 2 else "b64_json"
    store = rest[3] if len(rest) > 3 else "local"
    return Row(int(connections), float(delay), int(seconds), int(workers), jitter, answer_kb, fmt, store)


DEFAULT_ROWS = (
    "16:0:10:1",
    "250:2:12:1",
    "1000:2:12:1",
    # Real answers: ~2.5 MB of base64 each, both formats, the local store and S3.
    "300:2:12:1:0:2500:b64_json",
    "300:2:12:1:0:2500:url",
    "300:2:12:1:0:2500:url:fake",
    "1000:2:12:1:0:2500:b64_json",
    "1000:2:12:1:0:2500:url",
    "1000:2:12:1:0:2500:url:fake",
    "10000:20:60:2",
    "10000:20:60:2:5",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rows",
        default=",".join(DEFAULT_ROWS),
        help="comma-separated CONNECTIONS:DELAY_S:SECONDS:WORKERS[:JITTER_S[:ANSWER_KB[:FORMAT[:STORE]]]] rows",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--profile", type=Path, help="profile each measured run with py-spy into this folder")
    args = parser.parse_args()
    rows = [_row(spec) for spec in args.rows.split(",")]
    wrk = ensure_wrk()
    scratch = ROOT / "bench" / ".work"
    scratch.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="capacity-", dir=scratch))
    results = []
    try:
        for row in rows:
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
            results.append(measure(wrk, row, work, args.profile))
            print_table(results[-1:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nAll rows (share = hub req/s / direct req/s in the same row; errors = both runs):")
    print_table(results)
    if args.json:
        args.json.write_text(
            json.dumps(
                [{**asdict(m), "rss_kb_per_request": m.rss_kb_per_request} for m in results], indent=2, default=str
            )
        )


if __name__ == "__main__":
    main()
