"""Contract tests on the pykka internals that ``runtime/actors/_pooled.py`` relies on.

``PooledActor`` implements pykka's hooks for new actor types and drives ``Actor``'s private
loop pieces itself (see the module docstring of ``_pooled.py``). None of that is public API, so
a pykka upgrade may change it silently. Each test here pins one behaviour the pooled type uses,
exercised on plain pykka classes (no dispatcher), so an upgrade that changes it fails here, by
name, before it fails somewhere deep in the runtime. Bump the pin in ``pyproject.toml`` only
together with these tests.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import queue
import sys
import threading
import tomllib
from collections import deque
from pathlib import Path
from typing import Any

import pykka
import pytest
from pykka import ActorDeadError, ActorRef, ActorRegistry, messages
from pykka._envelope import Envelope

PINNED_PYKKA = "4.5.0"


class RecordingInbox:
    """A stand-in inbox that records what pykka puts on it (pykka's ActorInbox protocol)."""

    def __init__(self) -> None:
        self.items: deque[Envelope[Any]] = deque()

    def put(self, envelope: Envelope[Any], /) -> None:
        self.items.append(envelope)

    def get(self) -> Envelope[Any]:
        return self.items.popleft()

    def empty(self) -> bool:
        return not self.items


class BareActor(pykka.Actor):
    """The smallest concrete pykka actor: never started, driven by hand in the tests."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        super().__init__()

    @staticmethod
    def _create_actor_inbox() -> RecordingInbox:  # type: ignore[override]
        return RecordingInbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        raise AssertionError("contract tests drive the loop pieces by hand")

    def on_start(self) -> None:
        self.events.append("on_start")

    def on_stop(self) -> None:
        self.events.append("on_stop")

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self.events.append(("on_failure", exception_value))

    def on_receive(self, message: Any) -> Any:
        self.events.append(("on_receive", message))
        if isinstance(message, Exception):
            raise message
        if isinstance(message, type) and issubclass(message, BaseException):
            raise message
        return ("echo", message)

    def method(self, a: int, *, b: int) -> int:
        return a + b


@pytest.fixture
def actor() -> BareActor:
    return BareActor()


def inbox_of(actor: pykka.Actor) -> RecordingInbox:
    inbox = actor.actor_inbox
    assert isinstance(inbox, RecordingInbox)
    return inbox


# -- the pin -----------------------------------------------------------------------------------


def test_installed_pykka_is_the_pinned_version() -> None:
    # pykka 4.x has no ``pykka.__version__``; the distribution metadata is the source of truth.
    assert importlib.metadata.version("pykka") == PINNED_PYKKA


def test_pyproject_pins_the_same_pykka_version() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    assert f"pykka=={PINNED_PYKKA}" in dependencies


# -- Actor.__init__ and the hooks for new actor types ------------------------------------------


def test_actor_init_calls_create_actor_inbox_on_the_instance() -> None:
    seen: list[object] = []

    class InstanceInboxActor(BareActor):
        def _create_actor_inbox(self) -> RecordingInbox:  # type: ignore[override]
            seen.append(self)
            return RecordingInbox()

    actor = InstanceInboxActor()
    assert seen == [actor]
    assert isinstance(actor.actor_inbox, RecordingInbox)


def test_actor_init_creates_the_inbox_before_the_ref_and_the_ref_shares_it(
    actor: BareActor,
) -> None:
    assert isinstance(actor.actor_stopped, threading.Event)
    assert not actor.actor_stopped.is_set()
    assert isinstance(actor.actor_ref, ActorRef)
    # ActorRef copies the inbox and the stopped flag at construction: the inbox an actor gets
    # from _create_actor_inbox is the one every ref puts on.
    assert actor.actor_ref.actor_inbox is actor.actor_inbox
    assert actor.actor_ref.actor_stopped is actor.actor_stopped
    assert actor.actor_ref.actor_class is BareActor


def test_actor_init_sets_exactly_the_four_attributes_pooled_actors_set_themselves() -> None:
    # PooledActor.__init__ replaces pykka.Actor.__init__ (for a lean stop flag): if pykka's
    # constructor starts setting anything else, the pooled type must learn about it.
    actor = BareActor()
    assert set(vars(actor)) - {"events"} == {
        "actor_urn",
        "actor_inbox",
        "actor_stopped",
        "_actor_ref",
    }
    assert actor.actor_urn.startswith("urn:uuid:")


def test_actor_ref_uses_only_is_set_on_the_stop_flag() -> None:
    class Flag:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def is_set(self) -> bool:
            self.calls.append("is_set")
            return False

    actor = BareActor()
    flag = Flag()
    actor.actor_stopped = flag  # type: ignore[assignment]
    ref = ActorRef(actor)
    assert ref.is_alive()
    ref.tell("x")
    ref.ask("y", block=False)
    assert set(flag.calls) == {"is_set"}


def test_the_three_hooks_for_new_actor_types_are_still_abstract() -> None:
    assert pykka.Actor.__abstractmethods__ == frozenset(
        {"_create_actor_inbox", "_create_future", "_start_actor_loop"}
    )
    assert isinstance(inspect.getattr_static(pykka.Actor, "_create_actor_inbox"), staticmethod)
    assert isinstance(inspect.getattr_static(pykka.Actor, "_create_future"), staticmethod)


def test_actor_start_registers_the_ref_then_starts_the_loop() -> None:
    # PooledActor overrides start() to skip the registry; this is what it replaces.
    order: list[str] = []

    class StartRecordingActor(BareActor):
        def _start_actor_loop(self) -> None:
            order.append(
                "loop, registered" if self.actor_ref in ActorRegistry.get_all() else "loop"
            )

    ref = StartRecordingActor.start()
    try:
        assert order == ["loop, registered"]
    finally:
        ActorRegistry.unregister(ref)


# -- ActorRef ----------------------------------------------------------------------------------


def test_tell_puts_an_envelope_without_reply_to_on_the_inbox(actor: BareActor) -> None:
    actor.actor_ref.tell("hello")
    (envelope,) = inbox_of(actor).items
    assert type(envelope) is Envelope
    assert envelope.message == "hello"
    assert envelope.reply_to is None


def test_ask_puts_an_envelope_whose_reply_to_comes_from_create_future(
    actor: BareActor, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[pykka.Future[Any]] = []

    def create_future() -> pykka.Future[Any]:
        future: pykka.Future[Any] = pykka.ThreadingFuture()
        made.append(future)
        return future

    # ask() calls _create_future on the ref's actor_class, not on the instance.
    monkeypatch.setattr(BareActor, "_create_future", staticmethod(create_future))
    returned = actor.actor_ref.ask("question", block=False)
    (envelope,) = inbox_of(actor).items
    assert envelope.message == "question"
    assert made == [returned]
    assert envelope.reply_to is returned


def test_tell_and_ask_to_a_stopped_actor_raise_actor_dead_error_without_putting(
    actor: BareActor,
) -> None:
    actor.actor_stopped.set()
    with pytest.raises(ActorDeadError):
        actor.actor_ref.tell("x")
    with pytest.raises(ActorDeadError):
        actor.actor_ref.ask("x", timeout=1)
    assert inbox_of(actor).empty()
    assert actor.actor_ref.is_alive() is False


def test_ref_stop_asks_an_actor_stop_message_and_converts_the_reply(actor: BareActor) -> None:
    stopping = actor.actor_ref.stop(block=False)
    (envelope,) = inbox_of(actor).items
    assert isinstance(envelope.message, messages._ActorStop)
    assert envelope.reply_to is not None
    envelope.reply_to.set(None)
    assert stopping.get(timeout=1) is True


def test_ref_stop_reports_false_when_the_stop_is_answered_with_actor_dead_error(
    actor: BareActor,
) -> None:
    stopping = actor.actor_ref.stop(block=False)
    (envelope,) = inbox_of(actor).items
    assert envelope.reply_to is not None
    envelope.reply_to.set_exception(exc_info=(ActorDeadError, ActorDeadError("gone"), None))
    assert stopping.get(timeout=1) is False


def test_actor_stop_message_is_an_empty_named_tuple() -> None:
    assert messages._ActorStop() == ()
    assert isinstance(messages._ActorStop(), tuple)


# -- Actor._handle_receive ---------------------------------------------------------------------


def test_handle_receive_sends_actor_stop_to_stop(
    actor: BareActor, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(actor, "_stop", lambda: calls.append("_stop"))
    assert actor._handle_receive(messages._ActorStop()) is None
    assert calls == ["_stop"]
    assert actor.events == []


def test_handle_receive_runs_proxy_messages_on_the_actor(actor: BareActor) -> None:
    assert actor._handle_receive(messages.ProxyCall(("method",), (1,), {"b": 2})) == 3
    assert actor._handle_receive(messages.ProxyGetAttr(("events",))) is actor.events
    actor._handle_receive(messages.ProxySetAttr(("answer",), 42))
    assert actor.answer == 42  # type: ignore[attr-defined]
    assert actor.events == []


def test_handle_receive_sends_other_messages_to_on_receive(actor: BareActor) -> None:
    assert actor._handle_receive("plain") == ("echo", "plain")
    assert actor.events == [("on_receive", "plain")]


def test_handle_receive_lets_on_receive_exceptions_propagate(actor: BareActor) -> None:
    with pytest.raises(ValueError, match="boom"):
        actor._handle_receive(ValueError("boom"))


# -- the loop pieces: setup, running (mirrored by PooledActor), teardown -------------------------


def test_actor_loop_setup_calls_on_start(actor: BareActor) -> None:
    actor._actor_loop_setup()
    assert actor.events == ["on_start"]
    assert not actor.actor_stopped.is_set()


def test_actor_loop_setup_hands_an_on_start_exception_to_handle_failure(
    actor: BareActor, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures: list[tuple[Any, ...]] = []
    error = ValueError("on_start failed")

    def on_start() -> None:
        raise error

    monkeypatch.setattr(actor, "on_start", on_start)
    monkeypatch.setattr(actor, "_handle_failure", lambda *exc_info: failures.append(exc_info))
    actor._actor_loop_setup()
    ((exc_type, exc_value, traceback),) = failures
    assert exc_type is ValueError
    assert exc_value is error
    assert traceback is not None
    assert actor.events == []  # on_failure is not called for on_start failures


def test_actor_loop_setup_does_not_catch_base_exceptions(
    actor: BareActor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def on_start() -> None:
        raise SystemExit(3)

    monkeypatch.setattr(actor, "on_start", on_start)
    with pytest.raises(SystemExit):
        actor._actor_loop_setup()


def test_actor_loop_teardown_answers_queued_asks_and_drops_tells(actor: BareActor) -> None:
    inbox = inbox_of(actor)
    asked: pykka.Future[Any] = pykka.ThreadingFuture()
    stop_asked: pykka.Future[Any] = pykka.ThreadingFuture()
    inbox.put(Envelope("told"))
    inbox.put(Envelope("asked", reply_to=asked))
    inbox.put(Envelope(messages._ActorStop(), reply_to=stop_asked))
    actor._actor_loop_teardown()
    assert inbox.empty()
    with pytest.raises(ActorDeadError, match="stopped before handling the message"):
        asked.get(timeout=1)
    assert stop_asked.get(timeout=1) is None
    assert actor.events == []  # nothing was handled


def test_actor_loop_teardown_uses_only_empty_and_get_of_the_inbox(actor: BareActor) -> None:
    source = inspect.getsource(pykka.Actor._actor_loop_teardown)
    assert "self.actor_inbox.empty()" in source
    assert "self.actor_inbox.get()" in source


def run_pykka_loop(actor: BareActor, *envelopes: Envelope[Any]) -> None:
    """Run pykka's own running loop over ``envelopes``, then a stop, on the calling thread."""
    inbox = inbox_of(actor)
    for envelope in envelopes:
        inbox.put(envelope)
    inbox.put(Envelope(messages._ActorStop()))
    actor._actor_loop_running()


def test_running_loop_replies_to_an_ask_with_the_handler_result(actor: BareActor) -> None:
    future: pykka.Future[Any] = pykka.ThreadingFuture()
    run_pykka_loop(actor, Envelope("q", reply_to=future))
    assert future.get(timeout=1) == ("echo", "q")


def test_running_loop_sends_an_ask_exception_to_the_caller_and_lives_on(
    actor: BareActor,
) -> None:
    future: pykka.Future[Any] = pykka.ThreadingFuture()
    after: pykka.Future[Any] = pykka.ThreadingFuture()
    run_pykka_loop(
        actor, Envelope(ValueError("boom"), reply_to=future), Envelope("after", reply_to=after)
    )
    with pytest.raises(ValueError, match="boom"):
        future.get(timeout=1)
    assert after.get(timeout=1) == ("echo", "after")
    assert not any(e[0] == "on_failure" for e in actor.events if isinstance(e, tuple))


def test_running_loop_fails_the_actor_on_a_tell_exception(
    actor: BareActor, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures: list[object] = []
    real_handle_failure = actor._handle_failure

    def handle_failure(*exc_info: Any) -> None:
        failures.append(exc_info[1])
        real_handle_failure(*exc_info)

    monkeypatch.setattr(actor, "_handle_failure", handle_failure)
    error = ValueError("boom")
    inbox_of(actor).put(Envelope(error))
    inbox_of(actor).put(Envelope("never handled"))
    actor._actor_loop_running()
    assert failures == [error]
    assert actor.events == [("on_receive", error), ("on_failure", error)]
    assert actor.actor_stopped.is_set()
    assert len(inbox_of(actor).items) == 1  # left for _actor_loop_teardown


def test_running_loop_stops_every_actor_on_a_base_exception(
    actor: BareActor, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop_all_calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        ActorRegistry, "stop_all", lambda **kwargs: stop_all_calls.append(kwargs) or []
    )
    inbox_of(actor).put(Envelope(SystemExit))
    actor._actor_loop_running()
    assert actor.actor_stopped.is_set()
    assert actor.events == [("on_receive", SystemExit), "on_stop"]
    # pykka blocks here; PooledActor deliberately calls stop_all(block=False) instead.
    assert stop_all_calls == [{}]


# -- _handle_failure and _stop -----------------------------------------------------------------


def test_handle_failure_sets_actor_stopped_and_unregisters(actor: BareActor) -> None:
    ActorRegistry.register(actor.actor_ref)
    try:
        raise ValueError("boom")
    except ValueError:
        actor._handle_failure(*sys.exc_info())
    assert actor.actor_stopped.is_set()
    assert actor.actor_ref not in ActorRegistry.get_all()
    assert actor.events == []  # on_failure is the caller's job


def test_handle_failure_and_stop_accept_an_unregistered_ref(actor: BareActor) -> None:
    # Pooled actors are never registered, and both paths call ActorRegistry.unregister.
    actor._handle_failure(ValueError, ValueError("x"), None)
    actor._stop()
    assert actor.actor_stopped.is_set()


def test_stop_sets_actor_stopped_unregisters_and_calls_on_stop(actor: BareActor) -> None:
    ActorRegistry.register(actor.actor_ref)
    actor._stop()
    assert actor.actor_stopped.is_set()
    assert actor.actor_ref not in ActorRegistry.get_all()
    assert actor.events == ["on_stop"]


def test_stop_hands_an_on_stop_exception_to_handle_failure(
    actor: BareActor, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures: list[object] = []
    error = RuntimeError("on_stop failed")

    def on_stop() -> None:
        raise error

    monkeypatch.setattr(actor, "on_stop", on_stop)
    monkeypatch.setattr(actor, "_handle_failure", lambda *exc_info: failures.append(exc_info[1]))
    actor._stop()
    assert failures == [error]


# -- Envelope ----------------------------------------------------------------------------------


def test_envelope_has_message_and_reply_to_slots() -> None:
    assert tuple(Envelope.__slots__) == ("message", "reply_to")
    future: pykka.Future[Any] = pykka.ThreadingFuture()
    assert Envelope("m").reply_to is None
    envelope = Envelope("m", reply_to=future)
    assert envelope.message == "m"
    assert envelope.reply_to is future
    with pytest.raises(AttributeError):
        envelope.other = 1  # type: ignore[attr-defined]


def test_envelope_takes_reply_to_by_keyword() -> None:
    parameters = inspect.signature(Envelope.__init__).parameters
    assert list(parameters) == ["self", "message", "reply_to"]
    assert parameters["reply_to"].default is None


# -- ThreadingFuture ---------------------------------------------------------------------------


def test_threading_future_get_returns_the_value_set_from_another_thread() -> None:
    future: pykka.ThreadingFuture[int] = pykka.ThreadingFuture()
    setter = threading.Thread(target=future.set, args=(7,))
    setter.start()
    assert future.get(timeout=5) == 7
    assert future.get(timeout=0) == 7  # the value stays
    setter.join(5)


def test_threading_future_get_times_out_with_pykka_timeout() -> None:
    future: pykka.ThreadingFuture[int] = pykka.ThreadingFuture()
    with pytest.raises(pykka.Timeout):
        future.get(timeout=0.01)


def test_threading_future_set_exception_without_arguments_uses_the_current_exception() -> None:
    future: pykka.ThreadingFuture[int] = pykka.ThreadingFuture()
    error = ValueError("from the handler")
    try:
        raise error
    except ValueError:
        future.set_exception()
    with pytest.raises(ValueError, match="from the handler") as raised:
        future.get(timeout=1)
    assert raised.value is error


def test_threading_future_set_exception_with_exc_info_raises_it() -> None:
    future: pykka.ThreadingFuture[int] = pykka.ThreadingFuture()
    future.set_exception(exc_info=(ActorDeadError, ActorDeadError("dead"), None))
    with pytest.raises(ActorDeadError, match="dead"):
        future.get(timeout=1)


def test_threading_future_refuses_a_second_result() -> None:
    future: pykka.ThreadingFuture[int] = pykka.ThreadingFuture()
    future.set(1)
    with pytest.raises(queue.Full):
        future.set(2)
    with pytest.raises(queue.Full):
        future.set_exception(exc_info=(ValueError, ValueError(), None))
    assert future.get(timeout=1) == 1
