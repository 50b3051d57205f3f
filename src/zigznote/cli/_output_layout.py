"""How a table fits the terminal: which columns stay whole, which fold, which are left out.

Part of the output layer (see ``_output.py``, which draws the table with these widths). Pure
text arithmetic on cell strings, so deciding costs no Rich import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Columns whose values are identifiers or timestamps: never folded or wrapped (a split ID cannot
# be copied, a split time misreads). Other columns fold, between words while there is room. When
# the table is too wide even so, the layout turns compact (no borders, times to the second) and
# columns go from the right, the first one (the row's ID) never.
_WHOLE_KEYS = frozenset({"id", "delivery", "webhook", "revision"})
# Columns of names and identifiers from elsewhere (a job's kind and target, an event type, a
# provider, an organization's slug, any ``…_id``): whole while every value is one token of at
# most 40 characters; a longer value (an ``external_id`` from outside can be 200, an event type
# 44) folds like text, so the columns beside it still fit.
_TOKEN_KEYS = frozenset(
    {"kind", "target", "type", "event_type", "provider", "slug", "status", "email", "org", "every", "currency"}
    | {"amount", "refunded", "refundable", "total", "amount_due", "amount_paid"}  # money: "₦5,120.00"
)
_TOKEN_RE = re.compile(r"^\S{1,40}$")
# Below this many characters a folding column is hardly readable: it is left out instead.
_MIN_FOLDED = 8
# When there is room, a folding column is as wide as its longest word up to this many
# characters, so words (`chat:write,`, `(T0123ABCD)`) are not split; longer ones (URLs) may be.
_MAX_WHOLE_WORD = 20
_FRACTION_RE = re.compile(r"(T\d{2}:\d{2}:\d{2})\.\d+Z$")


_OUR_ID_RE = re.compile(r"^[a-z]{2,5}_[0-9A-HJKMNP-TV-Z]{26}$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def is_time(key: str, values: Sequence[str]) -> bool:
    """Whether a column holds timestamps: by its key (``…_at``) or by the shape of its values
    (``failing_since``, ``streak_since``: every shown value an ISO-8601 UTC time or ``-``), so
    a new timestamp column qualifies without being listed anywhere."""
    if key.endswith("_at"):
        return True
    shown = [v for v in values if v != "-"]
    return bool(shown) and all(_TIME_RE.match(v) for v in shown)


def is_whole(key: str, values: Sequence[str]) -> bool:
    """Whether a column keeps its values unbroken: times, zigznote's own IDs, and identifier
    columns (``_TOKEN_KEYS``, ``…_id``) whose every value is one short token."""
    if is_time(key, values) or key == "revision":
        return True
    if key in _WHOLE_KEYS or key in _TOKEN_KEYS or key.endswith("_id"):
        return all(v == "-" or _OUR_ID_RE.match(v) or _TOKEN_RE.match(v) for v in values)
    return False


def to_second(cell: str) -> str:
    """``2026-11-30T05:29:22.979982Z`` -> ``2026-11-30T05:29:22Z`` (same instant to the second)."""
    return _FRACTION_RE.sub(r"\1Z", cell)


@dataclass(frozen=True)
class Layout:
    """Widths, per column of a table, in terminal cells: ``natural`` (its widest content or label),
    ``least`` (below it the column is left out: all of a whole column, ``_MIN_FOLDED`` of text)
    and ``words`` (what keeps a text column's words whole, given when there is room)."""

    natural: list[int]
    least: list[int]
    words: list[int]
    whole: list[bool]

    @classmethod
    def of(cls, labels: Sequence[str], whole: Sequence[bool], cells: Sequence[Sequence[str]]) -> Layout:
        """The layout of ``cells`` (rows of cell text) under ``labels``, measured in terminal
        cells (a CJK character or an emoji takes two)."""
        from rich.cells import cell_len  # only drawing a table measures: Rich is loaded then

        natural, least, words = [], [], []
        for i, label in enumerate(labels):
            column = [label, *(row[i] for row in cells)]
            widest = max(cell_len(text) for text in column)
            longest = max((cell_len(word) for text in column for word in text.split()), default=0)
            natural.append(widest)
            least.append(widest if whole[i] else min(widest, _MIN_FOLDED))
            words.append(widest if whole[i] else min(widest, max(_MIN_FOLDED, min(longest, _MAX_WHOLE_WORD))))
        return cls(natural, least, words, list(whole))

    @staticmethod
    def frame(count: int, *, compact: bool) -> int:
        """Characters of ``count`` columns that are not content. Boxed: one space of padding each
        side of a cell and a border around and between cells (3 per column + 1). Compact (no
        edges, padding collapsed): a space and a blank divider between columns."""
        return 2 * (count - 1) if compact else 3 * count + 1

    def fit(self, width: int, *, compact: bool) -> list[int]:
        """The indexes of the columns to show so that each gets at least ``least`` in ``width``
        characters: all of them if they fit, else the leftmost that do (the first always)."""
        shown = list(range(len(self.natural)))
        while len(shown) > 1 and sum(self.least[i] for i in shown) + self.frame(len(shown), compact=compact) > width:
            shown.pop()  # the rightmost: the first column is the row's ID
        return shown

    def widths(self, shown: Sequence[int], width: int, *, compact: bool) -> list[int]:
        """Widths of the shown columns within ``width``: whole ones their content; text ones their
        content when it fits, else all capped at one level (the widest fold first), never below
        ``words`` when those fit, else never below ``least`` (then long words fold too).
        Deciding here, not in Rich (which narrows the widest columns regardless of words), keeps
        IDs and words whole."""
        room = width - self.frame(len(shown), compact=compact)

        def capped(level: int, floor: list[int]) -> list[int]:
            return [self.natural[i] if self.whole[i] else max(floor[i], min(self.natural[i], level)) for i in shown]

        floor = self.words if sum(capped(0, self.words)) <= room else self.least
        low, high = 0, max(self.natural[i] for i in shown)
        while low < high:  # the highest level that fits (level 0 fits: fit() checked ``least``)
            mid = (low + high + 1) // 2
            low, high = (mid, high) if sum(capped(mid, floor)) <= room else (low, mid - 1)
        return capped(low, floor)
