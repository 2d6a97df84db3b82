"""What every session actor of one runtime shares: narrow parts, none of them its creator."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.actors._directory import Directory
    from runtime.actors._dispatcher import Dispatcher
    from runtime.actors._requests import Settlement
    from runtime.actors._timer import Timer
    from runtime.engine import Engine
    from runtime.stats import Counters
    from runtime.store import Persistence, SessionStore
    from runtime.subscriptions import Subscriptions

__all__ = ["ActorContext"]


@dataclass(frozen=True, slots=True)
class ActorContext:
    """What every session actor of one runtime needs (narrow parts, none of them its creator)."""

    dispatcher: Dispatcher
    engine: Engine
    store: SessionStore
    directory: Directory
    settlement: Settlement
    counters: Counters
    subscriptions: Subscriptions
    max_history: int | None
    message_id_window: int
    turn_timeout: float | None
    persistence: Persistence | None  # writes every committed turn (a durable store), or None
    poison_after: int  # crashes of one event before it is quarantined
    restart_backoff: float  # first delay before replacing an actor that keeps crashing
    timer: Timer  # runs delayed restarts
    commits: threading.Condition  # notified when a commit ends after stop() closed its cell
