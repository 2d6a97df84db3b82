"""A session's home in the routing table: its inbox (the cell itself), its turns, its lifecycle."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from runtime.actors._pooled import PooledInbox
from runtime.actors._stripes import Stripes

if TYPE_CHECKING:
    from runtime.actors._requests import PassivateRequest, TurnRequest
    from runtime.actors._session_actor import SessionActor
    from runtime.turn import SessionTurns

__all__ = ["Lifecycle", "SessionCell"]

_LOCKS = Stripes()  # the cells' locks (see runtime.actors._stripes)


class Lifecycle(enum.Enum):
    """Where a live session is in its life; read by the code instead of scattered flags."""

    # Its actor is loading it from the store; events already queue in its inbox.
    ACTIVATING = "activating"
    # Loaded: its actor runs its turns.
    LIVE = "live"
    # Gone from the routing table (passivated, forgotten, or its load failed); its inbox is
    # closed as moved, so a sender holding the old cell routes again (to the store).
    MOVED = "moved"
    # The runtime stopped: nothing more is queued, run or committed.
    CLOSED = "closed"


class SessionCell(PooledInbox):
    """One live session: its inbox, committed state (once loaded), current actor.

    The cell *is* the session's inbox (a :class:`PooledInbox`): one object fewer per live
    session than a cell holding an inbox. The inbox and the turns outlive actors: a
    replacement actor adopts both, so neither queued events nor the session's data are lost
    when an actor dies.

    ``lock`` guards the claim of the commit point against stop() and turn_timeout:
    ``lifecycle`` changes, ``running``, ``committing`` and a request's ``abandoned`` flag are
    read and written under it. It is never held around user or store code. (The inbox's own
    lock, a different one, guards its queue.)
    """

    __slots__ = (
        "actor",
        "committing",
        "crashes",
        "id",
        "lifecycle",
        "lock",
        "passivation",
        "running",
        "touched",
        "turns",
    )

    def __init__(self, session_id: str, touched: int) -> None:
        super().__init__()
        self.id = session_id
        self.lock = _LOCKS.lock()  # shared with other cells: hold it for reads and writes only
        self.lifecycle = Lifecycle.ACTIVATING
        self.turns: SessionTurns | None = None  # set by the actor once loaded
        self.actor: SessionActor | None = None
        self.running: TurnRequest | None = None  # the request whose turn runs, abandonable
        self.committing: TurnRequest | None = None  # the request whose turn is being installed
        self.touched = touched  # the routing table's clock tick of the last event sent here
        self.passivation: PassivateRequest | None = None  # the queued request, if any
        self.crashes = 0  # the actor's crashes since the session last committed a turn

    def __bool__(self) -> bool:
        return True  # a cell is never falsy, whatever its queue's length (__len__)

    def __repr__(self) -> str:
        return f"SessionCell({self.id!r}, {self.lifecycle.value})"
