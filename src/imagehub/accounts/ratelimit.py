"""Per-key rate limits: requests per minute (token bucket) and requests in flight.

Every API request calls `RateLimiter.acquire` and releases the returned `Permit` when it is done.
`MemoryRateLimiter` keeps the counters in this process; `RedisRateLimiter` keeps them in Redis so
several hub processes share one limit per key. Keys without limits skip all of it: acquiring for
them costs one coroutine call, because this sits on the hot path of every request.

The rpm limit is a token bucket of capacity `rpm` refilled at `rpm / 60` tokens per second, so a
key may burst up to `rpm` requests and sustain `rpm` per minute. A request denied for concurrency
never takes a token.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from imagehub.errors import HubError

log = logging.getLogger("imagehub.ratelimit")

KEY_PREFIX = "imagehub:rl:"


@dataclass(frozen=True, slots=True)
class RateLimitState:
    limit: int | None  # requests per minute, None = unlimited
    remaining: int | None  # whole requests left right now
    reset_seconds: float  # time until the bucket is full again (OpenAI's x-ratelimit-reset-requests)


UNLIMITED = RateLimitState(limit=None, remaining=None, reset_seconds=0.0)


class RateLimited(HubError):
    """429 in OpenAI's shape: `type` names the exhausted limit, `code` says which check failed."""

    status = 429
    type = "requests"

    def __init__(self, message: str, *, code: str, state: RateLimitState, retry_after: float) -> None:
        self.state = state
        self.retry_after = max(1, math.ceil(retry_after))
        headers = {"Retry-After": str(self.retry_after), **rate_limit_headers(state)}
        super().__init__(message, code=code, headers=headers)


class Permit:
    """Proof that a request was admitted; `release` frees its concurrency slot (safe to call twice)."""

    __slots__ = ("state",)

    def __init__(self, state: RateLimitState) -> None:
        self.state = state

    async def release(self) -> None:
        """Nothing to free: this permit holds no concurrency slot."""


_UNLIMITED_PERMIT = Permit(UNLIMITED)


class RateLimiter(Protocol):
    async def acquire(self, key_id: str, *, rpm: int | None, concurrency: int | None) -> Permit: ...

    async def close(self) -> None: ...


def create_rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis when a URL is configured (limits shared by every hub process), else in-process."""
    if redis_url:
        return RedisRateLimiter(redis_url)
    return MemoryRateLimiter()


def rate_limit_headers(state: RateLimitState) -> dict[str, str]:
    """OpenAI's `x-ratelimit-*-requests` headers; none when the key has no rpm limit."""
    if state.limit is None:
        return {}
    return {
        "x-ratelimit-limit-requests": str(state.limit),
        "x-ratelimit-remaining-requests": str(
            state.remaining if state.remaining is not None else state.limit
        ),
        "x-ratelimit-reset-requests": format_duration(state.reset_seconds),
    }


def format_duration(seconds: float) -> str:
    """Go-style durations as OpenAI sends them: `120ms`, `1s`, `2.5s`, `6m0s`, `1h2m3s`."""
    ms = max(0, round(seconds * 1000))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs


def _check_limits(rpm: int | None, concurrency: int | None) -> None:
    if rpm is not None and rpm < 1:
        raise ValueError(f"rpm must be at least 1 or None, got {rpm}")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be at least 1 or None, got {concurrency}")


def _state(rpm: int | None, tokens: float) -> RateLimitState:
    if rpm is None:
        return UNLIMITED
    return RateLimitState(limit=rpm, remaining=int(tokens), reset_seconds=(rpm - tokens) * 60.0 / rpm)


def _rpm_denied(rpm: int, tokens: float) -> RateLimited:
    wait = (1.0 - tokens) * 60.0 / rpm
    return RateLimited(
        f"Rate limit reached for requests per minute (RPM): limit {rpm}. "
        f"Please try again in {format_duration(wait)}.",
        code="rate_limit_exceeded",
        state=_state(rpm, tokens),
        retry_after=wait,
    )


def _concurrency_denied(concurrency: int, rpm: int | None, tokens: float) -> RateLimited:
    return RateLimited(
        f"Concurrency limit reached: at most {concurrency} requests in flight for this key. "
        "Please retry when one of them finishes.",
        code="concurrency_limit_exceeded",
        state=_state(rpm, tokens),
        retry_after=1.0,
    )


# ---------------------------------------------------------------------------------------------
# In process


class _Bucket:
    __slots__ = ("inflight", "rpm", "stamp", "tokens")

    def __init__(self, rpm: int | None, now: float) -> None:
        self.rpm = rpm
        self.tokens = float(rpm or 0)
        self.stamp = now
        self.inflight = 0

    def refill(self, rpm: int | None, now: float) -> None:
        """Bring tokens up to `now`; a changed rpm takes effect at once (capped to the new size)."""
        if rpm is not None:
            elapsed = now - self.stamp
            start = self.tokens if self.rpm is not None else float(rpm)
            self.tokens = min(float(rpm), start + elapsed * rpm / 60.0)
        self.rpm = rpm
        self.stamp = now

    def idle(self, now: float) -> bool:
        """Nothing in flight and the bucket would be full: forgetting it changes nothing."""
        if self.inflight:
            return False
        return self.rpm is None or self.tokens + (now - self.stamp) * self.rpm / 60.0 >= self.rpm


class _MemoryPermit(Permit):
    __slots__ = ("_bucket", "_key", "_limiter")

    def __init__(self, state: RateLimitState, limiter: MemoryRateLimiter, key: str, bucket: _Bucket) -> None:
        super().__init__(state)
        self._limiter: MemoryRateLimiter | None = limiter
        self._key = key
        self._bucket = bucket

    async def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release(self._key, self._bucket)


class MemoryRateLimiter:
    """Counters in a dict, for a single hub process.

    No lock: acquire and release never await between reading and writing a bucket, so on one
    event loop they are atomic. Buckets that are full with nothing in flight are dropped (on
    release, and by a sweep at most every `sweep_seconds`), so the dict holds only keys used in
    about the last minute.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sweep_seconds: float = 60.0) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._sweep_seconds = sweep_seconds
        self._next_sweep = clock() + sweep_seconds

    def __len__(self) -> int:
        """Keys currently tracked (for tests and metrics)."""
        return len(self._buckets)

    async def acquire(self, key_id: str, *, rpm: int | None, concurrency: int | None) -> Permit:
        if rpm is None and concurrency is None:
            return _UNLIMITED_PERMIT
        _check_limits(rpm, concurrency)
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(rpm, now)
        else:
            bucket.refill(rpm, now)
        if concurrency is not None and bucket.inflight >= concurrency:
            raise _concurrency_denied(concurrency, rpm, bucket.tokens)
        if rpm is not None:
            if bucket.tokens < 1.0:
                raise _rpm_denied(rpm, bucket.tokens)
            bucket.tokens -= 1.0
        state = _state(rpm, bucket.tokens)
        if concurrency is None:
            return Permit(state)
        bucket.inflight += 1
        return _MemoryPermit(state, self, key_id, bucket)

    def _release(self, key_id: str, bucket: _Bucket) -> None:
        bucket.inflight -= 1
        if bucket.idle(self._clock()) and self._buckets.get(key_id) is bucket:
            del self._buckets[key_id]

    def _sweep(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.idle(now)]:
            del self._buckets[key]
        self._next_sweep = now + self._sweep_seconds

    async def close(self) -> None:
        self._buckets.clear()


# ---------------------------------------------------------------------------------------------
# Redis

# KEYS[1]: bucket hash {t: tokens, ts: ms}, KEYS[2]: in-flight zset {permit id: lease expiry ms}.
# ARGV: rpm (0 = none), concurrency (0 = none), permit id, lease ms.
# Returns {status, tokens}: status 1 admitted, 0 concurrency denied, -1 rpm denied. Tokens go back
# as a string because Redis truncates Lua numbers to integers.
# Server TIME (not the caller's clock) so every host agrees on when tokens refill.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rpm = tonumber(ARGV[1])
local conc = tonumber(ARGV[2])
local lease = tonumber(ARGV[4])
local inflight = 0
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  inflight = redis.call('ZCARD', KEYS[2])
end
local tokens = 0
local rate = 0
if rpm > 0 then
  rate = rpm / 60000
  local b = redis.call('HMGET', KEYS[1], 't', 'ts')
  local saved, ts = tonumber(b[1]), tonumber(b[2])
  if saved == nil or ts == nil then
    tokens = rpm
  else
    tokens = math.min(rpm, saved + math.max(0, now - ts) * rate)
  end
end
if conc > 0 and inflight >= conc then
  return {0, tostring(tokens)}
end
if rpm > 0 then
  if tokens < 1 then
    return {-1, tostring(tokens)}
  end
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((rpm - tokens) / rate) + 1000)
end
if conc > 0 then
  redis.call('ZADD', KEYS[2], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[2], lease + 1000)
end
return {1, tostring(tokens)}
"""


class _RedisPermit(Permit):
    __slots__ = ("_limiter", "_member", "_slots")

    def __init__(self, state: RateLimitState, limiter: RedisRateLimiter, slots: str, member: str) -> None:
        super().__init__(state)
        self._limiter: RedisRateLimiter | None = limiter
        self._slots = slots
        self._member = member

    async def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            await limiter._release(self._slots, self._member)


class RedisRateLimiter:
    """Counters in Redis, shared by every hub process that points at the same server.

    One round trip per acquire: a Lua script applies the token bucket and the concurrency check
    atomically, on the server's clock. In-flight requests are members of a sorted set scored by
    their lease expiry (`lease_seconds`, default 15 min), so the slots of a process that crashed
    free themselves; a request running longer than its lease stops counting against the limit.
    Idle keys expire on their own.

    Redis unavailable → fail OPEN: the request is admitted without limits and a warning is logged
    (at most every `warn_seconds`). Rate limiting must never take the whole hub down. After a
    failure Redis is not tried again for `retry_seconds`, so an outage does not add a connect
    timeout to every request.
    """

    def __init__(
        self,
        url: str,
        *,
        lease_seconds: float = 900.0,
        socket_timeout: float = 1.0,
        retry_seconds: float = 5.0,
        warn_seconds: float = 60.0,
    ) -> None:
        # Query parameters in the URL (e.g. ?socket_timeout=) take precedence over these defaults.
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._script = self._client.register_script(_ACQUIRE_LUA)
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._retry_seconds = retry_seconds
        self._warn_seconds = warn_seconds
        self._down_until = 0.0
        self._warned_at = -math.inf

    @staticmethod
    def keys_for(key_id: str) -> tuple[str, str]:
        """The bucket and in-flight keys; the hash tag keeps both in one Redis Cluster slot."""
        return f"{KEY_PREFIX}{{{key_id}}}:tokens", f"{KEY_PREFIX}{{{key_id}}}:inflight"

    async def acquire(self, key_id: str, *, rpm: int | None, concurrency: int | None) -> Permit:
        if rpm is None and concurrency is None:
            return _UNLIMITED_PERMIT
        _check_limits(rpm, concurrency)
        if self._down_until and time.monotonic() < self._down_until:
            return _UNLIMITED_PERMIT
        bucket, slots = self.keys_for(key_id)
        member = os.urandom(12).hex()
        try:
            status, raw = await self._script(
                keys=[bucket, slots], args=[rpm or 0, concurrency or 0, member, self._lease_ms]
            )
        except (RedisError, OSError) as exc:
            self._failed("acquire", exc)
            return _UNLIMITED_PERMIT
        self._down_until = 0.0
        tokens = float(raw)
        if status == 0:
            assert concurrency is not None
            raise _concurrency_denied(concurrency, rpm, tokens)
        if status < 0:
            assert rpm is not None
            raise _rpm_denied(rpm, tokens)
        state = _state(rpm, tokens)
        if concurrency is None:
            return Permit(state)
        return _RedisPermit(state, self, slots, member)

    async def _release(self, slots: str, member: str) -> None:
        try:
            await self._client.zrem(slots, member)
        except (RedisError, OSError) as exc:
            # The lease expires on its own; the slot is only held longer than needed.
            self._failed("release", exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        self._down_until = now + self._retry_seconds
        if now - self._warned_at >= self._warn_seconds:
            self._warned_at = now
            log.warning("rate limiter: Redis %s failed (%s); admitting requests without limits", what, exc)

    async def close(self) -> None:
        await self._client.aclose()
