"""Actors: the pooled pykka actor type, its dispatcher, session actors and their helpers.

Internal: bot authors never see actors; the thread backend is the only user of this package.
"""

from runtime.actors._cell import Lifecycle, SessionCell
from runtime.actors._context import ActorContext
from runtime.actors._directory import Directory
from runtime.actors._dispatcher import Dispatcher, DispatcherStats
from runtime.actors._moves import save_quietly
from runtime.actors._pooled import PooledActor, PooledInbox
from runtime.actors._requests import (
    SNAPSHOT,
    ForgetRequest,
    PassivateRequest,
    Settlement,
    TurnRequest,
)
from runtime.actors._session_actor import SessionActor
from runtime.actors._sweeper import Sweeper
from runtime.actors._written import WrittenTurn

__all__ = [
    "SNAPSHOT",
    "ActorContext",
    "Directory",
    "Dispatcher",
    "DispatcherStats",
    "ForgetRequest",
    "Lifecycle",
    "PassivateRequest",
    "PooledActor",
    "PooledInbox",
    "SessionActor",
    "SessionCell",
    "Settlement",
    "Sweeper",
    "TurnRequest",
    "WrittenTurn",
    "save_quietly",
]
