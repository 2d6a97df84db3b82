"""Concurrency guarantees under real threads: isolation, per-session order, one activation."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator

import pytest

from runtime import Bot, Runtime, Session
from runtime.engine import Engine, TurnKind
from runtime.session import SessionData

TIMEOUT = 60


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Force the interpreter to switch threads often, to expose races."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def quiz_bot() -> Bot:
    """A stateful bot: its replies depend on the session's whole past."""
    bot = Bot("quiz")
    initial = bot.new_state("initial", initial=True)
    hello = bot.new_state("hello")
    score = bot.new_state("score")
    hello_intent = bot.new_intent("hello_intent", ["hello", "hi"])
    good_intent = bot.new_intent("good_intent", ["good", "great", "fine"])

    def welcome(session: Session) -> None:
        session.reply(f"welcome {session.id}")

    def greet(session: Session) -> None:
        session.set("greetings", (session.get("greetings") or 0) + 1)
        session.reply(f"hi #{session.get('greetings')}")

    def tally(session: Session) -> None:
        words = session.get("words") or []
        session.set("words", [*words, session.message])
        session.reply(f"{session.id} said {len(words) + 1} things, last {session.message!r}")

    initial.set_body(welcome)
    initial.when_intent_matched_go_to(hello_intent, hello)
    initial.when_intent_matched_go_to(good_intent, score)
    initial.set_fallback_body(tally)
    hello.set_body(greet)
    hello.go_to(initial)
    score.set_body(tally)
    score.go_to(initial)
    return bot


def solo_transcript(bot: Bot, session_id: str, messages: list[str]) -> list[list[str]]:
    """What one user sees when alone: the same bot logic run with no actors."""
    engine = Engine(bot)
    session = Session(SessionData(session_id), bot)
    return [engine.run_turn(session, TurnKind.MESSAGE, text).replies for text in messages]


@pytest.mark.slow
def test_a_thousand_sessions_under_load_see_what_they_see_alone(fast_switching: None) -> None:
    users, per_user, senders = 1000, 20, 8
    vocabulary = ["hi", "hello there", "great", "I'm fine", "purple elephant", "what?", "hey"]
    rng = random.Random(7)
    scripts = {f"user-{i}": [rng.choice(vocabulary) for _ in range(per_user)] for i in range(users)}
    bot = quiz_bot()
    with Runtime(bot) as rt:
        expected = {sid: solo_transcript(bot, sid, msgs) for sid, msgs in scripts.items()}
        futures: dict[str, list[object]] = {sid: [] for sid in scripts}
        ids = list(scripts)

        def send(offset: int) -> None:
            mine = ids[offset::senders]
            # Interleave this sender's users message by message.
            for step in range(per_user):
                for sid in mine:
                    futures[sid].append(rt.send_message(sid, scripts[sid][step]))

        threads = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        actual = {sid: [f.result(TIMEOUT) for f in fs] for sid, fs in futures.items()}  # type: ignore[attr-defined]
        diverged = [sid for sid in scripts if actual[sid] != expected[sid]]
        assert diverged == []
        stats = rt.stats()
        assert stats.sessions_live == users
        assert stats.events_processed == users * per_user
        assert stats.sessions_opened == users


@pytest.mark.slow
def test_concurrent_read_modify_write_on_one_session_loses_no_update(
    fast_switching: None,
) -> None:
    senders, per_sender = 8, 250
    bot = Bot("counter")
    state = bot.new_state("s", initial=True)
    yield_gil = threading.Event()

    def increment(session: Session) -> None:
        value = session.get("n") or 0
        yield_gil.wait(0.00001)  # releases the GIL mid read-modify-write
        session.set("n", value + 1)
        session.reply(f"{session.message}={value + 1}")

    state.set_fallback_body(increment)
    with Runtime(bot) as rt:
        sent: dict[int, list[object]] = {k: [] for k in range(senders)}
        start = threading.Barrier(senders)

        def send(k: int) -> None:
            start.wait()
            for i in range(per_sender):
                sent[k].append(rt.send_message("shared", f"{k}:{i}"))

        threads = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        counts: list[int] = []
        for k, futures in sent.items():
            replies = [f.result(TIMEOUT)[0] for f in futures]  # type: ignore[attr-defined]
            labels = [reply.split("=")[0] for reply in replies]
            values = [int(reply.split("=")[1]) for reply in replies]
            assert labels == [f"{k}:{i}" for i in range(per_sender)]
            assert values == sorted(values)  # one sender's messages are handled in send order
            counts.extend(values)
        assert sorted(counts) == list(range(1, senders * per_sender + 1))
        assert rt.snapshot("shared").data == {"n": senders * per_sender}  # type: ignore[union-attr]


def test_concurrent_first_events_open_a_session_exactly_once(fast_switching: None) -> None:
    opened: dict[str, int] = {}
    lock = threading.Lock()
    bot = Bot("once")
    state = bot.new_state("s", initial=True)

    def initial_body(session: Session) -> None:
        with lock:
            opened[session.id] = opened.get(session.id, 0) + 1
        session.reply("welcome")

    state.set_body(initial_body)
    state.set_fallback_body(lambda session: session.reply("echo"))
    racers, rounds = 16, 40
    with Runtime(bot) as rt:
        for round_ in range(rounds):
            sid = f"new-{round_}"
            start = threading.Barrier(racers)
            results: list[list[str]] = []

            def race(
                sid: str = sid,
                start: threading.Barrier = start,
                results: list[list[str]] = results,
            ) -> None:
                start.wait()
                future = (
                    rt.send_message(sid, "x") if random.random() < 0.5 else rt.open_session(sid)
                )
                results.append(future.result(TIMEOUT))

            threads = [threading.Thread(target=race) for _ in range(racers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(TIMEOUT)
            assert len(results) == racers
            assert sum(reply.count("welcome") for reply in results) == 1
        stats = rt.stats()
        assert opened == {f"new-{r}": 1 for r in range(rounds)}
        assert stats.sessions_live == rounds
        assert stats.sessions_opened == rounds
