"""Bots for the Ray tests: files the shards load by path (``RayBackend(bot_path=...)``).

``ledger``: every message is appended to the session's ``seen`` list and answered with its
position, so a message run twice, lost or reordered shows in the data and the replies. A
message ``block`` first passes the test's ``Gate`` actor; ``crash`` kills its session's
actor (``SystemExit``), ``oops`` raises in the body (BBF semantics: logged, the turn goes on).
"""

from __future__ import annotations

import os

from runtime import Bot, Session

bot = Bot("ledger")
initial = bot.new_state("initial", initial=True)


def _nothing(session: Session) -> None:
    del session


def _record(session: Session) -> None:
    text = session.message or ""
    if text == "crash":
        raise SystemExit("crash asked")
    seen = list(session.get("seen") or [])
    seen.append(text)
    session.set("seen", seen)
    if text == "block":
        import ray  # noqa: PLC0415  # only ever sent on Ray

        try:
            gate = ray.get_actor("gate", namespace="runtime-tests")
            ray.get(gate.pass_through.remote(os.getpid()), timeout=120)
        except Exception:  # the node went away under this body: end as usual
            pass
    if text == "oops":
        raise ValueError("a body error")
    session.reply(f"{len(seen)}:{text}")


initial.set_body(_nothing)
initial.set_fallback_body(_record)
