"""The commit point: one session's turns, each committed or rolled back as a whole.

A turn runs the bot's logic on the session's live record; :meth:`SessionTurns.commit`
(:meth:`~SessionTurns.prepare`, then :meth:`~SessionTurns.install`) then makes the result the
session's committed state, or :meth:`SessionTurns.rollback` returns the record to the last
committed state exactly: data (nested values included),
history, state, last intent, last file, last message. Everything that must happen "together
with the turn" happens in ``commit``: trimming the history to ``max_history``, copying the new
state (which refuses values that cannot be copied), writing it to a durable store, remembering
the ``message_id``. A session actor, the deterministic simulation of ``runtime.testing`` and
any future backend run turns through this one class, so there is one rollback path.

A failed turn costs one copy back; a committed one costs one copy of the session's data (a
plain dict copy when every value is a str, number, bool, bytes or None; ``copy.deepcopy``
otherwise) and none of its history: the committed history is the live list up to a length,
since a turn only appends to it (a reset or a trim replaces the list instead).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from runtime._values import copy_values
from runtime.engine import TurnOutcome
from runtime.errors import SessionValueError, StoreUnavailableError, describe_exception
from runtime.session import MESSAGE_ID_MEMORY, Session, SessionData, SessionSnapshot

if TYPE_CHECKING:
    from runtime.engine import Engine
    from runtime.event import EventFields
    from runtime.store import Persistence

__all__ = ["Checkpoint", "SessionTurns"]

_EMPTY: dict[str, Any] = {}  # the committed copy of every empty data dict; never changed

# What SessionTurns.wipe returns: the committed state, the message_id memory, the live data and
# history (kept alive until the wipe is undone or done with).
WipeUndo = tuple[
    "Checkpoint", "OrderedDict[str, tuple[str, ...]] | None", dict[str, Any], list[Any]
]


class Checkpoint:
    """A session's committed state: what a failed turn returns to.

    Only the commit point changes it (:meth:`capture`), and only once nothing can fail.
    :class:`SessionTurns` extends it: a live session's turns hold its committed state
    themselves (one object fewer per live session than holding a checkpoint).
    """

    __slots__ = ("data", "file", "history", "history_len", "message", "predicted_intent", "state")

    def __init__(self, record: SessionData, data: dict[str, Any] | None = None) -> None:
        """Capture ``record`` as it is now.

        Args:
            record: the live record.
            data: a copy of its data already made; None to copy it now.

        Raises:
            SessionValueError: a data value cannot be copied.
        """
        self.capture(record, copy_values(record.data) if data is None else data)

    def capture(self, record: SessionData, data: dict[str, Any]) -> None:
        """Make this checkpoint ``record``'s state now, with ``data`` a copy of its data."""
        self.state = record.state
        self.data = data
        self.history = record.chat_history  # shared: turns only append (see the module doc)
        self.history_len = len(record.chat_history)
        self.predicted_intent = record.predicted_intent
        self.file = record.file
        self.message = record.message

    def restore(self, record: SessionData) -> None:
        """Make ``record`` equal to this checkpoint again (the checkpoint stays as it is).

        It cannot fail: if copying the committed data fails (a value whose ``__deepcopy__``
        fails now though it worked at the commit), the record gets a new dict of the committed
        values, so every field is the committed one; the next commit copies the data again.
        """
        try:
            data = copy_values(self.data)
        except BaseException:  # a rollback must complete, whatever a __deepcopy__ raises
            # A new dict of the committed values: a later turn's set or delete cannot reach
            # the checkpoint (the next commit copies the data again).
            data = dict(self.data)
        record.state = self.state
        record.data = data
        del self.history[self.history_len :]
        record.chat_history = self.history
        record.predicted_intent = self.predicted_intent
        record.file = self.file
        record.message = self.message

    def copy(self) -> Checkpoint:
        """Return a checkpoint of the same committed state (sharing its values)."""
        checkpoint = Checkpoint.__new__(Checkpoint)
        checkpoint.take(self)
        return checkpoint

    def take(self, other: Checkpoint) -> None:
        """Make this checkpoint ``other``'s committed state (sharing its values).

        ``state`` is written last: a reader on another thread that reads ``state`` first
        (``save_quietly`` during stop()) sees either the old state or every field of the new.
        """
        self.data = other.data
        self.history = other.history
        self.history_len = other.history_len
        self.predicted_intent = other.predicted_intent
        self.file = other.file
        self.message = other.message
        self.state = other.state

    def standalone(
        self, session_id: str, memory: OrderedDict[str, tuple[str, ...]] | None
    ) -> SessionData:
        """Return a standalone ``SessionData`` of this checkpoint, sharing nothing mutable."""
        return SessionData(
            session_id,
            self.state,
            copy_values(self.data),
            self.history[: self.history_len],
            self.predicted_intent,
            self.file,
            self.message,
            None if memory is None else OrderedDict(memory),
        )

    def snapshot_of(self, session_id: str) -> SessionSnapshot | None:
        """Return the frozen snapshot ``Runtime.snapshot`` hands out (None if never opened)."""
        if self.state is None:
            return None
        return SessionData(
            session_id, self.state, self.data, self.history[: self.history_len]
        ).snapshot()


class SessionTurns(Checkpoint):
    """Run one session's turns through the one commit point.

    It is the session's :class:`Checkpoint` too (its committed state: ``state``, ``data``,
    ``history``...), advanced by each commit and restored by each rollback.

    Args:
        engine: runs the bot's logic.
        record: the session's live record (its committed state at start).
        max_history: keep at most this many chat history entries (None: all).
        persistence: how every turn about to commit is encoded (in :meth:`prepare`) and
            written (in :meth:`install`) to a durable store; None for a non-durable store.
        message_id_window: how many ``message_id``s the session remembers to answer resends.

    Raises:
        SessionValueError: ``record`` holds a value that cannot be copied.
    """

    __slots__ = (
        "_payload",
        "engine",
        "max_history",
        "message_id_window",
        "persistence",
        "record",
        "session",
        "stale",
    )

    def __init__(
        self,
        engine: Engine,
        record: SessionData,
        *,
        max_history: int | None = None,
        persistence: Persistence | None = None,
        message_id_window: int = MESSAGE_ID_MEMORY,
    ) -> None:
        self.engine = engine
        self.record = record
        check = None if persistence is None else persistence.check
        self.session = Session(record, engine.bot, check)
        self.max_history = max_history
        self.persistence = persistence
        self.message_id_window = message_id_window
        self._payload: object = None  # what prepare() encoded for install() to write
        # A durable write failed: the store, not this record, says what was committed (a lost
        # reply may hide an applied write). The owner reloads the session before its next turn.
        self.stale = False
        super().__init__(record)  # the committed state: a copy of the record's now

    @property
    def session_id(self) -> str:
        """The session's id."""
        return self.record.id

    def execute(self, event: EventFields) -> TurnOutcome:
        """Run ``event``'s bot logic on the live record; nothing is committed yet.

        A resend of a committed ``message_id`` returns the stored replies without running any
        body (the outcome is marked ``duplicate``). If the bot logic raises a BaseException
        (``SystemExit`` in a body, a bug of ours), the turn is rolled back and it propagates.
        """
        if event.message_id is not None:
            stored = self.record.replies_for(event.message_id)
            if stored is not None:
                return TurnOutcome(replies=list(stored), duplicate=True)
        try:
            return self.engine.run_turn(self.session, event.kind, event.payload)
        except BaseException:
            self.rollback()
            raise

    def prepare(self, event: EventFields, outcome: TurnOutcome) -> dict[str, Any] | None:
        """Do the part of the commit that may fail or take long, changing nothing committed.

        Trims the history to ``max_history`` and copies the data (user ``__deepcopy__`` code
        may run); with a durable store, encodes the whole committed record (the ``message_id``
        and its replies included) for :meth:`install` to write. A session actor runs this
        while the turn can still be abandoned (stop, turn_timeout), then :meth:`install`.

        Returns:
            The data copy :meth:`install` needs (with a durable store, the encoded record is
            kept for it too); None for a resend of a committed ``message_id``.

        Raises:
            SessionValueError: a value set in this turn cannot be copied or stored (the turn
                is rolled back).
        """
        if outcome.duplicate:
            return None
        record = self.record
        limit = self.max_history
        if limit is not None and len(record.chat_history) > limit:
            record.chat_history = record.chat_history[len(record.chat_history) - limit :]
        values = record.data
        try:
            # A committed dict is never changed, so every empty one can be the same.
            data = copy_values(values) if values else _EMPTY
            persistence = self.persistence
            if persistence is not None:
                memory = record.replies_by_message_id
                if event.message_id is not None:
                    memory = OrderedDict(() if memory is None else memory)
                    memory[event.message_id] = tuple(outcome.replies)
                    while len(memory) > self.message_id_window:
                        memory.popitem(last=False)
                self._payload = persistence.encode(
                    SessionData(
                        record.id,
                        record.state,
                        data,
                        record.chat_history,
                        record.predicted_intent,
                        record.file,
                        record.message,
                        memory,
                    )
                )
        except SessionValueError:
            self.rollback()
            raise
        except Exception as exc:
            # A copy or an encoder failing otherwise: the turn's values are at fault, not the
            # actor (retrying would fail the same way). Nothing stays.
            self.rollback()
            raise SessionValueError(
                "?", exc, f"the session could not be copied or encoded ({describe_exception(exc)})"
            ) from exc
        except BaseException:
            # SystemExit from a value's __deepcopy__: nothing stays.
            self.rollback()
            raise
        return data

    def install(
        self, event: EventFields, outcome: TurnOutcome, prepared: dict[str, Any] | None
    ) -> None:
        """Make the prepared turn the committed state: write it (durable store), then swap.

        The blocking form of :meth:`take_payload`, a durable write, then :meth:`finish` (or
        :meth:`write_failed`).

        Raises:
            StoreUnavailableError: the durable write failed, whatever it raised (the turn is
                rolled back in memory and :attr:`stale` set; unless ``maybe_committed``,
                nothing of it is stored).
        """
        if prepared is None:
            return
        persistence = self.persistence
        if persistence is not None:
            try:
                persistence.write(self.record.id, self.take_payload())
            except BaseException as exc:  # CancelledError from an async store included
                raise self.write_failed(exc) from exc
        self.finish(event, outcome, prepared)

    def take_payload(self) -> object:
        """Return what :meth:`prepare` encoded for the durable store to write (once)."""
        payload, self._payload = self._payload, None
        return payload

    def finish(
        self, event: EventFields, outcome: TurnOutcome, prepared: dict[str, Any] | None
    ) -> None:
        """Make the prepared turn the committed state (its durable write succeeded)."""
        if prepared is None:
            return
        record = self.record
        # Nothing can fail from here: advance the committed state in place (no allocation).
        self.capture(record, prepared)
        if event.message_id is not None:
            record.remember(event.message_id, outcome.replies, self.message_id_window)

    def write_failed(self, exc: BaseException) -> StoreUnavailableError:
        """Roll back the turn whose durable write failed with ``exc``; return the error to raise.

        The session is marked :attr:`stale`: the store's word is final, so its owner reloads it
        before the next turn (a lost reply may hide an applied write).
        """
        self.rollback()
        self.stale = True
        maybe = bool(getattr(exc, "maybe_committed", False))
        what = (
            "the turn was rolled back, but the store may have applied it (its reply was lost): "
            "resend it with the same message_id to find out; it never runs twice"
            if maybe
            else "the turn was rolled back and had no effect"
        )
        error = StoreUnavailableError(
            f"saving session {self.record.id!r} failed: {_cause(exc)}; {what}",
            maybe_committed=maybe,
        )
        error.__cause__ = exc
        return error

    def commit(self, event: EventFields, outcome: TurnOutcome) -> None:
        """Make the turn's effects the committed state, all of them or none.

        Raises:
            SessionValueError: a value set in this turn cannot be copied (rolled back).
            StoreUnavailableError: the durable write failed (rolled back).
        """
        self.install(event, outcome, self.prepare(event, outcome))

    def run(self, event: EventFields) -> TurnOutcome:
        """Execute and commit ``event``'s turn (raises as :meth:`execute` and :meth:`commit`)."""
        outcome = self.execute(event)
        self.commit(event, outcome)
        return outcome

    def rollback(self) -> None:
        """Return the live record to the last committed state and end the turn."""
        self.restore(self.record)
        self.session._end_turn()

    def saved_record(self) -> SessionData:
        """Return a standalone record of the committed state (what a store is given)."""
        return self.standalone(self.record.id, self.record.replies_by_message_id)

    def snapshot(self) -> SessionSnapshot | None:
        """Return a frozen copy of the committed state, or None if never opened."""
        return self.snapshot_of(self.record.id)

    def wipe(self) -> WipeUndo:
        """Forget everything the session holds, its ``message_id`` memory included.

        Nothing of the session is freed here (the undo keeps the live values), so no user
        ``__del__`` runs: callers hold a lock shared with other sessions.

        Returns:
            What :meth:`unwipe` needs to undo it.
        """
        record = self.record
        undo = (self.copy(), record.replies_by_message_id, record.data, record.chat_history)
        record.clear()
        record.replies_by_message_id = None
        self.capture(record, copy_values(record.data))
        return undo

    def unwipe(self, undo: WipeUndo) -> None:
        """Undo :meth:`wipe` for the committed state and the ``message_id`` memory.

        No user code runs (callers hold a shared lock); the live record is still wiped: return
        it to the committed state with :meth:`rollback`, outside the lock.
        """
        self.record.replies_by_message_id = undo[1]  # first: take() ends with the state
        self.take(undo[0])


def _cause(exc: BaseException) -> str:
    """Describe a store failure without repeating the wrapper's own type name."""
    return str(exc) if isinstance(exc, StoreUnavailableError) else describe_exception(exc)
