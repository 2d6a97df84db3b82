"""Reply subscriptions: replies a connection did not ask for, pushed in turn order.

A WebSocket connection asks for replies to its own messages through their futures; a body
answering a webhook's event, a timer or another device's message produces replies that no
request of that connection is waiting for. ``Runtime.subscribe(session_id, callback)`` gets
every committed turn of the session, in turn order, on the session's worker right after the
commit: ``callback(event, replies)``, with every reply of the turn in order: a plain ``str``
for a text reply, a :class:`~runtime.replies.Reply` for a rich one (markdown, options, a
file...; ``runtime.replies.typed`` makes them all ``Reply``). A connection skips the events it
submitted itself (the ``event`` is the very object it passed to ``Runtime.submit`` when it
subscribed before submitting; otherwise an equal one).
Callbacks must be quick (hand the replies to an event loop with ``call_soon_threadsafe``): the
session waits for them. An exception in a callback is logged and dropped; it never reaches the
session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from runtime.errors import describe_exception
from runtime.event import Event
from runtime.log import get_logger

__all__ = ["ReplyCallback", "Subscription", "Subscriptions"]

ReplyCallback = Callable[[Event, list[str]], object]
"""``callback(event, replies)``: one committed turn of a subscribed session, every reply."""


class Subscription:
    """A handle on one subscription; :meth:`cancel` stops the deliveries."""

    __slots__ = ("_callback", "_hub", "session_id")

    def __init__(self, hub: Subscriptions, session_id: str, callback: ReplyCallback) -> None:
        self._hub = hub
        self.session_id = session_id
        self._callback = callback

    def cancel(self) -> None:
        """Stop delivering to this callback (a delivery under way may still finish)."""
        self._hub._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()


class Subscriptions:
    """Who listens to which session."""

    def __init__(self) -> None:
        # Copy-on-write tuples: publish() reads without a lock.
        self._by_session: dict[str, tuple[Subscription, ...]] = {}
        # Whether anyone subscribed: read without a call on every committed turn.
        self.active = False
        self._lock = threading.Lock()
        self._log = get_logger()

    def subscribe(self, session_id: str, callback: ReplyCallback) -> Subscription:
        """Deliver ``session_id``'s committed turns to ``callback`` from now on."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        subscription = Subscription(self, session_id, callback)
        with self._lock:
            self._by_session[session_id] = (*self._by_session.get(session_id, ()), subscription)
            self.active = True
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            left = tuple(
                s
                for s in self._by_session.get(subscription.session_id, ())
                if s is not subscription
            )
            if left:
                self._by_session[subscription.session_id] = left
            else:
                self._by_session.pop(subscription.session_id, None)
            self.active = bool(self._by_session)

    def publish(self, event: Event, replies: list[str]) -> None:
        """Give one committed turn, every reply, to the session's subscribers (never raises)."""
        for subscription in self._by_session.get(event.session_id, ()):
            try:
                subscription._callback(event, list(replies))
            except BaseException as exc:
                self._log.error(
                    "subscriber_failed",
                    session_id=event.session_id,
                    error=describe_exception(exc),
                    detail="the callback's exception was logged and dropped",
                )

    def __len__(self) -> int:
        return sum(len(subs) for subs in self._by_session.values())
