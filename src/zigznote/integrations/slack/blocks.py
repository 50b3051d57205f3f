"""A meeting summary as Slack Block Kit messages, within Slack's limits (pure functions).

Limits (https://docs.slack.dev/reference/block-kit/blocks and the block pages; the same
numbers are the validators of the Python SDK's ``slack_sdk/models/blocks/blocks.py``,
``basic_components.py`` and ``block_elements.py``):

- at most 50 blocks per message;
- header block: ``plain_text`` of at most 150 characters;
- section block: text of at most 3,000 characters;
- context block: at most 10 elements;
- button: label (``plain_text``) at most 75 characters, ``url`` at most 3,000;
- about 12,000 characters of block text per message: Slack refuses longer block messages with
  ``msg_blocks_too_long`` (observed near 13,000, slackapi/bolt-js#2509), so 12,000 is our cap;
- the top-level ``text`` is the fallback for notifications and screen readers; Slack truncates
  it beyond 40,000 characters; ours stays under 4,000.

mrkdwn text escapes ``&``, ``<`` and ``>`` as ``&amp;``, ``&lt;``, ``&gt;``, and only those
(https://api.slack.com/reference/surfaces/formatting#escaping): a summary saying
``<!channel>`` stays text, never a mention. ``plain_text`` (header, button) is not parsed. The
meeting's start is a ``<!date^epoch^{date_short_pretty} {time}|fallback>`` token (same page,
"date formatting"), shown in each reader's time zone.

A long summary is split on paragraph, then sentence, then word boundaries; a single word longer
than a section is cut into pieces, never dropped. Every word and every action item appears
exactly once across the messages; the first message is posted to the channel, the others as
replies in its thread by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from zigznote.errors import InvalidInput
from zigznote.timeutil import as_naive_utc, parse_timestamp

__all__ = [
    "MAX_BLOCKS",
    "MAX_BLOCK_TEXT",
    "MAX_FALLBACK_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_SECTION_TEXT",
    "SlackMessage",
    "block_text_length",
    "escape",
    "split_text",
    "summary_messages",
]

MAX_BLOCKS = 50
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_BLOCK_TEXT = 12_000
MAX_BUTTON_URL = 3000
MAX_FALLBACK_TEXT = 4000
_PARTICIPANTS_TEXT = 1500  # one context element: the list stops with "and N more"
_TITLE_IN_TEXT = 300


class SlackMessage(TypedDict):
    """One ``chat.postMessage`` payload minus the channel: fallback ``text`` and ``blocks``."""

    text: str
    blocks: list[dict[str, Any]]


_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPE_RE = re.compile("[&<>]")


def escape(text: str) -> str:
    """``text`` for a mrkdwn field: ``&``, ``<``, ``>`` as Slack's three entities."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], text)


def _cost(text: str) -> int:
    """Length of ``escape(text)``, without building it (escaping is per character)."""
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def block_text_length(blocks: Sequence[Mapping[str, Any]]) -> int:
    """Characters of text in ``blocks``: every string under a ``"text"`` key, at any depth."""

    def walk(value: Any) -> int:
        if isinstance(value, dict):
            return sum(len(v) if k == "text" and isinstance(v, str) else walk(v) for k, v in value.items())
        if isinstance(value, list):
            return sum(walk(v) for v in value)
        return 0

    return walk(list(blocks))


# -- splitting -------------------------------------------------------------------------------

_PARAGRAPH_RE = re.compile(r"(\n[ \t]*\n\s*)")
_SENTENCE_RE = re.compile(r"((?<=[.!?…])\s+)")
_WORD_RE = re.compile(r"(\s+)")


def _separated(text: str, pattern: re.Pattern[str]) -> Iterator[tuple[str, str]]:
    """``(separator before, piece)`` pairs of ``text`` split by ``pattern`` (a captured group)."""
    parts = pattern.split(text)
    yield "", parts[0]
    for i in range(1, len(parts) - 1, 2):
        yield parts[i], parts[i + 1]


def _cut(word: str, limit: int) -> Iterator[str]:
    """``word`` in pieces of escaped length at most ``limit`` (never splitting an entity)."""
    start, cost = 0, 0
    for i, ch in enumerate(word):
        c = _cost(ch)
        if cost + c > limit:
            yield word[start:i]
            start, cost = i, 0
        cost += c
    yield word[start:]


def _atoms(text: str, limit: int) -> Iterator[tuple[str, str]]:
    """``(separator, atom)`` pairs, each atom fitting ``limit``: paragraphs when they fit, else
    sentences, else words, else pieces of a word (joined to each other with no separator)."""
    for sep, paragraph in _separated(text, _PARAGRAPH_RE):
        sep = "\n\n" if sep else ""
        if _cost(paragraph) <= limit:
            yield sep, paragraph
            continue
        for sentence_sep, sentence in _separated(paragraph, _SENTENCE_RE):
            sentence_sep = sep or ("\n" if "\n" in sentence_sep else " " if sentence_sep else "")
            sep = ""
            if _cost(sentence) <= limit:
                yield sentence_sep, sentence
                continue
            for word_sep, word in _separated(sentence, _WORD_RE):
                word_sep = sentence_sep or ("\n" if "\n" in word_sep else " " if word_sep else "")
                sentence_sep = ""
                if _cost(word) <= limit:
                    yield word_sep, word
                    continue
                for n, piece in enumerate(_cut(word, limit)):
                    yield (word_sep if n == 0 else ""), piece


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """``text`` (raw, unescaped) in chunks whose *escaped* length is at most ``limit``.

    Packs greedily: whole paragraphs (joined by a blank line) while they fit; a paragraph too
    long for one chunk goes sentence by sentence, a sentence word by word, and a word longer
    than ``limit`` is cut into pieces. Whitespace between pieces is normalised (a blank line
    between paragraphs, a newline or a space otherwise); every non-space character is kept, in
    order. Empty or blank text gives ``[]``. Raises InvalidInput for a limit under 8.
    """
    if limit < 8:  # room for the longest entity with something around it
        raise InvalidInput(f"split limit must be at least 8, not {limit}")
    chunks: list[str] = []
    current, cost = "", 0
    for sep, atom in _atoms(text.strip().replace("\r\n", "\n"), limit):
        if not atom:
            continue
        if current and cost + _cost(sep) + _cost(atom) <= limit:
            current, cost = current + sep + atom, cost + _cost(sep) + _cost(atom)
        else:
            if current:
                chunks.append(current)
            current, cost = atom, _cost(atom)
    if current:
        chunks.append(current)
    return chunks


# -- pieces of the message ---------------------------------------------------------------------


def _shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word boundary with "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return as_naive_utc(value)
    if isinstance(value, str) and value.strip():
        try:
            return parse_timestamp(value)
        except InvalidInput:
            return None
    return None


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return " ".join(part for part in (f"{hours}h" if hours else "", f"{minutes}m" if minutes else "") if part)


def _date_parts(meeting: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(mrkdwn date, plain date) of the meeting: Slack's ``<!date^…>`` token shows the time in each
    reader's zone, with UTC as the fallback text."""
    started = _when(meeting.get("started_at"))
    if started is None:
        return None, None
    plain = started.strftime("%Y-%m-%d %H:%M UTC")
    epoch = int((started - datetime(1970, 1, 1)).total_seconds())
    ended = _when(meeting.get("ended_at"))
    duration = f" · {_duration((ended - started).total_seconds())}" if ended is not None and ended > started else ""
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{plain}>{duration}", plain + duration


def _people(meeting: Mapping[str, Any]) -> list[str]:
    names = []
    for person in meeting.get("participants") or []:
        if isinstance(person, Mapping):
            name = person.get("name") or person.get("email")
            if isinstance(name, str) and name.strip():
                names.append(" ".join(name.split()))
    return names


def _participants_text(names: list[str]) -> str | None:
    if not names:
        return None
    text = "Participants: "
    for i, name in enumerate(names):
        piece = escape(name) + (", " if i < len(names) - 1 else "")
        rest = f"and {len(names) - i} more"
        if len(text) + len(piece) + len(rest) > _PARTICIPANTS_TEXT:  # text and piece are escaped already
            return text + rest
        text += piece
    return text


def _item_lines(meeting: Mapping[str, Any]) -> list[str]:
    """One mrkdwn-ready raw line per action item: text, assignee (participant name if known), due."""
    by_email = {
        p["email"].lower(): p.get("name")
        for p in meeting.get("participants") or []
        if isinstance(p, Mapping) and isinstance(p.get("email"), str)
    }
    lines = []
    for item in meeting.get("action_items") or []:
        if not isinstance(item, Mapping):
            continue
        text = item.get("text") or item.get("title")
        if not isinstance(text, str) or not text.strip():
            continue
        line = "• " + " ".join(text.split())
        assignee = item.get("assignee_email") or item.get("assignee")
        if isinstance(assignee, str) and assignee.strip():
            name = by_email.get(assignee.lower())
            line += f" — {name} ({assignee})" if isinstance(name, str) and name.strip() else f" — {assignee}"
        due = _when(item.get("due"))
        if due is not None:
            line += f" (due {due:%Y-%m-%d})"
        lines.append(line)
    return lines


def _pack_lines(lines: list[str], limit: int) -> list[str]:
    """Lines joined by newlines into chunks of escaped length at most ``limit``; a line longer
    than ``limit`` is split like any text (and so shares no chunk with another line)."""
    chunks: list[str] = []
    current, cost = "", 0
    for line in lines:
        if _cost(line) > limit:
            if current:
                chunks.append(current)
            chunks.extend(split_text(line, limit))
            current, cost = "", 0
        elif current and cost + 1 + _cost(line) <= limit:
            current, cost = f"{current}\n{line}", cost + 1 + _cost(line)
        else:
            if current:
                chunks.append(current)
            current, cost = line, _cost(line)
    if current:
        chunks.append(current)
    return chunks


def _section(text: str, block_id: str) -> dict[str, Any]:
    return {"type": "section", "block_id": block_id, "text": {"type": "mrkdwn", "text": text}}


def _header(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "header", "text": {"type": "plain_text", "text": _shorten(text, MAX_HEADER_TEXT)}}
    if block_id:
        block["block_id"] = block_id
    return block


def _context(texts: list[str], block_id: str) -> dict[str, Any]:
    return {"type": "context", "block_id": block_id, "elements": [{"type": "mrkdwn", "text": t} for t in texts]}


def _button(link: str | None) -> dict[str, Any] | None:
    if not isinstance(link, str) or not link.startswith(("https://", "http://")) or len(link) > MAX_BUTTON_URL:
        return None
    return {
        "type": "actions",
        "block_id": "links",
        "elements": [
            {
                "type": "button",
                "action_id": "open-meeting",
                "text": {"type": "plain_text", "text": "Open the meeting"},
                "url": link,
            }
        ],
    }


# -- the messages ------------------------------------------------------------------------------


def summary_messages(meeting: Mapping[str, Any], *, link: str | None = None) -> list[SlackMessage]:
    """The Slack messages for one meeting (``services.meetings.public`` shape).

    Uses ``title``, ``started_at``/``ended_at`` (ISO-8601 strings or datetimes), ``summary``,
    ``participants`` (``[{name, email}]``), ``action_items`` (``[{text, assignee_email, due}]``;
    ``title``/``assignee`` accepted too) and ``url``. ``link``: the button's target; ``None``
    uses the meeting's ``url``; no http(s) URL of at most 3,000 characters → no button.

    The first message: header (title), context (date and duration, participants), the summary
    sections, a header "Action items (N)" and their sections, and the link button. What does
    not fit (50 blocks, 12,000 characters of block text) continues in further messages, each
    opening with a context line "continued (i/n)", meant as replies in the first one's thread.
    Every message has a fallback ``text`` of at most 4,000 characters. Never raises for odd
    data: missing or malformed fields are left out.
    """
    title = meeting.get("title") if isinstance(meeting.get("title"), str) else None
    title = " ".join((title or "").split()) or "Meeting"
    date_mrkdwn, date_plain = _date_parts(meeting)
    summary = meeting.get("summary") if isinstance(meeting.get("summary"), str) else ""
    chunks = split_text(summary or "")
    items = _item_lines(meeting)

    # Units are placed whole: the "Action items" header travels with the first item section.
    units: list[list[dict[str, Any]]] = []
    if chunks:
        units += [[_section(escape(chunk), f"summary-{i}")] for i, chunk in enumerate(chunks)]
    else:
        units.append([_section("_No summary was recorded for this meeting._", "summary-0")])
    for i, chunk in enumerate(_pack_lines(items, MAX_SECTION_TEXT)):
        section = _section(escape(chunk), f"action-items-{i}")
        units.append([_header(f"Action items ({len(items)})", "action-items"), section] if i == 0 else [section])

    top = [_header(title)]
    context = [t for t in (date_mrkdwn, _participants_text(_people(meeting))) if t]
    if context:
        top.append(_context(context, "meta"))
    button = _button(link if link is not None else meeting.get("url"))
    tail = [button] if button else []

    def continued(i: int, n: int) -> dict[str, Any]:
        return _context([f"*{escape(_shorten(title, 100))}* · continued ({i}/{n})"], "continued")

    pages: list[list[dict[str, Any]]] = []
    current = [*top]
    reserved = [*tail]  # blocks the page must still take (the button, on the first page)
    for unit in units:
        candidate = current + unit
        if len(candidate) + len(reserved) > MAX_BLOCKS or block_text_length(candidate + reserved) > MAX_BLOCK_TEXT:
            pages.append(current + reserved)
            # Room for the longest "continued" line (i, n < 1000) is kept in the budget.
            current, reserved = [continued(999, 999)], []
            if unit[0]["block_id"].startswith("action-items-") and unit[0]["block_id"] != "action-items-0":
                unit = [_header("Action items (continued)", "action-items"), *unit]
            candidate = current + unit
        current = candidate
    pages.append(current + reserved)

    total = len(pages)
    messages: list[SlackMessage] = []
    for n, blocks in enumerate(pages, start=1):
        if n > 1:
            blocks[0] = continued(n, total)
        messages.append({"text": _fallback(title, date_plain, summary or "", len(items), n, total), "blocks": blocks})
    return messages


def _fallback(title: str, date_plain: str | None, summary: str, n_items: int, n: int, total: int) -> str:
    """The top-level ``text``: what notifications show and screen readers read."""
    name = _shorten(title, _TITLE_IN_TEXT)
    if n > 1:
        return escape(f"{name}: continued ({n}/{total})")
    head = f"Meeting summary: {name}" + (f" ({date_plain})" if date_plain else "")
    excerpt = _shorten(summary, 1000) if summary.strip() else ""
    items = f"{n_items} action item{'s' if n_items != 1 else ''}" if n_items else ""
    more = f"continued in {total - 1} thread repl{'ies' if total > 2 else 'y'}" if total > 1 else ""
    lines = [head, excerpt, " · ".join(p for p in (items, more) if p)]
    text = escape("\n".join(line for line in lines if line))
    # Cut (only ever in odd cases: a summary of ampersands) without leaving half an entity.
    return text if len(text) <= MAX_FALLBACK_TEXT else re.sub(r"&[a-z]*$", "", text[:MAX_FALLBACK_TEXT])
