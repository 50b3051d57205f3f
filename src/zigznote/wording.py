"""Small English helpers for messages people read: ``1 delivery`` / ``2 deliveries``, ``an event``."""

from __future__ import annotations

# Nouns whose plural is not the singular plus "s".
_IRREGULAR = {"delivery": "deliveries", "entry": "entries"}


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` and the noun in the right number: ``plural(1, "delivery")`` -> ``1 delivery``,
    ``plural(3, "delivery")`` -> ``3 deliveries``, ``plural(2, "webhook")`` -> ``2 webhooks``."""
    if count == 1:
        return f"{count} {singular}"
    return f"{count} {plural_form or _IRREGULAR.get(singular) or singular + 's'}"


def article(word: str) -> str:
    """``a`` or ``an`` for ``word``, by its first letter (good enough for our own nouns:
    ``an event``, ``an organization``, ``a webhook``, ``a meeting``)."""
    return "an" if word[:1].lower() in "aeiou" else "a"
