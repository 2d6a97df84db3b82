"""A session's chat history in the web protocol's form."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime.platforms.web._render import reply_dict

__all__ = ["history_entries"]

_SENDERS = ("bot", "user")


def history_entries(history: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """``[{"sender": "bot" | "user", "reply": reply}]``, oldest first."""
    return [
        {"sender": _SENDERS[sender] if sender in (0, 1) else "bot", "reply": reply_dict(text)}
        for text, sender in history
    ]
