"""A small bot for the gateway's tests: text, rich replies, a failing turn, a slow turn, text
UTF-8 cannot carry, and a webhook event."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from runtime import Bot, Session


def start_body(session: Session) -> None:
    if session.get("started") is None:
        session.set("started", True)
        session.reply("Welcome!")


def echo_body(session: Session) -> None:
    count = (session.get("count") or 0) + 1
    session.set("count", count)
    session.reply(f"#{count} {session.message}")


def rich_body(session: Session) -> None:
    session.reply_markdown("**bold** <script>alert(1)</script>")
    session.reply_html('<b onclick="steal()">hi</b><script>x()</script>')
    session.reply_options(["yes", "no"])
    session.reply_location(46.5, 6.6)
    session.reply_json({"a": [1, 2]})


def broken_body(session: Session) -> None:
    session.reply("this reply is rolled back")
    session.get_chat_history()  # touches the session
    session.set("lock", threading.Lock())  # a durable store refuses it; memory copies fail


def odd_body(session: Session) -> None:
    session.reply("caf\udce9")  # a lone surrogate: bytes decoded with surrogateescape


def ping_event(session: Session, params: dict[str, Any]) -> bool:
    return session.event is not None and session.event.name == "ping"


def pinged_body(session: Session) -> None:
    payload = session.event.payload if session.event is not None else {}
    session.reply(f"pong {payload.get('n')}")


def waiting_body_for(release: threading.Event | None) -> Callable[[Session], None]:
    def waiting_body(session: Session) -> None:
        assert release is not None
        assert release.wait(30), "the test never released the turn"
        session.reply("done waiting")

    return waiting_body


def make_web_bot(release: threading.Event | None = None) -> Bot:
    """The test bot; "wait for me" blocks its turn until ``release`` is set."""
    bot = Bot("web")
    start = bot.new_state("start", initial=True)
    start.set_body(start_body)
    routes = (
        ("rich_intent", "show me something rich", rich_body),
        ("broken_intent", "break the turn", broken_body),
        ("wait_intent", "wait for me", waiting_body_for(release)),
        ("odd_intent", "send odd text", odd_body),
    )
    for name, sentence, body in routes:
        state = bot.new_state(name.removesuffix("_intent"))
        start.when_intent_matched_go_to(bot.new_intent(name, [sentence]), state)
        state.set_body(body)
        state.go_to(start)
    pinged = bot.new_state("pinged")
    start.when_event_go_to(ping_event, pinged, {})
    pinged.set_body(pinged_body)
    pinged.go_to(start)
    echo = bot.new_state("echo")
    start.when_no_intent_matched_go_to(echo)
    echo.set_body(echo_body)
    echo.go_to(start)
    return bot
