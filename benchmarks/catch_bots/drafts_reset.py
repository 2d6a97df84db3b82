"""Notepad: "write this down" adds a line to your draft, "read my draft", "start over".

Race (between turns: another user's reset path): drafts are kept in a module-level dict keyed
by session id (correct so far), but "start over" runs ``_DRAFTS.clear()`` instead of removing
only its own entry. Another user starting over wipes your draft: "read my draft" says it is
empty. Alone only your own reset clears it.
"""

from __future__ import annotations

from runtime import Bot, Session

EXPECTED = "racy"
KIND = "between turns"

_DRAFTS: dict[str, list[str]] = {}

bot = Bot("drafts_reset")
initial = bot.new_state("initial", initial=True)
write = bot.new_state("write")
read = bot.new_state("read")
reset = bot.new_state("reset")
write_intent = bot.new_intent(
    "write", ["write this down", "add a line", "note that", "append this"]
)
read_intent = bot.new_intent("read", ["read my draft", "show the draft", "what did i write"])
reset_intent = bot.new_intent("reset", ["start over", "clear my draft", "throw it away"])


def write_body(session: Session) -> None:
    lines = _DRAFTS.setdefault(session.id, [])
    lines.append(session.message or "")
    session.reply(f"{len(lines)} line(s).")


def read_body(session: Session) -> None:
    lines = _DRAFTS.get(session.id, [])
    session.reply(f"Your draft has {len(lines)} line(s).")


def reset_body(session: Session) -> None:
    _DRAFTS.clear()  # BUG: every user's draft; meant _DRAFTS.pop(session.id, None)
    session.reply("Draft cleared.")


initial.when_intent_matched_go_to(write_intent, write)
initial.when_intent_matched_go_to(read_intent, read)
initial.when_intent_matched_go_to(reset_intent, reset)
initial.set_fallback_body(lambda session: session.reply("Say 'write this down'."))
write.set_body(write_body)
write.go_to(initial)
read.set_body(read_body)
read.go_to(initial)
reset.set_body(reset_body)
reset.go_to(initial)
