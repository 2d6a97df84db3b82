"""The bots under test: the greetings example, fresh for every system, optionally blocking."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from runtime import Bot, Session
from runtime._loader import load_bot

__all__ = ["BLOCK_SECONDS", "SLOW_MARKER", "greetings_bot"]

GREETINGS = str(Path(__file__).resolve().parent.parent / "runtime" / "examples" / "greetings.py")

#: A message starting with this marker makes the body it reaches block (simulated I/O).
SLOW_MARKER = "slow "
BLOCK_SECONDS = 0.02


def greetings_bot(*, blocking: bool = False) -> Bot:
    """Return a fresh, unfrozen copy of the greetings bot.

    Args:
        blocking: wrap every state's fallback body, and the body of every state but the
            initial one (whose body is empty and runs again after each good/bad answer), so
            that when the message being handled starts with ``SLOW_MARKER`` they first block
            ``BLOCK_SECONDS`` the way an HTTP or LLM call would (``threading.Event().wait``
            releases the GIL). A message runs either one transition's body or the fallback,
            so a slow message blocks exactly once per turn. The replies are unchanged (the
            classifier ignores the extra word), so the oracle computed with the plain bot
            holds for this one too; the transcript check of W4 would catch it otherwise.
    """
    bot = load_bot(GREETINGS, fresh=True)
    if blocking:
        for state in bot.states:
            state.set_fallback_body(_blocking(state.fallback_body))
            if state is not bot.initial_state:
                state.set_body(_blocking(state.body))
    return bot


def _blocking(body: Callable[[Session], None]) -> Callable[[Session], None]:
    def blocking_body(session: Session) -> None:
        message = session.message
        if message is not None and message.startswith(SLOW_MARKER):
            threading.Event().wait(BLOCK_SECONDS)
        body(session)

    blocking_body.__qualname__ = f"blocking({getattr(body, '__qualname__', body)!s})"
    return blocking_body
