"""The runtime proves its own guarantees: a real Runtime driven beside a sequential model.

Hypothesis drives a :class:`~runtime.Runtime` and, beside it, a plain model: the same bot's
turns run one after another by :class:`~runtime.engine.Engine` on one ``Session`` per id, with
no actors and no threads. Rules open sessions, send messages, files and events, reset, fire
bursts of concurrent sends from several threads at one or many sessions, passivate sessions
and crash their actors. After every step
the invariants hold: each session's events were handled in send order, exactly once; each
session's state, data and chat history equal the model's; no reply reached another session;
``stats()`` agrees with the model.

The bot numbers every handled event of a session in its reply (``"<id> #<n> ..."``), so the
order the runtime handled a burst in can be read back from the replies: it must be a
permutation of the model's next numbers that keeps each sender's order, and replaying the
burst through the model in that order must give the same replies.

``HYPOTHESIS_PROFILE=deep`` runs many more and longer programs than CI does.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from concurrent.futures import Future
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from runtime import Bot, File, Runtime, Session, SessionCrashedError
from runtime.actors._pooled import PooledInbox
from runtime.actors._session_actor import SessionCell
from runtime.actors._supervisor import Supervisor
from runtime.engine import Engine, TurnKind, make_event
from runtime.session import SessionData

TIMEOUT = 30
DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
MACHINE_SETTINGS = settings(
    max_examples=1000 if DEEP else 60,
    stateful_step_count=80 if DEEP else 30,
    deadline=None,
)


def make_bot() -> Bot:
    """A bot whose every handled message, file or ring event is numbered in its session."""
    bot = Bot("ledger")
    start = bot.new_state("start", initial=True)
    idle = bot.new_state("idle")
    greeted = bot.new_state("greeted")
    picture = bot.new_state("picture")
    rung = bot.new_state("rung")
    hello = bot.new_intent("hello", ["hello", "hi"])

    def record(session: Session, what: str) -> None:
        number = session.get("n") + 1
        session.set("n", number)
        session.set("log", [*session.get("log"), what])
        session.reply(f"{session.id} #{number} {what}")

    def opened(session: Session) -> None:
        session.set("n", 0)
        session.set("log", [])
        session.reply(f"{session.id} open")

    def ring(session: Session, params: dict[str, Any]) -> bool:
        return session.event is not None and session.event.name == params["name"]

    def rung_body(session: Session) -> None:
        assert session.event is not None
        record(session, f"ring {session.event.payload.get('text', '')}")

    start.set_body(opened)
    start.go_to(idle)
    idle.when_intent_matched_go_to(hello, greeted)
    idle.when_file_received_go_to(picture, allowed_types=["image/png"])
    idle.when_event_go_to(ring, rung, {"name": "ring"})

    def fallback(session: Session) -> None:
        if session.message == CRASH:
            raise SystemExit("the actor dies; the runtime rolls the turn back and replaces it")
        record(session, f"echo {session.message}")

    idle.set_fallback_body(fallback)
    greeted.set_body(lambda session: record(session, "hi"))
    greeted.go_to(idle)
    picture.set_body(lambda session: record(session, f"file {session.file.name}"))  # type: ignore[union-attr]
    picture.go_to(idle)
    rung.set_body(rung_body)
    rung.go_to(idle)
    return bot


CRASH = "crash!"
TEXTS = st.sampled_from(["hello", "hi there", "apples", "pears", "HELLO!", "what?"])
FILES = st.builds(
    lambda name, mime: File(file_name=name, file_type=mime, file_data=name.encode()),
    st.sampled_from(["cat", "dog"]),
    st.sampled_from(["image/png", "text/plain"]),
)
EVENT_NAMES = st.sampled_from(["ring", "ping"])
# Events of a burst: each is numbered by the bot ("ping" events are not: they change nothing).
BURST_EVENTS = st.one_of(
    TEXTS.map(lambda text: (TurnKind.MESSAGE, text)),
    FILES.map(lambda file: (TurnKind.FILE, file)),
    TEXTS.map(lambda text: (TurnKind.EVENT, make_event("ring", {"text": text}))),
)
NUMBERED = re.compile(r"^(?P<id>.+?) #(?P<n>\d+) ")


class RuntimeMachine(RuleBasedStateMachine):
    """A Runtime and a sequential model of it, kept in step."""

    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.rt = Runtime(make_bot(), workers=2).start()
        model_bot = make_bot()
        model_bot.freeze()
        self.engine = Engine(model_bot)
        self.model: dict[str, Session] = {}
        self.processed = self.opened = self.replies = self.failed = 0
        self.passivated: set[str] = set()
        self.next_id = 0

    # -- the model ------------------------------------------------------------------------

    def expect(self, session_id: str, kind: TurnKind, payload: Any) -> list[str]:
        """Run the event on the model and count it as the runtime should."""
        session = self.model.get(session_id)
        if session is None:
            session = self.model[session_id] = Session(SessionData(session_id), self.engine.bot)
        self.passivated.discard(session_id)  # any event brings a session back
        outcome = self.engine.run_turn(session, kind, payload)
        self.processed += 1
        self.opened += outcome.opened
        self.replies += len(outcome.replies)
        return outcome.replies

    def submit(self, session_id: str, kind: TurnKind, payload: Any) -> Future[list[str]]:
        if kind is TurnKind.MESSAGE:
            return self.rt.send_message(session_id, payload)
        if kind is TurnKind.FILE:
            return self.rt.send_file(session_id, payload)
        if kind is TurnKind.EVENT:
            return self.rt.send_event(session_id, payload.name, payload.payload)
        if kind is TurnKind.RESET:
            return self.rt.reset(session_id)
        return self.rt.open_session(session_id)

    def check(self, session_id: str, kind: TurnKind, payload: Any) -> None:
        """Send one event, wait for its replies, and compare them with the model's."""
        replies = self.submit(session_id, kind, payload).result(TIMEOUT)
        assert all(reply.startswith(f"{session_id} ") for reply in replies), replies
        assert replies == self.expect(session_id, kind, payload)

    def new_id(self, name: str) -> str:
        self.next_id += 1
        return f"{name}-{self.next_id}"

    # -- rules ----------------------------------------------------------------------------

    @rule(target=sessions, name=st.sampled_from(["ann", "bob", "zoë", "x y"]))
    def open_session(self, name: str) -> str:
        session_id = self.new_id(name)
        self.check(session_id, TurnKind.OPEN, None)
        return session_id

    @rule(target=sessions, name=st.sampled_from(["eve", "dan"]), text=TEXTS)
    def first_contact_is_a_message(self, name: str, text: str) -> str:
        session_id = self.new_id(name)
        self.check(session_id, TurnKind.MESSAGE, text)
        return session_id

    @rule(session_id=sessions)
    def open_again(self, session_id: str) -> None:
        self.check(session_id, TurnKind.OPEN, None)

    @rule(session_id=sessions, text=TEXTS)
    def send_message(self, session_id: str, text: str) -> None:
        self.check(session_id, TurnKind.MESSAGE, text)

    @rule(session_id=sessions, file=FILES)
    def send_file(self, session_id: str, file: File) -> None:
        self.check(session_id, TurnKind.FILE, file)

    @rule(session_id=sessions, name=EVENT_NAMES, text=TEXTS)
    def send_event(self, session_id: str, name: str, text: str) -> None:
        self.check(session_id, TurnKind.EVENT, make_event(name, {"text": text}))

    @rule(session_id=sessions)
    def reset(self, session_id: str) -> None:
        self.check(session_id, TurnKind.RESET, None)

    @rule(
        chosen=st.lists(sessions, min_size=1, max_size=4),
        events=st.lists(BURST_EVENTS, min_size=2, max_size=16),
        threads=st.integers(1, 4),
    )
    def burst(self, chosen: list[str], events: list[tuple[TurnKind, Any]], threads: int) -> None:
        """Send events from several threads at once, none waiting for a reply."""
        # Event i goes to chosen[i % len] from thread i % threads: a sender may hit several
        # sessions, and several senders one session.
        plan = [(i % threads, chosen[i % len(chosen)], *event) for i, event in enumerate(events)]
        sent: list[tuple[int, str, TurnKind, Any, Future[list[str]]]] = []
        lock = threading.Lock()
        start = threading.Barrier(threads)

        def send(sender: int) -> None:
            start.wait(TIMEOUT)
            for who, session_id, kind, payload in plan:
                if who == sender:
                    future = self.submit(session_id, kind, payload)
                    with lock:
                        sent.append((sender, session_id, kind, payload, future))

        workers = [threading.Thread(target=send, args=(k,)) for k in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(TIMEOUT)
        assert len(sent) == len(plan)
        handled: dict[str, list[tuple[int, int, TurnKind, Any, list[str]]]] = {}
        for order, (sender, session_id, kind, payload, future) in enumerate(sent):
            replies = future.result(TIMEOUT)
            assert len(replies) == 1, replies  # every burst event is numbered once
            match = NUMBERED.match(replies[0])
            assert match is not None, replies
            assert match["id"] == session_id, f"a reply for {session_id} went to {match['id']}"
            handled.setdefault(session_id, []).append(
                (int(match["n"]), sender * 10_000 + order, kind, payload, replies)
            )
        for session_id, events_handled in handled.items():
            first = self.model[session_id]._data.data["n"] + 1
            numbers = sorted(n for n, *_ in events_handled)
            # Exactly once: the numbers are the next ones, each used once, none skipped.
            assert numbers == list(range(first, first + len(events_handled)))
            by_number = sorted(events_handled)
            # Each sender's events were handled in the order it sent them.
            for sender in range(threads):
                sent_order = [key for _, key, *_ in by_number if key // 10_000 == sender]
                assert sent_order == sorted(sent_order)
            for _, _, kind, payload, replies in by_number:
                assert replies == self.expect(session_id, kind, payload)

    @rule(session_id=sessions)
    def passivate(self, session_id: str) -> None:
        """Move a session to the store; its next event or snapshot must find it unchanged."""
        assert self.rt.passivate(session_id).result(TIMEOUT) is True
        self.passivated.add(session_id)

    @rule(session_id=sessions)
    def crash_the_actor(self, session_id: str) -> None:
        """A body raises SystemExit: the event fails, the turn is undone, the actor replaced."""
        self.passivated.discard(session_id)
        error = self.rt.send_message(session_id, CRASH).exception(TIMEOUT)
        assert isinstance(error, SessionCrashedError)
        self.failed += 1

    # TODO(restarts): when the runtime can restart from a durable store after a process dies,
    # add a rule that stops the runtime and starts a new one on the same store; the invariants
    # stay as they are. Not faked before it exists.

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def each_session_equals_the_model(self) -> None:
        for session_id, session in self.model.items():
            snapshot = self.rt.snapshot(session_id, timeout=TIMEOUT)
            expected = session._data.snapshot()
            assert snapshot is not None, f"{session_id} is gone"
            assert (snapshot.state, dict(snapshot.data), snapshot.chat_history) == (
                expected.state,
                dict(expected.data),
                expected.chat_history,
            ), session_id

    @invariant()
    def stats_agree_with_the_model(self) -> None:
        stats = self.rt.stats()
        assert stats.events_processed == self.processed
        assert stats.events_failed == stats.actor_restarts == self.failed
        assert stats.events_accepted == self.processed + self.failed
        assert stats.events_pending == 0
        assert stats.sessions_live == len(self.model) - len(self.passivated)
        assert stats.sessions_passivated == len(self.passivated)
        assert stats.sessions_opened == self.opened
        assert stats.replies == self.replies
        assert stats.body_errors == stats.event_errors == 0

    def teardown(self) -> None:
        # Short: a correct runtime has nothing pending here; a broken one must not stall.
        self.rt.stop(timeout=0.5)


def test_the_runtime_keeps_its_guarantees_against_a_sequential_model() -> None:
    run_state_machine_as_test(RuntimeMachine, settings=MACHINE_SETTINGS)


def test_the_machine_catches_a_supervisor_that_creates_two_actors_for_one_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_route = Supervisor.route

    def route_without_a_lock(self: Supervisor, session_id: str) -> SessionCell:
        # The bug a lock-free routing table can have: two racing lookups each make a cell.
        # Forced here, deterministically: every fifth routing forgets the live cell, so the
        # real code makes a second cell and actor for a session that already has one.
        self.broken_routes = getattr(self, "broken_routes", 0) + 1  # type: ignore[attr-defined]
        if self.broken_routes % 5 == 0:  # type: ignore[attr-defined]
            self._cells.pop(session_id, None)
        return real_route(self, session_id)

    monkeypatch.setattr(Supervisor, "route", route_without_a_lock)

    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(
            RuntimeMachine,
            settings=settings(
                MACHINE_SETTINGS,
                max_examples=50,
                database=None,
                report_multiple_bugs=False,
                print_blob=False,
            ),
        )

    print(caught.value)  # the shrunk program that exposes the broken routing


def test_the_machine_catches_an_inbox_that_lets_two_workers_run_one_actor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_put = PooledInbox.put

    def put_and_always_schedule(self: PooledInbox, envelope: Any) -> None:
        # The bug per-session serialisation exists to prevent: the inbox schedules its owner
        # on every put, even while a worker is already running it, so a second worker can
        # pick the same actor up and run two of its turns at once.
        real_put(self, envelope)
        owner = self.owner
        if owner is not None:
            owner._dispatcher.schedule(owner)

    monkeypatch.setattr(PooledInbox, "put", put_and_always_schedule)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # preempt mid-turn, so two turns of one session overlap
    try:
        # Overlapping turns fail in more than one way, depending on the interleaving: a wrong
        # number or state (AssertionError), an internal ActorDeadError leaking out, or
        # Hypothesis reporting the failure as flaky because it does not replay. Each is the
        # machine catching the bug; the same machine passes on the real runtime (above).
        with pytest.raises(Exception) as caught:  # noqa: PT011
            run_state_machine_as_test(
                RuntimeMachine,
                settings=settings(
                    MACHINE_SETTINGS,
                    max_examples=100,
                    database=None,
                    report_multiple_bugs=False,
                    print_blob=False,
                ),
            )
    finally:
        sys.setswitchinterval(old_interval)
    print(type(caught.value).__name__, caught.value)
