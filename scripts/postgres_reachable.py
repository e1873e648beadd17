"""Exit 0 when the PostgreSQL server in CXPRISM_TEST_POSTGRES_URL answers, else 1."""

import asyncio
import os
import sys

from sqlalchemy.engine import make_url


async def main() -> int:
    try:
        import asyncpg
    except ImportError:
        return 1
    url = make_url(os.environ["CXPRISM_TEST_POSTGRES_URL"])
    try:
        conn = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, password=url.password,
            database=url.database, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return 1
    await conn.close()
    return 0


sys.exit(asyncio.run(main()))
