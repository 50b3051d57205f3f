"""Tiny terminal charts: horizontal bars and sparklines from unicode block characters.

Plain strings (no Rich markup), so they render the same with NO_COLOR, in a pipe and in
tests.
"""

from __future__ import annotations

from collections.abc import Sequence

_EIGHTHS = " ▏▎▍▌▋▊▉"
_FULL = "█"
SPARKS = "▁▂▃▄▅▆▇█"


def bar(value: float, maximum: float, width: int = 30) -> str:
    """A bar ``value/maximum`` of ``width`` cells, in eighths of a cell; any non-zero value
    shows at least a sliver so small buckets do not look empty."""
    if maximum <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / maximum * width * 8))
    full, rest = divmod(eighths, 8)
    return _FULL * full + (_EIGHTHS[rest] if rest else "")


def sparkline(values: Sequence[float | None], top: float | None = None) -> str:
    """One character per value scaled to ``top`` (default: the largest value); ``None`` (no
    data) is a blank, so "nothing happened" never looks like "everything failed"."""
    if top is None:
        top = max((v for v in values if v is not None), default=0.0)
    chars = []
    for value in values:
        if value is None:
            chars.append(" ")
        elif top <= 0:
            chars.append(SPARKS[0])
        else:
            chars.append(SPARKS[min(len(SPARKS) - 1, int(value / top * (len(SPARKS) - 1) + 0.5))])
    return "".join(chars)
