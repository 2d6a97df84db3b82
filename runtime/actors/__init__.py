"""Actors: the pooled pykka actor type, its dispatcher, session actors and their supervisor.

Internal: bot authors never see actors; the Runtime facade is the only user of this package.
"""

from runtime.actors._dispatcher import Dispatcher, DispatcherStats
from runtime.actors._pooled import PooledActor, PooledInbox
from runtime.actors._session_actor import (
    SNAPSHOT,
    PassivateRequest,
    SessionActor,
    SessionCell,
    TurnRequest,
)
from runtime.actors._supervisor import Supervisor

__all__ = [
    "SNAPSHOT",
    "Dispatcher",
    "DispatcherStats",
    "PassivateRequest",
    "PooledActor",
    "PooledInbox",
    "SessionActor",
    "SessionCell",
    "Supervisor",
    "TurnRequest",
]
