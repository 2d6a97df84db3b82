"""A pykka actor type that runs on a shared :class:`Dispatcher` instead of its own thread.

pykka's ``ThreadingActor`` spends one OS thread per actor: measured on this machine kind it drops
from ~520k to ~40k messages/s at 1,000 live actors and cannot pass ~22k actors. ``PooledActor``
implements pykka's three hooks for new actor types (``_create_actor_inbox``, ``_create_future``,
``_start_actor_loop``) so that many actors share a few worker threads, and keeps pykka's
semantics for what happens inside the actor:

- messages are handled one at a time, in arrival order (per-actor FIFO);
- an exception under ``ask`` goes to the caller and the actor lives; under ``tell`` it fails the
  actor (``_handle_failure`` then ``on_failure``); queued asks then get ``ActorDeadError``;
- a ``BaseException`` stops the actor and asks every registered actor to stop, like pykka, but
  without blocking the worker (``stop_all(block=False)``): a pool worker never waits on actors;
- ``ActorRef.tell/ask/stop/proxy`` work unchanged.

Three deliberate differences, all for scale: pooled actors are not put in pykka's global
``ActorRegistry`` (a list with linear scans; we run up to a million actors); an actor may adopt
the inbox of a dead predecessor so a supervisor can replace it without losing or reordering
queued messages; and ``actor_stopped`` is a :class:`StopFlag`, not a ``threading.Event`` (an
Event with its Condition made 6 of the 17 objects the garbage collector tracked per session),
made on first use.
So ``PooledActor.__init__`` sets pykka's actor attributes itself instead of calling
``pykka.Actor.__init__`` (``_actor_ref`` on first use of ``actor_ref``: most pooled actors
never need an ``ActorRef``, an object and a weak reference per actor).

This is the one module that touches pykka's internals (``pykka._envelope`` and the private
``Actor`` methods); everything else goes through :class:`PooledInbox`'s ``tell``/``ask``/
``close`` and :class:`PooledActor`'s hooks (``on_tell``, ``on_receive``, ``on_failure``,
``on_leftover``, ``on_overrun``). It relies on these pykka 4.5 internals, each covered by
``tests/actors/test_pykka_contract.py``:
the attributes ``Actor.__init__`` sets (``actor_urn``, ``actor_inbox``, ``actor_stopped``,
``_actor_ref``) and ``ActorRef`` reading them, with only ``is_set()``/``set()`` used on the
stop flag; ``Actor._handle_receive``, ``_actor_loop_setup``, ``_actor_loop_teardown``,
``_handle_failure``, ``_stop``; ``Envelope``'s ``message``/``reply_to``; ``ActorRef`` putting
envelopes on ``actor_inbox``.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Self

import pykka
from pykka import ActorRegistry, messages
from pykka._envelope import Envelope

from runtime.actors._stripes import Stripes

if TYPE_CHECKING:
    from runtime.actors._dispatcher import Dispatcher, WorkerTrace

__all__ = ["PooledActor", "PooledInbox", "StopFlag"]


class StopFlag:
    """The ``threading.Event`` interface pykka's ``actor_stopped`` needs, made lean.

    ``is_set``/``set`` are a plain attribute (atomic under the GIL); a real Event is made only
    if someone waits.
    """

    __slots__ = ("_event", "_set")

    _create_lock = threading.Lock()

    def __init__(self) -> None:
        self._set = False
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        """Return whether the actor stopped."""
        return self._set

    def set(self) -> None:
        """Mark the actor stopped and wake anyone waiting."""
        self._set = True
        event = self._event
        if event is not None:
            event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the actor stops; return whether it did within ``timeout``."""
        if self._set:
            return True
        with StopFlag._create_lock:
            if self._event is None:
                self._event = threading.Event()
                if self._set:
                    self._event.set()
        return self._event.wait(timeout)


_LOCKS = Stripes()  # the inboxes' locks

_HELD = object()
_PARKED = object()

# Actor urns: a random uuid4 whose last 12 hex digits count the actors of this process (a
# forked child draws a prefix of its own).
_URN_PREFIX = uuid.uuid4().urn[:-12]
_urn_ids = itertools.count()


def _new_urn_prefix() -> None:
    global _URN_PREFIX  # noqa: PLW0603  # per process, by design
    _URN_PREFIX = uuid.uuid4().urn[:-12]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_urn_prefix)


class PooledInbox:
    """A FIFO mailbox that puts its owner on the dispatcher's run queue when work arrives.

    ``_scheduled`` is true while the owner is on the run queue or running a slice, so an actor
    is never run by two workers at once. The inbox outlives its owner when a supervisor hands it
    to a replacement actor (:meth:`bind`).
    """

    __slots__ = ("_closed", "_held", "_items", "_lock", "_moved", "_owner", "_scheduled")

    def __init__(self) -> None:
        # Envelopes (asks, and tells from pykka's ActorRef) or bare messages (tells made with
        # tell(): every event; one allocation fewer each).
        self._items: deque[Any] = deque()
        self._lock = _LOCKS.lock()  # shared with other inboxes (runtime.actors._stripes)
        self._scheduled = False
        self._closed = False
        self._moved = False
        self._owner: PooledActor | None = None
        # None, _HELD (a slice runs; park when it ends) or _PARKED (nobody runs or schedules the
        # owner until release(): a restart waiting for its backoff).
        self._held: object = None

    @property
    def moved(self) -> bool:
        """Whether the inbox was closed because its session moved (passivated) elsewhere."""
        return self._moved

    @property
    def owner(self) -> PooledActor | None:
        """The actor that handles this inbox's messages."""
        return self._owner

    def bind(self, actor: PooledActor) -> None:
        """Make ``actor`` the owner and make sure it gets a slice (to run ``on_start``)."""
        with self._lock:
            self._owner = actor
            if self._scheduled:
                return  # the running slice's finish_slice() schedules the new owner
            self._scheduled = True
        actor._dispatcher.schedule(actor)

    def hold(self) -> None:
        """Keep the owner off the run queue until :meth:`release` (messages still queue).

        Called from the owner's own slice (a crashed actor handing over to a replacement that
        must wait for its restart backoff).
        """
        with self._lock:
            if self._scheduled:
                self._held = _HELD  # the running slice parks the owner when it ends
            else:
                self._scheduled = True  # as if scheduled: tell() schedules nobody
                self._held = _PARKED

    def release(self) -> None:
        """End :meth:`hold`: schedule the owner (unless the inbox closed meanwhile)."""
        with self._lock:
            held, self._held = self._held, None
            if held is not _PARKED or self._closed or self._owner is None:
                if held is _PARKED:
                    self._scheduled = False
                return  # still in its slice (it schedules the owner), or nobody to run
            owner = self._owner
        owner._dispatcher.schedule(owner)

    def put(self, envelope: Envelope[Any], /) -> None:
        """Queue ``envelope`` and schedule the owner if it is idle.

        Raises:
            pykka.ActorDeadError: the inbox was closed (see :attr:`moved` for why).
        """
        self.tell(envelope)  # a slice tells envelopes and bare messages apart by type

    def tell_first(self, message: object) -> None:
        """Queue ``message`` ahead of everything queued (a crashed turn's retry).

        Raises:
            pykka.ActorDeadError: the inbox was closed.
        """
        with self._lock:
            if self._closed:
                raise pykka.ActorDeadError("the inbox is closed")
            self._items.appendleft(message)

    def tell(self, message: object) -> None:
        """Queue ``message`` with no reply expected; schedule the owner if it is idle.

        Raises:
            pykka.ActorDeadError: the inbox was closed (see :attr:`moved` for why).
        """
        self.offer(message, None)

    def offer(self, message: object, limit: int | None) -> bool:
        """:meth:`tell`, unless ``limit`` messages are queued already: then return False.

        Raises:
            pykka.ActorDeadError: the inbox was closed (see :attr:`moved` for why).
        """
        with self._lock:
            if self._closed:
                raise pykka.ActorDeadError(
                    "the inbox is closed: " + ("its session moved" if self._moved else "stopped")
                )
            items = self._items
            if limit is not None and len(items) >= limit:
                return False
            items.append(message)
            if self._scheduled or self._owner is None:
                return True
            self._scheduled = True
            owner = self._owner
        owner._dispatcher.schedule(owner)
        return True

    def ask(self, message: object) -> pykka.Future[Any]:
        """Queue ``message`` and return the future the owner's answer will resolve."""
        future: pykka.Future[Any] = pykka.ThreadingFuture()
        self.put(Envelope(message, reply_to=future))
        return future

    def get(self) -> Envelope[Any]:
        """Pop the oldest envelope (pykka's inbox protocol; only called when not empty)."""
        item = self._items.popleft()
        return item if type(item) is Envelope else Envelope(item)

    def empty(self) -> bool:
        """Whether no envelope is queued."""
        return not self._items

    def __len__(self) -> int:
        return len(self._items)

    def close(self, error: BaseException | None = None, *, moved: bool = False) -> list[object]:
        """Refuse further puts; fail queued asks with ``error``; return the queued tells.

        Asks get ``error`` (``ActorDeadError`` when None), except pykka's own stop requests,
        which are answered as done. ``moved`` tells later senders to route again.
        """
        with self._lock:
            self._closed = True
            self._moved = self._moved or moved
            # popleft one by one, never list() then clear(): a worker pops without the lock,
            # and an item it popped between the two would be run *and* handed back here.
            queue = self._items
            items = []
            while True:
                try:
                    items.append(queue.popleft())
                except IndexError:
                    break
        return _settle_asks(items, error)

    def close_if_empty(self) -> bool:
        """Close the inbox as *moved* if nothing is queued; return whether it closed."""
        with self._lock:
            if self._items or self._closed:
                return False
            self._closed = True
            self._moved = True
            return True

    def finish_slice(self) -> PooledActor | None:
        """End a slice: return the owner to reschedule, or None when it has nothing to do."""
        with self._lock:
            if self._held is not None:
                self._held = _PARKED  # stays "scheduled" until release()
                return None
            owner = self._owner
            if owner is not None and (self._items or not owner._pooled_started):
                return owner
            self._scheduled = False
            return None


def _settle_asks(items: list[Any], error: BaseException | None) -> list[object]:
    """Answer the asks among ``items`` with ``error``; return the tells' messages."""
    tells: list[object] = []
    for envelope in items:
        if type(envelope) is not Envelope:
            tells.append(envelope)  # a bare tell
            continue
        reply_to = envelope.reply_to
        if reply_to is None:
            tells.append(envelope.message)
        elif isinstance(envelope.message, messages._ActorStop):
            reply_to.set(None)
        else:
            exc = error if error is not None else pykka.ActorDeadError("the actor stopped")
            reply_to.set_exception(exc_info=(type(exc), exc, None))
    return tells


class PooledActor(pykka.Actor):
    """A pykka actor whose messages run on a shared :class:`Dispatcher`.

    Subclass it like ``pykka.ThreadingActor`` and start it with
    ``MyActor.start(dispatcher=..., ...)``.

    Args:
        dispatcher: the pool that runs this actor.
        inbox: an inbox to adopt (a dead predecessor's); a new one by default.
    """

    def __init__(
        self, *args: Any, dispatcher: Dispatcher, inbox: PooledInbox | None = None, **kwargs: Any
    ) -> None:
        self._dispatcher = dispatcher
        self._pooled_started = False
        self._pooled_unit = -1  # the worker's unit number of the message being handled
        # What pykka.Actor.__init__ does, with a lean stop flag (see the module docstring), a
        # unique urn made without os.urandom, and the ActorRef made on first use.
        self.actor_urn = f"{_URN_PREFIX}{next(_urn_ids):012x}"
        self.actor_inbox = inbox if inbox is not None else PooledInbox()

    _actor_ref: pykka.ActorRef[Any] | None = None  # type: ignore[assignment]
    _stop_flag: StopFlag | None = None  # made on first use of actor_stopped

    @property
    def actor_stopped(self) -> StopFlag:  # type: ignore[override]
        """The actor's stop flag, pykka's ``threading.Event`` made lean (:class:`StopFlag`).

        Made on first use: most live actors are never stopped or asked, and a session's flag
        was one of the objects the garbage collector tracks per live session. A slice reads
        ``_stop_flag`` (None: not stopped) without making one.
        """
        flag = self._stop_flag
        if flag is None:
            with StopFlag._create_lock:  # two first uses at once must get one flag
                flag = self._stop_flag
                if flag is None:
                    flag = self._stop_flag = StopFlag()
        return flag

    @property
    def actor_ref(self) -> pykka.ActorRef[Self]:
        """The actor's ``pykka.ActorRef`` (made on first use: most actors never need one)."""
        ref = self._actor_ref
        if ref is None:
            ref = self._actor_ref = pykka.ActorRef(self)
        return ref

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> pykka.ActorRef[Self]:
        """Create the actor and schedule its ``on_start`` (not registered in ActorRegistry)."""
        return cls.spawn(*args, **kwargs).actor_ref

    @classmethod
    def spawn(cls, *args: Any, **kwargs: Any) -> Self:
        """Create the actor and schedule its ``on_start``; return the actor itself.

        :meth:`start` without making an ``ActorRef`` (an object and a weak reference the
        garbage collector tracks, per actor) for callers that never use one.
        """
        obj = cls(*args, **kwargs)
        obj._start_actor_loop()
        return obj

    @staticmethod
    def _create_actor_inbox() -> PooledInbox:
        return PooledInbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        self.actor_inbox.bind(self)  # type: ignore[attr-defined]

    def on_leftover(self, message: object) -> None:
        """Handle a message still queued when the actor stopped (a tell; asks are failed).

        Called on the actor's last slice; the default drops it. Must not raise.
        """

    def on_overrun(self, thread_id: int, unit: int) -> None:
        """Hear that one unit of work has run longer than the dispatcher's ``message_timeout``.

        Called once per overrunning unit, from the dispatcher's monitor thread (not the
        actor's), while thread ``thread_id`` may still be in it. ``unit`` numbers it: it is the
        message being handled if it equals ``self._pooled_unit`` (else the unit was the slice's
        start, or it ended meanwhile). The default does nothing. Must not raise.
        """

    def _actor_loop_teardown(self) -> None:
        # Like pykka's: answer what is queued, leave the inbox open (a successor may adopt it;
        # a message put after this schedules the stopped owner, whose slice runs this again).
        inbox: PooledInbox = self.actor_inbox  # type: ignore[assignment]
        error = pykka.ActorDeadError(f"{self} stopped before handling the message")
        while True:
            try:
                item = inbox._items.popleft()
            except IndexError:  # empty, or close() took the rest meanwhile
                return
            for message in _settle_asks([item], error):
                self.on_leftover(message)

    def _pooled_run_slice(self, budget: int, trace: WorkerTrace | None = None) -> None:
        """Handle up to ``budget`` messages (run by a dispatcher worker; never raises).

        ``trace`` counts handled messages, so the monitor can tell one that overruns.
        """
        inbox: PooledInbox = self.actor_inbox  # type: ignore[assignment]
        if trace is not None:
            trace.handled += 1  # the slice's start (on_start, first) is a unit of its own
        try:
            if not self._pooled_started:
                self._pooled_started = True
                self._actor_loop_setup()
            items = inbox._items
            on_tell = self.on_tell
            # is_set() without a call (or a flag), per message; a hold (the actor waits for
            # something, such as its turn's durable write) ends the slice too.
            while budget > 0 and inbox._held is None:
                stopped = self._stop_flag
                if stopped is not None and stopped._set:
                    break
                try:
                    envelope = items.popleft()
                except IndexError:
                    break
                budget -= 1
                if trace is not None:
                    trace.handled += 1
                    self._pooled_unit = trace.handled
                if type(envelope) is Envelope:
                    self._pooled_handle(envelope)
                    continue
                try:  # a bare tell (no reply_to): _pooled_handle's rules, inline
                    on_tell(envelope)
                except Exception:
                    self._pooled_tell_failed()
                except BaseException:
                    self._stop()
                    ActorRegistry.stop_all(block=False)
        except BaseException:
            # A hook (on_start, on_failure) raised a BaseException: under pykka it would end the
            # actor's thread. End the actor, so its queued asks fail instead of hanging.
            self.actor_stopped.set()
            ActorRegistry.stop_all(block=False)
        stopped = self._stop_flag
        if stopped is not None and stopped._set and inbox._owner is self:
            self._actor_loop_teardown()  # not when a replacement adopted the inbox
        owner = inbox.finish_slice()
        if owner is not None:
            owner._dispatcher.schedule(owner)

    def on_tell(self, message: Any) -> None:
        """Handle a message queued with :meth:`PooledInbox.tell` (no reply expected).

        The default hands it to pykka's usual dispatch (``on_receive`` for plain messages).
        Exceptions fail the actor exactly as an exception under pykka's ``tell`` does.
        """
        self._handle_receive(message)

    def _pooled_tell_failed(self) -> None:
        # An exception under a bare tell (being handled now): fail the actor, as pykka does.
        self._handle_failure(*sys.exc_info())
        try:
            self.on_failure(*sys.exc_info())
        except Exception:
            self._handle_failure(*sys.exc_info())

    def _pooled_handle(self, envelope: Envelope[Any]) -> None:
        # Mirrors pykka.Actor._actor_loop_running's body for one envelope.
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:
                    self._handle_failure(*sys.exc_info())
        except BaseException:
            self._stop()
            ActorRegistry.stop_all(block=False)
