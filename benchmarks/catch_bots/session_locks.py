"""Clean: a step counter in a module-level dict keyed by session id, behind per-session locks.

Each user only ever touches ``_STEPS[session.id]``, under that session's own lock (the locks
are created under one global lock). Nothing one user does is visible to another.
"""

from __future__ import annotations

import threading

from runtime import Bot, Session

EXPECTED = "clean"
KIND = "locks keyed by session id"

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_STEPS: dict[str, int] = {}


def lock_for(session_id: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(session_id, threading.Lock())


bot = Bot("session_locks")
initial = bot.new_state("initial", initial=True)
step = bot.new_state("step")
status = bot.new_state("status")
step_intent = bot.new_intent("step", ["i walked", "count a step", "one more step", "walk"])
status_intent = bot.new_intent("status", ["how many steps", "my step count", "status"])


def step_body(session: Session) -> None:
    with lock_for(session.id):
        _STEPS[session.id] = _STEPS.get(session.id, 0) + 1
        count = _STEPS[session.id]
    session.reply(f"Step {count} counted.")


def status_body(session: Session) -> None:
    with lock_for(session.id):
        count = _STEPS.get(session.id, 0)
    session.set("last_seen_count", count)
    session.reply(f"You have walked {count} step(s).")


initial.when_intent_matched_go_to(step_intent, step)
initial.when_intent_matched_go_to(status_intent, status)
initial.set_fallback_body(lambda session: session.reply("Say 'count a step'."))
step.set_body(step_body)
step.go_to(initial)
status.set_body(status_body)
status.go_to(initial)
