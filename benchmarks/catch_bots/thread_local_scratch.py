"""Clean: per-turn scratch space in a ``threading.local``, always written before it is read.

A turn runs on one thread from start to end, and the body sets ``_SCRATCH.words`` before using
it, so neither a turn on another thread nor an earlier turn on the same thread can show
through.
"""

from __future__ import annotations

import threading
import time

from runtime import Bot, Session

EXPECTED = "clean"
KIND = "thread-local scratch"

_SCRATCH = threading.local()

bot = Bot("thread_local_scratch")
initial = bot.new_state("initial", initial=True)
count = bot.new_state("count")
count_intent = bot.new_intent(
    "count", ["count my words", "how long is this sentence", "word count please"]
)


def count_body(session: Session) -> None:
    _SCRATCH.words = (session.message or "").split()
    time.sleep(0)  # a switch here is harmless: the scratch is this thread's own
    session.set("counted", (session.get("counted") or 0) + len(_SCRATCH.words))
    session.reply(f"{len(_SCRATCH.words)} word(s).")


initial.when_intent_matched_go_to(count_intent, count)
initial.set_fallback_body(lambda session: session.reply("Say 'count my words'."))
count.set_body(count_body)
count.go_to(initial)
