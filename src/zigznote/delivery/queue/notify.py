"""The receiving side of Postgres LISTEN/NOTIFY: wake an idle worker when work is enqueued.

The sending side is ``queue.notify(conn)``, called inside the transaction that created the
work (NOTIFY is delivered on commit). Polling stays the safety net: a lost notification
or a dropped LISTEN connection only delays work until the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

log = logging.getLogger(__name__)


async def listen(url: str) -> AsyncIterator[None]:
    """Yield once per notification on the deliveries channel, until the caller stops.

    ``url`` is a libpq URL (``postgresql://…``, password included). Connection errors
    propagate to the caller (which decides whether to retry); the connection is closed
    when the iteration ends or is cancelled.
    """
    import psycopg

    from zigznote.delivery.queue import NOTIFY_CHANNEL

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        async for _ in conn.notifies():
            yield None


# After a failed LISTEN connection, how long to wait before the next try.
RECONNECT_SECONDS = 2.0


async def wake_on_notify(url: str, on_notify: Callable[[], None]) -> None:
    """Call ``on_notify()`` for every notification, reconnecting quietly after errors,
    until cancelled (polling covers the gaps, so a lost connection only costs latency)."""
    while True:
        try:
            async for _ in listen(url):
                on_notify()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("LISTEN connection failed: %s", exc)
        await asyncio.sleep(RECONNECT_SECONDS)
