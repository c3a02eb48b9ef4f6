"""Rate limits: the same behaviours checked against the in-process and the Redis limiter.

Plain functions driving coroutines with `asyncio.run`, a fresh key id per test, and no hub: these
run in well under a second apart from the refill and lease sleeps. The Redis cases need a server
at $IMAGEHUB_TEST_REDIS_URL (default 127.0.0.1:6379) and skip, saying so, when none answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from functools import cache

import pytest
import redis

from imagehub.accounts.ratelimit import (
    MemoryRateLimiter,
    Permit,
    RateLimited,
    RateLimiter,
    RateLimitState,
    RedisRateLimiter,
    create_rate_limiter,
    format_duration,
    rate_limit_headers,
)

REDIS_URL = os.environ.get("IMAGEHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@cache
def _redis_down() -> str | None:
    """Why the Redis cases cannot run, or None when a server answers."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
    except redis.RedisError as exc:
        return (
            f"no Redis server reachable at {REDIS_URL} ({exc}); start one with "
            "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`"
        )
    return None


def _need_redis() -> None:
    reason = _redis_down()
    if reason:
        pytest.skip(reason)


Factory = Callable[[], RateLimiter]
FACTORIES: dict[str, Factory] = {
    "memory": MemoryRateLimiter,
    "redis": lambda: RedisRateLimiter(REDIS_URL),
}


def run(kind: str, body: Callable[[RateLimiter, str], Awaitable[None]]) -> None:
    """Run `body(limiter, fresh key id)` on a new event loop, closing the limiter afterwards."""
    if kind == "redis":
        _need_redis()

    async def main() -> None:
        limiter = FACTORIES[kind]()
        try:
            await body(limiter, f"key_test_{uuid.uuid4().hex}")
        finally:
            await limiter.close()

    asyncio.run(main())


async def denied(limiter: RateLimiter, key: str, *, rpm: int | None, concurrency: int | None) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        await limiter.acquire(key, rpm=rpm, concurrency=concurrency)
    return caught.value


both = pytest.mark.parametrize("kind", list(FACTORIES))


@both
def test_burst_up_to_rpm_then_429_with_retry_after_and_headers(kind: str) -> None:
    async def body(limiter: RateLimiter, key: str) -> None:
        remaining = []
        for _ in range(3):
            permit = await limiter.acquire(key, rpm=3, concurrency=None)
            remaining.append(permit.state.remaining)
            assert permit.state.limit == 3
            await permit.release()
        assert remaining == [2, 1, 0]
        assert 19.0 < permit.state.reset_seconds <= 60.0

        err = await denied(limiter, key, rpm=3, concurrency=None)
        assert err.status == 429
        assert err.body() == {
            "error": {
                "message": err.message,
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        assert "limit 3" in err.message
        # One token comes back every 20 s; the bucket was just emptied.
        assert err.headers["Retry-After"] == "20"
        assert err.headers["x-ratelimit-limit-requests"] == "3"
        assert err.headers["x-ratelimit-remaining-requests"] == "0"
        assert re.fullmatch(r"(59\.\d+s|1m0s)", err.headers["x-ratelimit-reset-requests"])

    run(kind, body)


@both
def test_tokens_refill_over_time(kind: str) -> None:
    async def body(limiter: RateLimiter, key: str) -> None:
        for _ in range(120):
            await limiter.acquire(key, rpm=120, concurrency=None)
        err = await denied(limiter, key, rpm=120, concurrency=None)
        assert err.headers["Retry-After"] == "1"  # half a second at 2 tokens/s, rounded up
        await asyncio.sleep(0.6)  # 1.2 tokens back
        permit = await limiter.acquire(key, rpm=120, concurrency=None)
        assert permit.state.remaining == 0
        await denied(limiter, key, rpm=120, concurrency=None)

    run(kind, body)


@both
def test_concurrency_limit_and_release(kind: str) -> None:
    async def body(limiter: RateLimiter, key: str) -> None:
        first = await limiter.acquire(key, rpm=None, concurrency=2)
        second = await limiter.acquire(key, rpm=None, concurrency=2)
        err = await denied(limiter, key, rpm=None, concurrency=2)
        assert err.code == "concurrency_limit_exceeded"
        assert err.type == "requests"
        assert err.headers == {"Retry-After": "1"}  # no rpm limit, so no x-ratelimit headers
        await first.release()
        await first.release()  # a second release frees nothing more
        third = await limiter.acquire(key, rpm=None, concurrency=2)
        await denied(limiter, key, rpm=None, concurrency=2)
        for permit in (second, third):
            await permit.release()
        for permit in [await limiter.acquire(key, rpm=None, concurrency=2) for _ in range(2)]:
            await permit.release()

    run(kind, body)


@both
def test_denied_for_concurrency_takes_no_token(kind: str) -> None:
    async def body(limiter: RateLimiter, key: str) -> None:
        held = await limiter.acquire(key, rpm=2, concurrency=1)
        assert held.state.remaining == 1
        for _ in range(5):
            err = await denied(limiter, key, rpm=2, concurrency=1)
            assert err.code == "concurrency_limit_exceeded"
            assert err.headers["x-ratelimit-remaining-requests"] == "1"
        await held.release()
        second = await limiter.acquire(key, rpm=2, concurrency=1)
        assert second.state.remaining == 0
        await second.release()
        assert (await denied(limiter, key, rpm=2, concurrency=1)).code == "rate_limit_exceeded"

    run(kind, body)


@both
def test_unlimited_is_a_no_op(kind: str) -> None:
    async def body(limiter: RateLimiter, key: str) -> None:
        permits = [await limiter.acquire(key, rpm=None, concurrency=None) for _ in range(1000)]
        assert all(p.state == RateLimitState(None, None, 0.0) for p in permits)
        assert rate_limit_headers(permits[0].state) == {}
        for permit in permits:
            await permit.release()
        if isinstance(limiter, MemoryRateLimiter):
            assert len(limiter) == 0
        if isinstance(limiter, RedisRateLimiter):
            client = redis.asyncio.Redis.from_url(REDIS_URL)
            assert await client.exists(*limiter.keys_for(key)) == 0
            await client.aclose()

    run(kind, body)


@both
def test_limits_are_per_key(kind: str) -> None:
    async def body(limiter: RateLimiter, key: str) -> None:
        await limiter.acquire(key, rpm=1, concurrency=None)
        await denied(limiter, key, rpm=1, concurrency=None)
        other = await limiter.acquire(key + "_other", rpm=1, concurrency=None)
        assert other.state.remaining == 0

    run(kind, body)


def test_redis_processes_share_one_limit() -> None:
    _need_redis()

    async def main() -> None:
        key = f"key_test_{uuid.uuid4().hex}"
        a, b = RedisRateLimiter(REDIS_URL), RedisRateLimiter(REDIS_URL)
        try:
            await a.acquire(key, rpm=4, concurrency=None)
            await b.acquire(key, rpm=4, concurrency=None)
            await a.acquire(key, rpm=4, concurrency=None)
            assert (await b.acquire(key, rpm=4, concurrency=None)).state.remaining == 0
            await denied(a, key, rpm=4, concurrency=None)

            slot = await a.acquire(key + "c", rpm=None, concurrency=1)
            await denied(b, key + "c", rpm=None, concurrency=1)
            await slot.release()
            await (await b.acquire(key + "c", rpm=None, concurrency=1)).release()
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_redis_concurrent_acquires_admit_exactly_the_limit() -> None:
    _need_redis()

    async def main() -> None:
        key = f"key_test_{uuid.uuid4().hex}"
        limiters = [RedisRateLimiter(REDIS_URL) for _ in range(4)]

        async def attempt(limiter: RedisRateLimiter) -> Permit | None:
            try:
                return await limiter.acquire(key, rpm=10, concurrency=3)
            except RateLimited:
                return None

        try:
            results = await asyncio.gather(*(attempt(limiters[i % 4]) for i in range(20)))
            assert sum(r is not None for r in results) == 3
        finally:
            for limiter in limiters:
                await limiter.close()

    asyncio.run(main())


def test_redis_expired_lease_frees_the_slot() -> None:
    """A process that dies holding a permit blocks its slot only until the lease runs out."""
    _need_redis()

    async def main() -> None:
        key = f"key_test_{uuid.uuid4().hex}"
        limiter = RedisRateLimiter(REDIS_URL, lease_seconds=0.2)
        try:
            await limiter.acquire(key, rpm=None, concurrency=1)  # never released: the "crash"
            await denied(limiter, key, rpm=None, concurrency=1)
            await asyncio.sleep(0.3)
            await (await limiter.acquire(key, rpm=None, concurrency=1)).release()
        finally:
            await limiter.close()

    asyncio.run(main())


def test_redis_keys_are_prefixed_and_expire() -> None:
    _need_redis()

    async def main() -> None:
        key = f"key_test_{uuid.uuid4().hex}"
        limiter = RedisRateLimiter(REDIS_URL)
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            permit = await limiter.acquire(key, rpm=60, concurrency=5)
            tokens, inflight = limiter.keys_for(key)
            assert tokens.startswith("imagehub:rl:") and inflight.startswith("imagehub:rl:")
            assert 0 < await client.pttl(tokens) <= 2000  # one token back in 1 s, plus slack
            assert 0 < await client.pttl(inflight) <= 901_000
            await permit.release()
            assert await client.zcard(inflight) == 0
        finally:
            await client.aclose()
            await limiter.close()

    asyncio.run(main())


def test_redis_unreachable_fails_open_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        limiter = RedisRateLimiter("redis://127.0.0.1:1/0", socket_timeout=0.5)
        try:
            for _ in range(3):
                permit = await limiter.acquire("key_x", rpm=1, concurrency=1)
                assert permit.state.limit is None
                await permit.release()
        finally:
            await limiter.close()

    with caplog.at_level(logging.WARNING, logger="imagehub.ratelimit"):
        asyncio.run(main())
    warnings = [r for r in caplog.records if "without limits" in r.getMessage()]
    assert len(warnings) == 1  # throttled, and later calls skip Redis for a while


def test_memory_limiter_forgets_idle_keys() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0], sweep_seconds=10)

    async def main() -> None:
        for i in range(500):
            await limiter.acquire(f"k{i}", rpm=60, concurrency=None)
        slot = await limiter.acquire("busy", rpm=None, concurrency=1)
        assert len(limiter) == 501
        now[0] += 61  # every bucket refilled
        await limiter.acquire("fresh", rpm=60, concurrency=None)
        assert len(limiter) == 2  # "busy" still holds a slot, "fresh" was just used
        await slot.release()
        assert len(limiter) == 1  # dropped on release: nothing left to remember

    asyncio.run(main())


def test_memory_limiter_applies_a_changed_rpm_at_once() -> None:
    async def main() -> None:
        limiter = MemoryRateLimiter()
        for _ in range(5):
            await limiter.acquire("k", rpm=100, concurrency=None)
        permit = await limiter.acquire("k", rpm=3, concurrency=None)  # bucket capped to the new size
        assert permit.state.remaining == 2

    asyncio.run(main())


def test_invalid_limits_are_rejected() -> None:
    with pytest.raises(ValueError):
        asyncio.run(MemoryRateLimiter().acquire("k", rpm=0, concurrency=None))


def test_factory_picks_by_url() -> None:
    assert isinstance(create_rate_limiter(None), MemoryRateLimiter)
    assert isinstance(create_rate_limiter(""), MemoryRateLimiter)
    limiter = create_rate_limiter(REDIS_URL)
    assert isinstance(limiter, RedisRateLimiter)
    asyncio.run(limiter.close())


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.12, "120ms"),
        (0.9994, "999ms"),
        (1, "1s"),
        (2.5, "2.5s"),
        (59.99, "59.99s"),
        (60, "1m0s"),
        (360, "6m0s"),
        (61.25, "1m1.25s"),
        (3723, "1h2m3s"),
    ],
)
def test_reset_is_formatted_like_openai(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_headers() -> None:
    state = RateLimitState(limit=60, remaining=59, reset_seconds=1.0)
    assert rate_limit_headers(state) == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
    }
    assert rate_limit_headers(RateLimitState(None, None, 0.0)) == {}
