"""Request bodies kept per event, so the deliveries of one event to many endpoints (claimed
together) build its JSON once."""

from __future__ import annotations

from zigznote.delivery.queue import Claimed
from zigznote.webhooks.envelope import body_bytes

# The cache is emptied past this many bytes (bodies are at most 256 KB of data each).
BODY_CACHE_BYTES = 8 * 1024 * 1024


class BodyCache:
    """Bodies by event ID, bounded by ``max_bytes`` in total."""

    def __init__(self, max_bytes: int = BODY_CACHE_BYTES) -> None:
        self._bodies: dict[str, bytes] = {}
        self._size = 0
        self._max_bytes = max_bytes

    def get(self, claim: Claimed) -> bytes:
        """The request body of ``claim``'s event, built on first use.

        Raises ``ValueError`` for data that cannot be sent (see ``envelope.body_bytes``).
        """
        body = self._bodies.get(claim.event_id)
        if body is None:
            body = body_bytes(claim.event_id, claim.event_type, claim.event_created_at, claim.org_id, claim.event_data)
            if self._size + len(body) > self._max_bytes:
                self._bodies.clear()
                self._size = 0
            self._bodies[claim.event_id] = body
            self._size += len(body)
        return body
