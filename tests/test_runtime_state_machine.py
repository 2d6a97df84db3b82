"""The runtime proves its own guarantees: a real Runtime driven beside a sequential model.

Hypothesis drives a :class:`~runtime.Runtime` and, beside it, a plain model: the same bot's
turns run one after another by :class:`~runtime.engine.Engine` on one ``Session`` per id, with
no actors and no threads. Rules open sessions, send messages, files and events, reset, fire
bursts of concurrent sends from several threads at one or many sessions, passivate and forget
sessions, crash turns (after they changed nested values in place, or in a reset), make the store
fail (loads and saves, once or until healed), attach callbacks and subscribers that raise, and
stop the runtime in the middle of a burst and start a new one on the same store.

The rule that ties it together: a future that failed means its turn had no effect, a future
that resolved means all of it happened. The model applies exactly the turns whose futures
resolved; after every step each session's state, data and chat history must equal the model's,
each session's events were handled in send order, exactly once, no reply reached another
session, and ``stats()`` agrees with the model.

The bot numbers every handled event of a session in its reply (``"<id> #<n> ..."``), so the
order the runtime handled a burst in can be read back from the replies: it must be a
permutation of the model's next numbers that keeps each sender's order, and replaying the
burst through the model in that order must give the same replies.

The machine runs twice: on a store that only holds passivated sessions (the default memory
store) and on a durable one (every committed turn is saved, so a failing save fails turns).
``HYPOTHESIS_PROFILE=deep`` runs many more and longer programs than CI does.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from concurrent.futures import Future
from typing import Any

import pykka
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from runtime import (
    Bot,
    File,
    PoisonEventError,
    Runtime,
    RuntimeStoppedError,
    Session,
    SessionCrashedError,
    StoreError,
)
from runtime.actors import Directory, PooledInbox, SessionCell
from runtime.engine import Engine, TurnKind, make_event
from runtime.session import SessionData
from runtime.store import MemoryStore, SessionStore, SqliteStore
from runtime.testing import FlakyStore

TIMEOUT = 30
POISON_AFTER = 2  # crash_a_turn crashes twice; crash_a_reset_once crashes once, then commits
DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
MACHINE_SETTINGS = settings(
    max_examples=1000 if DEEP else 60,
    stateful_step_count=80 if DEEP else 30,
    deadline=None,
)


def make_bot(crash_next_open: list[bool] | None = None) -> Bot:
    """A bot whose every handled message, file or ring event is numbered in its session.

    ``crash_next_open``: while its item is True, the next initial body sets it False, changes
    the session and dies (the runtime's bot only: a reset whose turn crashes).
    """
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
        if crash_next_open is not None and crash_next_open[0]:
            crash_next_open[0] = False
            raise SystemExit("a reset whose turn dies must leave the session as it was")

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
            # Change everything a turn can change, nested values in place included, then die:
            # the runtime must roll all of it back.
            session.get("log").append("dirty")
            session.set("n", -1)
            session.set("extra", {"nested": [1]})
            session.reply("never delivered")
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
    durable = False

    def __init__(self) -> None:
        super().__init__()
        self.store = FlakyStore(self.inner_store(), durable=self.durable)
        self.crash_next_open = [False]
        self.rt = self.new_runtime()
        model_bot = make_bot()
        model_bot.freeze()
        self.engine = Engine(model_bot)
        self.model: dict[str, Session] = {}
        self.live: set[str] = set()  # sessions an event reached in the current runtime
        self.passivated: set[str] = set()  # passivated by the current runtime, not back
        self.reset_counts()
        self.next_id = 0
        self.bystander = pykka.ThreadingActor.start()

    def new_runtime(self) -> Runtime:
        return Runtime(
            make_bot(self.crash_next_open),
            store=self.store,
            workers=2,
            poison_after=POISON_AFTER,
            restart_backoff=0.001,
        ).start()

    def reset_counts(self) -> None:
        """Start counting anew (a new runtime starts its stats from zero)."""
        self.processed = self.opened = self.replies = 0
        self.failed = self.crashes = self.store_errors = self.forgotten = 0
        self.retries = self.poisoned = 0

    # -- the model ------------------------------------------------------------------------

    def expect(self, session_id: str, kind: TurnKind, payload: Any) -> list[str]:
        """Run the event on the model and count it as the runtime should."""
        session = self.model.get(session_id)
        if session is None:
            session = self.model[session_id] = Session(SessionData(session_id), self.engine.bot)
        self.arrive(session_id)
        outcome = self.engine.run_turn(session, kind, payload)
        self.processed += 1
        self.opened += outcome.opened
        self.replies += len(outcome.replies)
        return outcome.replies

    def arrive(self, session_id: str) -> None:
        """An event reached the session: it is live now (loaded back if it was stored)."""
        self.passivated.discard(session_id)
        self.live.add(session_id)

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

    def check_fails(self, future: Future[list[str]], error: type[BaseException]) -> None:
        """The event failed with ``error``: the model must not change (no effect)."""
        assert isinstance(future.exception(TIMEOUT), error), future.exception(TIMEOUT)
        self.failed += 1

    def new_id(self, name: str) -> str:
        self.next_id += 1
        return f"{name}-{self.next_id}"

    # -- rules: events --------------------------------------------------------------------

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

    def send_burst(
        self, chosen: list[str], events: list[tuple[TurnKind, Any]], threads: int, stop: bool
    ) -> list[tuple[int, str, TurnKind, Any, Future[list[str]]]]:
        """Send events from several threads at once, none waiting; maybe stop meanwhile."""
        # Event i goes to chosen[i % len] from thread i % threads: a sender may hit several
        # sessions, and several senders one session.
        plan = [(i % threads, chosen[i % len(chosen)], *event) for i, event in enumerate(events)]
        sent: list[tuple[int, str, TurnKind, Any, Future[list[str]]]] = []
        lock = threading.Lock()
        start = threading.Barrier(threads + 1)

        def send(sender: int) -> None:
            start.wait(TIMEOUT)
            for who, session_id, kind, payload in plan:
                if who != sender:
                    continue
                try:
                    future = self.submit(session_id, kind, payload)
                except RuntimeStoppedError:
                    continue  # refused at the door by stop(): never accepted, no effect
                with lock:
                    sent.append((sender, session_id, kind, payload, future))

        workers = [threading.Thread(target=send, args=(k,)) for k in range(threads)]
        for worker in workers:
            worker.start()
        start.wait(TIMEOUT)
        if stop:
            self.rt.stop(timeout=0)
        for worker in workers:
            worker.join(TIMEOUT)
        if not stop:
            assert len(sent) == len(plan)
        return sent

    def settle_burst(self, sent: list[tuple[int, str, TurnKind, Any, Future[list[str]]]]) -> None:
        """Apply the burst's resolved events to the model, in the order the runtime ran them."""
        handled: dict[str, list[tuple[int, int, TurnKind, Any, list[str]]]] = {}
        for order, (sender, session_id, kind, payload, future) in enumerate(sent):
            error = future.exception(TIMEOUT)
            if error is not None:
                # Only stop() may fail a burst event; its turn must have had no effect.
                assert isinstance(error, RuntimeStoppedError), error
                self.failed += 1
                continue
            replies = future.result()
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
            # Exactly once: the numbers are the next ones, each used once, none skipped (the
            # events a stop() failed come after every committed one of their session).
            assert numbers == list(range(first, first + len(events_handled)))
            by_number = sorted(events_handled)
            # Each sender's events were handled in the order it sent them.
            for sender in range(4):
                sent_order = [key for _, key, *_ in by_number if key // 10_000 == sender]
                assert sent_order == sorted(sent_order)
            for _, _, kind, payload, replies in by_number:
                assert replies == self.expect(session_id, kind, payload)

    @rule(
        chosen=st.lists(sessions, min_size=1, max_size=4),
        events=st.lists(BURST_EVENTS, min_size=2, max_size=16),
        threads=st.integers(1, 4),
    )
    def burst(self, chosen: list[str], events: list[tuple[TurnKind, Any]], threads: int) -> None:
        """Send events from several threads at once, none waiting for a reply."""
        chosen = [session_id for session_id in chosen if session_id in self.model]
        if not chosen:
            return  # only forgotten sessions: their first reply would be the initial body's
        self.settle_burst(self.send_burst(chosen, events, threads, stop=False))

    @rule(
        chosen=st.lists(sessions, min_size=1, max_size=4),
        events=st.lists(BURST_EVENTS, min_size=2, max_size=16),
        threads=st.integers(1, 4),
    )
    def stop_during_a_burst_and_restart(
        self, chosen: list[str], events: list[tuple[TurnKind, Any]], threads: int
    ) -> None:
        """Stop mid-burst, then serve the same store with a new runtime, as after a restart."""
        self.store.heal()
        chosen = [session_id for session_id in chosen if session_id in self.model]
        if not chosen:
            return
        sent = self.send_burst(chosen, events, threads, stop=True)
        self.settle_burst(sent)
        stats = self.rt.stats()
        assert stats.events_pending == 0
        assert stats.events_accepted == stats.events_processed + stats.events_failed
        self.rt = self.new_runtime()
        self.live.clear()  # every session is in the store now
        self.passivated.clear()
        self.reset_counts()

    # -- rules: failures ------------------------------------------------------------------

    @rule(session_id=sessions)
    def crash_a_turn(self, session_id: str) -> None:
        """A body changes nested values in place, then raises SystemExit on every attempt.

        Each attempt is rolled back; after ``POISON_AFTER`` of them the event is quarantined.
        """
        self.arrive(session_id)
        self.check_fails(self.rt.send_message(session_id, CRASH), PoisonEventError)
        self.crashes += POISON_AFTER
        self.retries += POISON_AFTER - 1
        self.poisoned += 1

    @rule(session_id=sessions)
    def crash_a_reset_once(self, session_id: str) -> None:
        """A reset whose initial body dies once: rolled back, retried, then applied once."""
        self.crash_next_open[0] = True
        self.check(session_id, TurnKind.RESET, None)  # the model runs after the retry
        assert self.crash_next_open[0] is False
        self.crashes += 1
        self.retries += 1

    @rule(session_id=sessions, text=TEXTS, fatal=st.booleans())
    def callbacks_that_raise(self, session_id: str, text: str, fatal: bool) -> None:
        """A done-callback and a subscriber raise on the session's thread: nothing breaks."""
        error: BaseException = SystemExit(1) if fatal else ValueError("callback bug")
        gate = threading.Event()
        delivered: list[TurnKind] = []

        def subscriber(event: Any, replies: list[str]) -> None:
            delivered.append(event.kind)
            if event.kind is TurnKind.EVENT:
                gate.wait(TIMEOUT)  # holds the session while the test adds a done-callback
            raise error

        def callback(_: object) -> None:
            raise error

        with self.rt.subscribe(session_id, subscriber):
            ping = self.rt.send_event(session_id, "ping")
            future = self.rt.send_message(session_id, text)
            future.add_done_callback(callback)  # pending: the session is held by the gate
            gate.set()
            assert ping.result(TIMEOUT) == self.expect(
                session_id, TurnKind.EVENT, make_event("ping", None)
            )
            assert future.result(TIMEOUT) == self.expect(session_id, TurnKind.MESSAGE, text)
        assert delivered == [TurnKind.EVENT, TurnKind.MESSAGE]
        self.check(session_id, TurnKind.MESSAGE, text)  # the session still works
        assert self.bystander.is_alive()  # pykka's stop-every-actor reaction did not happen

    @rule(session_id=sessions)
    def passivate(self, session_id: str) -> None:
        """Move a session to the store; its next event or snapshot must find it unchanged."""
        known = session_id in self.model  # forgotten sessions are unknown
        assert self.rt.passivate(session_id).result(TIMEOUT) is known
        if known and session_id in self.live:
            self.live.discard(session_id)
            self.passivated.add(session_id)

    @rule(session_id=sessions, lasting=st.booleans())
    def a_save_fails(self, session_id: str, lasting: bool) -> None:
        """The store refuses a save: the session stays live and intact, a retry succeeds."""
        self.check(session_id, TurnKind.MESSAGE, "hello")  # live (and known) now
        self.store.fail("save", None if lasting else 1)
        if self.durable:
            # Every commit saves: the turn fails and has no effect.
            self.check_fails(self.rt.send_message(session_id, "hello"), StoreError)
        else:
            error = self.rt.passivate(session_id).exception(TIMEOUT)
            assert isinstance(error, StoreError), error
        self.store_errors += 1
        if lasting:
            self.store.heal("save")
        self.check(session_id, TurnKind.MESSAGE, "apples")

    @rule(session_id=sessions, times=st.integers(1, 3))
    def a_load_fails(self, session_id: str, times: int) -> None:
        """The store fails to load a stored session: its events fail, then a retry loads it."""
        if session_id not in self.model:
            return  # forgotten: nothing stored to fail loading
        self.passivate(session_id)
        self.store.fail("load", times)
        for _ in range(times):
            self.check_fails(self.rt.send_message(session_id, "pears"), StoreError)
            self.store_errors += 1
        self.check(session_id, TurnKind.MESSAGE, "pears")

    @rule(session_id=sessions)
    def forget(self, session_id: str) -> None:
        """Erase a session: it is gone live and stored; its next event starts it afresh."""
        existed = session_id in self.model
        assert self.rt.forget(session_id).result(TIMEOUT) is existed
        if existed:
            self.forgotten += 1
        self.model.pop(session_id, None)
        self.live.discard(session_id)
        self.passivated.discard(session_id)
        assert self.rt.snapshot(session_id, timeout=TIMEOUT) is None

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
        assert stats.events_failed == self.failed
        assert stats.actor_restarts == self.crashes
        assert (stats.event_retries, stats.poison_events) == (self.retries, self.poisoned)
        assert stats.events_accepted == self.processed + self.failed
        assert stats.events_pending == 0
        assert stats.sessions_passivated == len(self.passivated)
        assert stats.sessions_opened == self.opened
        assert stats.replies == self.replies
        assert stats.store_errors == self.store_errors
        assert stats.sessions_forgotten == self.forgotten
        assert stats.body_errors == stats.event_errors == 0

    def inner_store(self) -> SessionStore:
        return MemoryStore()

    def teardown(self) -> None:
        # Short: a correct runtime has nothing pending here; a broken one must not stall.
        self.rt.stop(timeout=0.5)
        self.bystander.stop()
        self.store.close()


class DurableRuntimeMachine(RuntimeMachine):
    """The same machine on a durable store: every committed turn is saved."""

    durable = True


class SqliteRuntimeMachine(DurableRuntimeMachine):
    """The same machine on a real SQLite file: every turn encoded, written, loaded back."""

    def inner_store(self) -> SessionStore:
        self.folder = tempfile.TemporaryDirectory(prefix="machine-")
        return SqliteStore(os.path.join(self.folder.name, "sessions.db"))

    def teardown(self) -> None:
        super().teardown()
        self.folder.cleanup()


def test_the_runtime_keeps_its_guarantees_against_a_sequential_model() -> None:
    run_state_machine_as_test(RuntimeMachine, settings=MACHINE_SETTINGS)


def test_the_runtime_keeps_its_guarantees_on_a_durable_store() -> None:
    run_state_machine_as_test(DurableRuntimeMachine, settings=MACHINE_SETTINGS)


def test_the_runtime_keeps_its_guarantees_on_an_sqlite_store() -> None:
    run_state_machine_as_test(SqliteRuntimeMachine, settings=MACHINE_SETTINGS)


def test_the_machine_catches_a_routing_table_that_creates_two_actors_for_one_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_route = Directory.route

    def route_without_a_lock(self: Directory, session_id: str) -> SessionCell:
        # The bug a lock-free routing table can have: two racing lookups each make a cell.
        # Forced here, deterministically: every fifth routing forgets the live cell, so the
        # real code makes a second cell and actor for a session that already has one.
        self.broken_routes = getattr(self, "broken_routes", 0) + 1  # type: ignore[attr-defined]
        if self.broken_routes % 5 == 0:  # type: ignore[attr-defined]
            self._cells.pop(session_id, None)
        return real_route(self, session_id)

    monkeypatch.setattr(Directory, "route", route_without_a_lock)

    # A wrong reply or state (AssertionError), a reply that never comes (TimeoutError: one of
    # the duplicated actors lost it), or, when the effect depends on timing, Hypothesis
    # reporting a failure that does not replay (Flaky): each is a catch.
    with pytest.raises((AssertionError, TimeoutError, Flaky)) as caught:
        run_state_machine_as_test(
            RuntimeMachine,
            settings=settings(
                MACHINE_SETTINGS,
                max_examples=50,
                # Finding the bug is the point, not a minimal program: shrinking re-runs
                # examples whose duplicated actors may leave a reply waiting its full timeout.
                phases=[Phase.generate],
                database=None,
                report_multiple_bugs=False,
                print_blob=False,
            ),
        )

    print(caught.value)  # the shrunk program that exposes the broken routing


def test_the_machine_catches_an_inbox_that_lets_two_workers_run_one_actor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_tell = PooledInbox.tell

    def tell_and_always_schedule(self: PooledInbox, message: Any) -> None:
        # The bug per-session serialisation exists to prevent: the inbox schedules its owner
        # on every message (events, asks: put() goes through tell()), even while a worker is
        # already running it, so a second worker can run two of its turns at once.
        real_tell(self, message)
        owner = self.owner
        if owner is not None:
            owner._dispatcher.schedule(owner)

    monkeypatch.setattr(PooledInbox, "tell", tell_and_always_schedule)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # preempt mid-turn, so two turns of one session overlap
    try:
        # Overlapping turns fail in more than one way, depending on the interleaving: a wrong
        # number or state (AssertionError), a turn whose actor found its session in a state
        # no single worker can leave it in (SessionCrashedError), a lost reply (TimeoutError),
        # or Hypothesis reporting the failure as flaky because it does not replay. Each is the
        # machine catching the bug; the same machine passes on the real runtime (above).
        # Whether an example exposes the bug depends on two workers preempting each other
        # inside one session's turns during a burst: 100 examples missed it in 2 of 8 and 1 of
        # 6 runs on a 2-core machine (2026-11-30), so about 1.5% of examples catch it. Hypothesis
        # stops at the first catch; 500 examples make a miss about 1 run in 2,000.
        with pytest.raises((AssertionError, SessionCrashedError, TimeoutError, Flaky)) as caught:
            run_state_machine_as_test(
                RuntimeMachine,
                settings=settings(
                    MACHINE_SETTINGS,
                    max_examples=500,
                    phases=[Phase.generate],  # detection only (see the test above)
                    database=None,
                    report_multiple_bugs=False,
                    print_blob=False,
                ),
            )
    finally:
        sys.setswitchinterval(old_interval)
    print(type(caught.value).__name__, caught.value)
