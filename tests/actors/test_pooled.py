"""PooledActor keeps pykka's semantics while many actors share a few dispatcher threads."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pykka
import pytest
from pykka import ActorDeadError, ActorRegistry
from pykka._envelope import Envelope

from runtime.actors import Dispatcher, PooledActor, PooledInbox
from runtime.actors._pooled import StopFlag

TIMEOUT = 5.0


# -- helpers -----------------------------------------------------------------------------------


class Gate:
    """Hold a handler inside its turn until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def block(self) -> None:
        self.entered.set()
        if not self.opened.wait(TIMEOUT):
            raise TimeoutError("the test never opened the gate")

    def open(self) -> None:
        self.opened.set()


@dataclass(frozen=True)
class Block:
    gate: Gate


@dataclass(frozen=True)
class Raise:
    error: BaseException


@dataclass
class Probe:
    """What a ProbeActor saw, readable by the test without touching the actor."""

    handled: list[Any] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    failed: threading.Event = field(default_factory=threading.Event)
    failures: list[tuple[Any, Any, Any]] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)
    successor: dict[str, Any] = field(default_factory=dict)  # for actors that replace themselves


class ProbeActor(PooledActor):
    """Record every hook; ``Block`` waits on a gate, ``Raise`` raises, anything else echoes."""

    def __init__(
        self, *, dispatcher: Dispatcher, probe: Probe, inbox: PooledInbox | None = None
    ) -> None:
        super().__init__(dispatcher=dispatcher, inbox=inbox)
        self.probe = probe
        self.value = "initial"

    def on_start(self) -> None:
        self.probe.threads.append(threading.current_thread().name)
        self.probe.started.set()

    def on_stop(self) -> None:
        self.probe.stopped.set()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self.probe.failures.append((exception_type, exception_value, traceback))
        self.probe.failed.set()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Block):
            message.gate.block()
            return None
        if isinstance(message, Raise):
            raise message.error
        self.probe.handled.append(message)
        return message

    def add(self, a: int, b: int = 0) -> int:
        return a + b


def start_probe(dispatcher: Dispatcher, **kwargs: Any) -> tuple[pykka.ActorRef[Any], Probe]:
    probe = Probe()
    ref = ProbeActor.start(dispatcher=dispatcher, probe=probe, **kwargs)
    return ref, probe


@pytest.fixture
def make_dispatcher(
    make_dispatcher: Callable[..., Dispatcher],
) -> Callable[..., Dispatcher]:
    """The shared fixture, with this module's defaults (2 workers, up to 8, 50 ms stalls)."""

    def make(**kwargs: Any) -> Dispatcher:
        return make_dispatcher(**{"workers": 2, "max_workers": 8, "stall_after": 0.05, **kwargs})

    return make


@pytest.fixture
def dispatcher(make_dispatcher: Callable[..., Dispatcher]) -> Dispatcher:
    return make_dispatcher()


@pytest.fixture
def gate(dispatcher: Dispatcher) -> Iterator[Gate]:
    """A gate that is opened after the test, before its dispatcher stops."""
    gate = Gate()
    yield gate
    gate.open()


def hold(ref: pykka.ActorRef[Any], gate: Gate) -> None:
    """Make the actor wait on ``gate`` in its current turn, and wait until it does."""
    ref.tell(Block(gate))
    assert gate.entered.wait(TIMEOUT)


# -- ordering ----------------------------------------------------------------------------------


def test_each_senders_messages_are_handled_in_its_send_order_under_many_concurrent_senders(
    dispatcher: Dispatcher,
) -> None:
    ref, probe = start_probe(dispatcher)
    senders, per_sender = 8, 500
    go = threading.Barrier(senders)

    def send(sender: int) -> None:
        go.wait(TIMEOUT)
        for seq in range(per_sender):
            ref.tell((sender, seq))

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert ref.ask("flush", timeout=TIMEOUT) == "flush"  # FIFO: everything before it is done

    handled = probe.handled[:-1]
    assert len(handled) == senders * per_sender
    for sender in range(senders):
        assert [seq for s, seq in handled if s == sender] == list(range(per_sender))


def test_messages_are_handled_in_exactly_the_order_they_were_put_by_concurrent_senders(
    dispatcher: Dispatcher,
) -> None:
    ref, probe = start_probe(dispatcher)
    order = itertools.count()
    put_lock = threading.Lock()  # makes the put order observable: it is the counter's order
    senders, per_sender = 6, 400

    def send() -> None:
        for _ in range(per_sender):
            with put_lock:
                ref.tell(next(order))

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    ref.ask("flush", timeout=TIMEOUT)
    assert probe.handled[:-1] == list(range(senders * per_sender))


def test_asks_and_tells_from_one_sender_are_handled_in_send_order(
    dispatcher: Dispatcher,
) -> None:
    ref, probe = start_probe(dispatcher)
    futures = []
    for i in range(200):
        if i % 3:
            ref.tell(i)
        else:
            futures.append(ref.ask(i, block=False))
    assert [f.get(timeout=TIMEOUT) for f in futures] == list(range(0, 200, 3))
    assert probe.handled == list(range(200))


# -- ask, tell and failures ----------------------------------------------------------------------


def test_ask_returns_the_handlers_value(dispatcher: Dispatcher) -> None:
    ref, _ = start_probe(dispatcher)
    assert ref.ask({"answer": 42}, timeout=TIMEOUT) == {"answer": 42}
    assert isinstance(ref.ask("x", block=False), pykka.ThreadingFuture)


def test_an_exception_under_ask_goes_to_the_caller_and_the_actor_lives(
    dispatcher: Dispatcher,
) -> None:
    ref, probe = start_probe(dispatcher)
    with pytest.raises(ValueError, match="bad question"):
        ref.ask(Raise(ValueError("bad question")), timeout=TIMEOUT)
    assert ref.is_alive()
    assert ref.ask("still here", timeout=TIMEOUT) == "still here"
    assert probe.failures == []


def test_an_exception_under_tell_fails_the_actor_and_queued_asks_get_actor_dead_error(
    dispatcher: Dispatcher, gate: Gate
) -> None:
    ref, probe = start_probe(dispatcher)
    hold(ref, gate)
    error = ValueError("bad tell")
    ref.tell(Raise(error))
    ref.tell("queued tell")
    queued_asks = [ref.ask(f"queued ask {i}", block=False) for i in range(3)]
    gate.open()

    assert probe.failed.wait(TIMEOUT)
    assert ref.actor_stopped.wait(TIMEOUT)
    assert not ref.is_alive()
    ((exc_type, exc_value, traceback),) = probe.failures
    assert (exc_type, exc_value) == (ValueError, error)
    assert traceback is not None
    for future in queued_asks:
        with pytest.raises(ActorDeadError):
            future.get(timeout=TIMEOUT)
    assert probe.handled == []  # the queued tell vanished, like in pykka
    assert not probe.stopped.is_set()  # on_stop is not called on failure
    with pytest.raises(ActorDeadError):
        ref.tell("after death")
    with pytest.raises(ActorDeadError):
        ref.ask("after death", timeout=TIMEOUT)


def test_an_exception_in_on_start_stops_the_actor_without_calling_on_failure(
    dispatcher: Dispatcher,
) -> None:
    stopped_by_on_start = threading.Event()

    class FailsToStart(ProbeActor):
        def on_start(self) -> None:
            stopped_by_on_start.set()
            raise RuntimeError("cannot start")

    probe = Probe()
    ref = FailsToStart.start(dispatcher=dispatcher, probe=probe)
    assert stopped_by_on_start.wait(TIMEOUT)
    assert ref.actor_stopped.wait(TIMEOUT)
    assert probe.failures == []
    with pytest.raises(ActorDeadError):
        ref.ask("anything", timeout=TIMEOUT)


# -- lifecycle ---------------------------------------------------------------------------------


def test_on_start_runs_on_a_dispatcher_worker_before_the_first_message(
    dispatcher: Dispatcher,
) -> None:
    seen_at_first_message: list[bool] = []

    class Checks(ProbeActor):
        def on_receive(self, message: Any) -> Any:
            seen_at_first_message.append(self.probe.started.is_set())
            return super().on_receive(message)

    probe = Probe()
    ref = Checks.start(dispatcher=dispatcher, probe=probe)
    ref.ask("first", timeout=TIMEOUT)
    assert seen_at_first_message == [True]
    (thread_name,) = probe.threads
    assert thread_name != threading.current_thread().name
    assert "-worker-" in thread_name


def test_ref_stop_blocks_until_on_stop_ran_and_later_asks_raise_actor_dead_error(
    dispatcher: Dispatcher,
) -> None:
    ref, probe = start_probe(dispatcher)
    ref.tell("before stop")
    assert ref.stop(block=True, timeout=TIMEOUT) is True
    assert probe.stopped.is_set()
    assert not ref.is_alive()
    assert probe.handled == ["before stop"]
    with pytest.raises(ActorDeadError):
        ref.ask("after stop", timeout=TIMEOUT)
    assert ref.stop(timeout=TIMEOUT) is False  # already dead, as in pykka


def test_messages_sent_before_stop_are_handled_and_asks_after_it_get_actor_dead_error(
    dispatcher: Dispatcher, gate: Gate
) -> None:
    ref, probe = start_probe(dispatcher)
    hold(ref, gate)
    ref.tell("a")
    ref.tell("b")
    stopping = ref.stop(block=False)
    late = ref.ask("late", block=False)  # still alive when asked: queued behind the stop
    gate.open()
    assert stopping.get(timeout=TIMEOUT) is True
    with pytest.raises(ActorDeadError):
        late.get(timeout=TIMEOUT)
    assert probe.handled == ["a", "b"]


def test_an_actor_can_stop_itself_from_a_handler(dispatcher: Dispatcher) -> None:
    class StopsItself(ProbeActor):
        def on_receive(self, message: Any) -> Any:
            if message == "quit":
                self.stop()
            return super().on_receive(message)

    probe = Probe()
    ref = StopsItself.start(dispatcher=dispatcher, probe=probe)
    ref.tell("quit")
    assert probe.stopped.wait(TIMEOUT)
    assert ref.actor_stopped.wait(TIMEOUT)


# -- proxies -----------------------------------------------------------------------------------


def test_proxies_call_methods_and_read_and_set_attributes(dispatcher: Dispatcher) -> None:
    ref, _ = start_probe(dispatcher)
    proxy = ref.proxy()
    assert proxy.add(2, b=3).get(timeout=TIMEOUT) == 5
    assert proxy.value.get(timeout=TIMEOUT) == "initial"
    proxy.value = "changed"
    assert proxy.value.get(timeout=TIMEOUT) == "changed"


def test_a_proxy_method_exception_goes_to_the_caller(dispatcher: Dispatcher) -> None:
    ref, _ = start_probe(dispatcher)
    with pytest.raises(TypeError):
        ref.proxy().add("not a number", 1).get(timeout=TIMEOUT)
    assert ref.is_alive()


# -- BaseException, the registry ---------------------------------------------------------------


class Sleeper(pykka.ThreadingActor):
    """A plain pykka actor on its own thread, registered in ActorRegistry."""

    def __init__(self, stopped: threading.Event) -> None:
        super().__init__()
        self.stopped = stopped

    def on_stop(self) -> None:
        self.stopped.set()


def test_a_base_exception_under_tell_stops_the_actor_and_registered_actors_but_not_the_pool(
    dispatcher: Dispatcher, gate: Gate
) -> None:
    threading_stopped = threading.Event()
    threading_ref = Sleeper.start(threading_stopped)
    victim, victim_probe = start_probe(dispatcher)
    bystander, _ = start_probe(dispatcher)
    hold(victim, gate)
    victim.tell(Raise(SystemExit(3)))
    queued = victim.ask("queued", block=False)
    gate.open()

    assert victim.actor_stopped.wait(TIMEOUT)
    assert victim_probe.stopped.wait(TIMEOUT)  # like pykka: _stop() runs on_stop
    with pytest.raises(ActorDeadError):
        queued.get(timeout=TIMEOUT)
    assert threading_stopped.wait(TIMEOUT)  # ActorRegistry.stop_all reached it
    assert threading_ref.actor_stopped.wait(TIMEOUT)
    # The worker that caught SystemExit lives on, and so do other pooled actors.
    assert bystander.is_alive()
    for i in range(20):
        assert bystander.ask(i, timeout=TIMEOUT) == i
    assert dispatcher.statistics().workers >= 2


def test_pooled_actors_are_not_in_the_actor_registry(dispatcher: Dispatcher) -> None:
    refs = [start_probe(dispatcher)[0] for _ in range(5)]
    for ref in refs:
        ref.ask("ping", timeout=TIMEOUT)
    registered = ActorRegistry.get_all()
    assert not any(ref in registered for ref in refs)
    assert ActorRegistry.get_by_class(ProbeActor) == []
    assert ActorRegistry.get_by_urn(refs[0].actor_urn) is None


# -- one worker at a time, scale ---------------------------------------------------------------


def test_an_actor_never_runs_on_two_workers_at_once(
    make_dispatcher: Callable[..., Dispatcher],
) -> None:
    # Budget 1: every message ends a slice, so each actor goes back on the run queue after
    # every message and is free to be picked by any of the four workers.
    dispatcher = make_dispatcher(workers=4, max_workers=4, slice_budget=1)
    lock = threading.Lock()
    inside: dict[int, int] = {}
    overlaps: list[int] = []
    workers_seen: set[str] = set()

    class Counting(PooledActor):
        def __init__(self, key: int) -> None:
            super().__init__(dispatcher=dispatcher)
            self.key = key

        def on_receive(self, message: Any) -> Any:
            with lock:
                inside[self.key] = inside.get(self.key, 0) + 1
                if inside[self.key] > 1:
                    overlaps.append(self.key)
                workers_seen.add(threading.current_thread().name)
            sum(range(500))  # some work, so a GIL switch can land inside the turn
            with lock:
                inside[self.key] -= 1
            return message

    actors = [Counting.start(key) for key in range(6)]
    go = threading.Barrier(4)

    def send() -> None:
        go.wait(TIMEOUT)
        for i in range(400):
            for ref in actors:
                ref.tell(i)

    senders = [threading.Thread(target=send) for _ in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(TIMEOUT)
    for ref in actors:
        assert ref.ask("flush", timeout=TIMEOUT) == "flush"
    assert overlaps == []
    assert len(workers_seen) >= 2  # the test did exercise more than one worker


@pytest.mark.slow
def test_ten_thousand_live_actors_run_on_two_workers_with_few_threads(
    make_dispatcher: Callable[..., Dispatcher],
) -> None:
    threads_before = threading.active_count()
    dispatcher = make_dispatcher(workers=2, max_workers=4)
    count = 10_000
    handled: list[int] = []

    class Tiny(PooledActor):
        def __init__(self, key: int) -> None:
            super().__init__(dispatcher=dispatcher)
            self.key = key

        def on_receive(self, message: Any) -> Any:
            if message == "tell":
                handled.append(self.key)
                return None
            return (self.key, message)

    refs = [Tiny.start(key) for key in range(count)]
    assert all(ref.is_alive() for ref in refs)
    for ref in refs:
        ref.tell("tell")
    futures = [ref.ask("ask", block=False) for ref in refs]
    assert [f.get(timeout=30) for f in futures] == [(key, "ask") for key in range(count)]
    assert sorted(handled) == list(range(count))  # every tell ran (FIFO: before its ask)
    # The dispatcher's workers (at most max_workers) plus its monitor: nothing per actor.
    assert threading.active_count() <= threads_before + dispatcher.max_workers + 1
    assert threading.active_count() < count // 100


# -- adopting an inbox -------------------------------------------------------------------------


def test_an_actor_adopting_an_ownerless_inbox_handles_its_queued_messages_in_order(
    dispatcher: Dispatcher,
) -> None:
    inbox = PooledInbox()
    asked: pykka.ThreadingFuture[Any] = pykka.ThreadingFuture()
    for i in range(50):
        inbox.put(Envelope(i))
    inbox.put(Envelope("last", reply_to=asked))
    assert len(inbox) == 51  # nobody owns it yet: nothing runs

    ref, probe = start_probe(dispatcher, inbox=inbox)
    assert ref.actor_inbox is inbox
    assert asked.get(timeout=TIMEOUT) == "last"
    assert probe.handled == [*range(50), "last"]
    assert inbox.owner is not None


def test_an_actor_adopting_a_stopped_actors_inbox_gets_later_messages_in_order(
    dispatcher: Dispatcher,
) -> None:
    old, old_probe = start_probe(dispatcher)
    old.tell("for the old one")
    assert old.stop(timeout=TIMEOUT) is True

    new, new_probe = start_probe(dispatcher, inbox=old.actor_inbox)
    for i in range(20):
        new.tell(i)
    assert new.ask("done", timeout=TIMEOUT) == "done"
    assert old_probe.handled == ["for the old one"]
    assert new_probe.handled == [*range(20), "done"]


class ReplacesItselfOnFailure(ProbeActor):
    """Replace itself on failure with an actor of its class that adopts its inbox."""

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        super().on_failure(exception_type, exception_value, traceback)
        successor = self.probe.successor
        successor["ref"] = type(self).start(
            dispatcher=self._dispatcher, probe=successor["probe"], inbox=self.actor_inbox
        )


class LeavesAdoptedInboxToSuccessor(ReplacesItselfOnFailure):
    """Like SessionActor, leave the queued messages to the replacement instead of failing them."""

    def _actor_loop_teardown(self) -> None:
        inbox = self.actor_inbox
        assert isinstance(inbox, PooledInbox)
        if inbox.owner is not self:
            return  # the replacement owns the inbox and its queued messages now
        super()._actor_loop_teardown()


def replace_on_failure_and_collect(
    dispatcher: Dispatcher, gate: Gate, actor_class: type[ProbeActor]
) -> tuple[Probe, Probe, list[pykka.Future[Any]]]:
    """Queue messages behind a failing tell; return both probes and the queued asks."""
    probe, successor_probe = Probe(), Probe()
    probe.successor["probe"] = successor_probe
    old = actor_class.start(dispatcher=dispatcher, probe=probe)
    hold(old, gate)
    old.tell(Raise(ValueError("crash")))
    futures: list[pykka.Future[Any]] = []
    for i in range(30):
        if i % 5 == 4:
            futures.append(old.ask(i, block=False))
        else:
            old.tell(i)
    gate.open()
    assert probe.failed.wait(TIMEOUT)
    return probe, successor_probe, futures


def test_a_replacement_adopting_a_failed_actors_inbox_gets_the_queued_messages_in_order(
    dispatcher: Dispatcher, gate: Gate
) -> None:
    probe, successor_probe, futures = replace_on_failure_and_collect(
        dispatcher, gate, LeavesAdoptedInboxToSuccessor
    )
    assert [f.get(timeout=TIMEOUT) for f in futures] == [4, 9, 14, 19, 24, 29]
    assert successor_probe.handled == list(range(30))
    assert probe.successor["ref"].is_alive()


def test_a_plain_pooled_replacement_adopting_a_failed_actors_inbox_keeps_the_queued_messages(
    dispatcher: Dispatcher, gate: Gate
) -> None:
    # Regression: the dead predecessor's slice used to run pykka's _actor_loop_teardown() on
    # the inbox its replacement already owned, failing the queued asks and dropping the tells.
    _, successor_probe, futures = replace_on_failure_and_collect(
        dispatcher, gate, ReplacesItselfOnFailure
    )
    assert [f.get(timeout=TIMEOUT) for f in futures] == [4, 9, 14, 19, 24, 29]
    assert successor_probe.handled == list(range(30))


def test_a_stop_flag_can_be_waited_on_like_an_event() -> None:
    flag = StopFlag()
    assert not flag.is_set()
    assert flag.wait(0.01) is False
    threading.Timer(0.01, flag.set).start()
    assert flag.wait(TIMEOUT) is True
    assert flag.is_set()
    assert StopFlag().wait(0) is False


def test_the_stop_flag_is_made_on_first_use_and_is_the_one_refs_and_slices_see(
    dispatcher: Dispatcher,
) -> None:
    probe = Probe()
    actor = ProbeActor.spawn(dispatcher=dispatcher, probe=probe)
    assert probe.started.wait(TIMEOUT)
    assert actor.actor_inbox.ask("hi").get(timeout=TIMEOUT) == "hi"
    assert actor._stop_flag is None  # a live actor that nobody stopped or asked about has none
    flag = actor.actor_stopped
    assert actor.actor_stopped is flag
    ref = actor.actor_ref
    assert ref.actor_stopped is flag
    assert ref.is_alive()
    ref.stop()
    assert flag.wait(TIMEOUT)
    assert not ref.is_alive()
    with pytest.raises(ActorDeadError):
        ref.ask("late")
