"""Cutting a long reply into the pieces a provider accepts in one message."""

from __future__ import annotations


def split_text(text: str, limit: int) -> list[str]:
    """Cut `text` into pieces of at most `limit` characters, preferring line then word breaks.

    The pieces joined give back `text` exactly.
    """
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n") + 1
        if cut <= limit // 2:
            cut = max(window.rfind(" "), window.rfind("\t")) + 1
        if cut <= limit // 2:
            cut = limit  # one long word: cutting it is better than refusing to send
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest or not parts:
        parts.append(rest)
    return parts
