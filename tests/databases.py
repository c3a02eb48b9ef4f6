"""Real database servers for tests: a fresh PostgreSQL database per use, and Redis.

PostgreSQL and Redis run on 127.0.0.1 on development and CI machines (`.ci/run` starts them if
they are down). A test that needs one skips only when the server is truly unreachable, and says
so in the skip reason.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN_URL = os.environ.get("IMAGEHUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("IMAGEHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")
START_HINT = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    if not _reachable("127.0.0.1", 5432):
        pytest.skip(f"PostgreSQL is not running on 127.0.0.1:5432; {START_HINT}")


def require_redis() -> None:
    if not _reachable("127.0.0.1", 6379):
        pytest.skip(
            "Redis is not running on 127.0.0.1:6379; start it with: "
            "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
        )


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards."""
    require_postgres()
    name = "imagehub_test_" + secrets.token_hex(6)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
