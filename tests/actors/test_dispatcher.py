"""The dispatcher: FIFO + budget fairness, growth while slices block, retirement, stop, safety."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs

from runtime.actors import Dispatcher, DispatcherStats, PooledActor

TIMEOUT = 5.0


# -- helpers -----------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; return whether it held."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            return False
        pause.wait(0.01)
    return True


def holds_throughout(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` for ``seconds``; return whether it held at every look."""
    deadline = time.monotonic() + seconds
    pause = threading.Event()
    while time.monotonic() < deadline:
        if not condition():
            return False
        pause.wait(0.01)
    return condition()


class Turnstile:
    """Hold handlers inside their turn until opened; count how many are inside at once."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._opened = False
        self.inside = 0
        self.peak = 0
        self.entered = 0

    def block(self) -> None:
        with self._condition:
            self.inside += 1
            self.entered += 1
            self.peak = max(self.peak, self.inside)
            self._condition.notify_all()
            opened = self._condition.wait_for(lambda: self._opened, TIMEOUT)
            self.inside -= 1
        if not opened:
            raise TimeoutError("the test never opened the turnstile")

    def wait_entered(self, count: int) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self.entered >= count, TIMEOUT)

    def open(self) -> None:
        with self._condition:
            self._opened = True
            self._condition.notify_all()


class Recorder(PooledActor):
    """Append ``(name, message)`` to a shared log; ``"block"`` waits on the turnstile."""

    def __init__(
        self, *, dispatcher: Dispatcher, name: str, log: list[Any], turnstile: Turnstile
    ) -> None:
        super().__init__(dispatcher=dispatcher)
        self.name = name
        self.log = log
        self.turnstile = turnstile

    def on_receive(self, message: Any) -> Any:
        if message == "block":
            self.turnstile.block()
            return None
        self.log.append((self.name, message))
        return message


@pytest.fixture
def turnstile(make_dispatcher: Callable[..., Dispatcher]) -> Iterator[Turnstile]:
    """A turnstile opened after the test, before its dispatchers stop."""
    turnstile = Turnstile()
    yield turnstile
    turnstile.open()


@pytest.fixture
def log() -> list[Any]:
    return []


def start_recorders(
    dispatcher: Dispatcher, log: list[Any], turnstile: Turnstile, *names: str
) -> list[pykka.ActorRef[Recorder]]:
    refs = [
        Recorder.start(dispatcher=dispatcher, name=name, log=log, turnstile=turnstile)
        for name in names
    ]
    for ref in refs:
        assert ref.ask("started", timeout=TIMEOUT) == "started"  # on_start slices are done
    log.clear()
    return refs


def position(log: list[Any], entry: Any) -> int:
    return log.index(entry)


# -- fairness: FIFO run queue + slice budget -----------------------------------------------------


def test_a_flooded_actor_yields_to_another_actor_after_the_rest_of_its_slice(
    make_dispatcher: Callable[..., Dispatcher], log: list[Any], turnstile: Turnstile
) -> None:
    # One worker and no growth, so the order is forced: the flooder is mid-slice (held on its
    # first message) when its backlog and the victim's message arrive. The victim is queued
    # first; the flooder's slice goes on for the rest of its budget, then the flooder goes
    # back on the run queue *behind* the victim. So exactly slice_budget - 1 flood messages
    # run before the victim's, out of thousands queued.
    budget = 8
    dispatcher = make_dispatcher(workers=1, max_workers=1, slice_budget=budget)
    flooder, victim = start_recorders(dispatcher, log, turnstile, "flooder", "victim")
    flooder.tell("block")
    assert turnstile.wait_entered(1)
    backlog = 5_000
    for i in range(backlog):
        flooder.tell(i)
    victim.tell("hello")
    turnstile.open()
    assert flooder.ask("flush", timeout=TIMEOUT) == "flush"

    floods_before_victim = position(log, ("victim", "hello"))
    assert floods_before_victim == budget - 1
    assert log[:floods_before_victim] == [("flooder", i) for i in range(budget - 1)]
    assert len(log) == backlog + 2  # nothing lost: every flood message, the victim, the flush


def test_a_message_waits_at_most_one_slice_per_actor_queued_before_it(
    make_dispatcher: Callable[..., Dispatcher], log: list[Any], turnstile: Turnstile
) -> None:
    # The holder keeps the only worker while three flooders with big backlogs, then the
    # victim, join the run queue in that order. FIFO + budget: each flooder gets one slice of
    # exactly slice_budget messages, then the victim runs: 3 * budget flood messages first.
    budget = 5
    dispatcher = make_dispatcher(workers=1, max_workers=1, slice_budget=budget)
    holder, *flooders, victim = start_recorders(
        dispatcher, log, turnstile, "holder", "f1", "f2", "f3", "victim"
    )
    holder.tell("block")
    assert turnstile.wait_entered(1)
    for flooder in flooders:
        for i in range(2_000):
            flooder.tell(i)
    victim.tell("hello")
    turnstile.open()
    for flooder in flooders:
        assert flooder.ask("flush", timeout=TIMEOUT) == "flush"

    before_victim = log[: position(log, ("victim", "hello"))]
    assert len(before_victim) == len(flooders) * budget
    expected = [(name, i) for name in ("f1", "f2", "f3") for i in range(budget)]
    assert before_victim == expected


def test_flooders_take_turns_slice_by_slice(
    make_dispatcher: Callable[..., Dispatcher], log: list[Any], turnstile: Turnstile
) -> None:
    budget = 4
    dispatcher = make_dispatcher(workers=1, max_workers=1, slice_budget=budget)
    holder, a, b = start_recorders(dispatcher, log, turnstile, "holder", "a", "b")
    holder.tell("block")
    assert turnstile.wait_entered(1)
    for i in range(40):
        a.tell(i)
    for i in range(40):
        b.tell(i)
    turnstile.open()
    a.ask("flush", timeout=TIMEOUT)
    b.ask("flush", timeout=TIMEOUT)

    names = [name for name, _ in log[:80]]
    runs = [names[i : i + budget] for i in range(0, 80, budget)]
    assert runs == [[name] * budget for _ in range(10) for name in ("a", "b")]


# -- blocking bodies ---------------------------------------------------------------------------


def test_other_actors_progress_while_handlers_block_because_the_pool_grows(
    make_dispatcher: Callable[..., Dispatcher], log: list[Any], turnstile: Turnstile
) -> None:
    dispatcher = make_dispatcher(workers=2, max_workers=8, stall_after=0.02, idle_timeout=5)
    blockers = start_recorders(dispatcher, log, turnstile, "b1", "b2", "b3")
    others = start_recorders(dispatcher, log, turnstile, *(f"o{i}" for i in range(5)))
    for blocker in blockers:
        blocker.tell("block")
    # Two blockers hold both initial workers; the third only runs once the pool has grown.
    assert turnstile.wait_entered(3)
    for i, other in enumerate(others):
        assert other.ask(i, timeout=TIMEOUT) == i
    assert dispatcher.statistics().peak_workers > 2
    # A slice counts as stalled once it is older than stall_after.
    assert wait_for(lambda: dispatcher.statistics().stalled_workers == 3)
    turnstile.open()
    for blocker in blockers:
        assert blocker.ask("after", timeout=TIMEOUT) == "after"


def test_the_pool_never_grows_past_max_workers(
    make_dispatcher: Callable[..., Dispatcher], log: list[Any], turnstile: Turnstile
) -> None:
    dispatcher = make_dispatcher(workers=2, max_workers=4, stall_after=0.02, idle_timeout=5)
    blockers = start_recorders(dispatcher, log, turnstile, *(f"b{i}" for i in range(10)))
    for blocker in blockers:
        blocker.tell("block")
    assert turnstile.wait_entered(4)

    def within_bounds() -> bool:
        return dispatcher.statistics().workers <= 4 and turnstile.inside <= 4

    # Give the stall monitor many chances (it looks every stall_after / 2) to overshoot.
    assert holds_throughout(within_bounds, seconds=0.5)
    assert turnstile.entered == 4  # six blockers still wait: no worker is left for them
    turnstile.open()
    for blocker in blockers:
        assert blocker.ask("after", timeout=TIMEOUT) == "after"
    assert turnstile.entered == 10
    assert turnstile.peak == 4
    assert dispatcher.statistics().peak_workers == 4


def test_extra_workers_retire_after_idle_timeout(
    make_dispatcher: Callable[..., Dispatcher], log: list[Any], turnstile: Turnstile
) -> None:
    dispatcher = make_dispatcher(workers=2, max_workers=6, stall_after=0.02, idle_timeout=0.2)
    blockers = start_recorders(dispatcher, log, turnstile, *(f"b{i}" for i in range(4)))
    for blocker in blockers:
        blocker.tell("block")
    assert turnstile.wait_entered(4)
    assert dispatcher.statistics().workers >= 4
    turnstile.open()
    for blocker in blockers:
        blocker.ask("after", timeout=TIMEOUT)

    assert wait_for(lambda: dispatcher.statistics().workers == 2)
    assert dispatcher.statistics().peak_workers >= 4
    # The kept workers do not retire, and still run actors.
    assert holds_throughout(lambda: dispatcher.statistics().workers == 2, seconds=0.5)
    assert blockers[0].ask("still served", timeout=TIMEOUT) == "still served"


def test_cpu_bound_handlers_do_not_grow_the_pool(
    make_dispatcher: Callable[..., Dispatcher],
) -> None:
    # Regression: any slice older than stall_after used to count as blocked, so long CPU-bound
    # handlers grew the pool although more threads than cores buy nothing under the GIL. The
    # monitor now counts a slice as blocked when its thread used under 5% of the slice's age
    # as CPU time. Each handler evaluates that same rule on itself while it spins, so the test
    # can tell a regression from a host so loaded that it starved the thread (see below).
    stall_after = 0.05
    dispatcher = make_dispatcher(workers=2, max_workers=8, stall_after=stall_after)
    lowest_cpu_shares: list[float] = []

    class Busy(PooledActor):
        def on_receive(self, message: Any) -> Any:
            started, cpu_at_start = time.monotonic(), time.thread_time()
            lowest = 1.0
            while (now := time.monotonic()) < started + 0.3:  # pure CPU work: nothing blocks
                if now - started > stall_after:
                    lowest = min(lowest, (time.thread_time() - cpu_at_start) / (now - started))
            lowest_cpu_shares.append(lowest)
            return message

    refs = [Busy.start(dispatcher=dispatcher) for _ in range(4)]
    futures = [ref.ask(i, block=False) for i, ref in enumerate(refs)]
    assert [f.get(timeout=TIMEOUT) for f in futures] == [0, 1, 2, 3]
    peak = dispatcher.statistics().peak_workers
    if min(lowest_cpu_shares) < 0.06:
        # The host starved a spinning worker below the monitor's 5% rule, so it rightly
        # looked blocked: the documented cost is threads, bounded by max_workers, and the
        # answers above are still right. (Not a skip: this branch checks that bound.)
        assert peak <= 8, f"the pool grew past max_workers to {peak}"
    else:
        assert peak == 2, f"lowest CPU share of a busy slice: {min(lowest_cpu_shares):.1%}"


# -- construction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, r"workers must be a positive int, got 0"),
        ({"workers": -1}, r"workers must be a positive int, got -1"),
        ({"workers": True}, r"workers must be a positive int, got True"),
        ({"workers": 1.5}, r"workers must be a positive int, got 1\.5"),
        ({"max_workers": 0}, r"max_workers must be a positive int, got 0"),
        ({"workers": 4, "max_workers": 2}, r"max_workers \(2\) must be >= workers \(4\)"),
        ({"slice_budget": 0}, r"slice_budget must be a positive int, got 0"),
        ({"stall_after": -0.5}, r"stall_after must be a positive number of seconds, got -0\.5"),
        ({"stall_after": 0}, r"stall_after must be a positive number of seconds, got 0"),
        ({"stall_after": "1"}, r"stall_after must be a positive number of seconds, got '1'"),
        ({"idle_timeout": 0}, r"idle_timeout must be a positive number of seconds, got 0"),
    ],
)
def test_bad_constructor_arguments_are_refused_with_a_message(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        Dispatcher(**kwargs)


def test_a_new_dispatcher_has_the_documented_defaults_and_no_threads() -> None:
    threads_before = threading.active_count()
    dispatcher = Dispatcher()
    assert (dispatcher.min_workers, dispatcher.max_workers, dispatcher.slice_budget) == (
        2,
        128,
        16,
    )
    assert not dispatcher.running
    assert dispatcher.statistics() == DispatcherStats(
        workers=0, peak_workers=0, stalled_workers=0, queued_actors=0, slices=0
    )
    assert threading.active_count() == threads_before
    assert dispatcher.stop(timeout=TIMEOUT) is True  # stopping an unstarted pool is harmless


# -- stop --------------------------------------------------------------------------------------


def dispatcher_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


def test_stop_returns_true_when_idle_and_every_worker_ends(log: list[Any]) -> None:
    dispatcher = Dispatcher(workers=3, max_workers=3, name="stop-probe")
    dispatcher.start()
    assert dispatcher.running
    refs = start_recorders(dispatcher, log, Turnstile(), "a", "b")
    assert len(dispatcher_threads("stop-probe-")) == 4  # three workers and the monitor
    for ref in refs:
        ref.tell("x")
        assert ref.ask("y", timeout=TIMEOUT) == "y"

    assert dispatcher.stop(timeout=TIMEOUT) is True
    assert dispatcher_threads("stop-probe-") == []
    assert not dispatcher.running
    assert dispatcher.statistics().workers == 0
    assert dispatcher.stop(timeout=TIMEOUT) is True  # idempotent


def test_stop_reports_false_while_a_slice_outlasts_the_timeout(
    log: list[Any],
) -> None:
    turnstile = Turnstile()
    dispatcher = Dispatcher(workers=1, max_workers=1, name="stop-late")
    dispatcher.start()
    try:
        (holder,) = start_recorders(dispatcher, log, turnstile, "holder")
        holder.tell("block")
        assert turnstile.wait_entered(1)
        assert dispatcher.stop(timeout=0.05) is False
    finally:
        turnstile.open()
    assert dispatcher.stop(timeout=TIMEOUT) is True
    assert dispatcher_threads("stop-late-") == []


# -- a slice that raises -------------------------------------------------------------------------


class Exploding:
    """Stands in for an actor whose slice raises (a bug: real slices never raise)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.ran = threading.Event()

    def _pooled_run_slice(self, budget: int, trace: object = None) -> None:
        self.ran.set()
        raise self.error

    def __repr__(self) -> str:
        return "<Exploding>"


@pytest.mark.parametrize("error", [RuntimeError("slice bug"), SystemExit(2)])
def test_a_slice_that_raises_is_logged_and_the_worker_survives(
    make_dispatcher: Callable[..., Dispatcher],
    log: list[Any],
    turnstile: Turnstile,
    error: BaseException,
) -> None:
    with capture_logs() as logs:
        dispatcher = make_dispatcher(workers=1, max_workers=1)
        (actor,) = start_recorders(dispatcher, log, turnstile, "after")
        exploding = Exploding(error)
        dispatcher.schedule(exploding)  # type: ignore[arg-type]
        # One worker, FIFO: the actor's slice runs after the exploding one, on the same worker.
        assert actor.ask("served", timeout=TIMEOUT) == "served"
    assert exploding.ran.is_set()
    failures = [entry for entry in logs if entry["event"] == "dispatcher_slice_failed"]
    assert len(failures) == 1
    (failure,) = failures
    assert failure["log_level"] == "error"
    assert failure["actor"] == "<Exploding>"
    assert failure.get("exc_info") is True
    assert dispatcher.statistics().workers == 1
    assert dispatcher.statistics().peak_workers == 1
