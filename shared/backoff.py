"""How long a relay, a consumer or a probe waits before it tries again after a failure.

Exponential, bounded, with jitter: the first retry comes quickly (a dropped connection is often
back at once), a long outage costs one try every few seconds, and the processes of one machine
that lost the same database at the same moment do not all knock at once when it returns.
"""

from __future__ import annotations

import asyncio
import random


class Backoff:
    """Delays of ``first``, then twice the last, up to ``cap`` seconds; each drawn in [d/2, d]."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def delay(self) -> float:
        """The delay to wait now; the next one is longer."""
        current = self._next
        self._next = min(self.cap, current * 2)
        return random.uniform(current / 2, current)

    def reset(self) -> None:
        """It worked: the next failure starts again from ``first``."""
        self._next = self.first

    async def wait(self) -> float:
        delay = self.delay()
        await asyncio.sleep(delay)
        return delay
