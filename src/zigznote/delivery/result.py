"""The outcome of one HTTP attempt, independent of the HTTP library that made it."""

from __future__ import annotations

from dataclasses import dataclass

RESPONSE_EXCERPT_BYTES = 1024


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None = None
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
