"""Exit 0 when a PostgreSQL server answers at the URL given (used by `make test`)."""

from __future__ import annotations

import asyncio
import sys

import asyncpg


async def answers(url: str) -> bool:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url), 3)
    except Exception:
        return False
    await conn.close()
    return True


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(answers(sys.argv[1])) else 1)
