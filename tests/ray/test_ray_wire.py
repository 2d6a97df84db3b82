"""What crosses between the gateway and a shard (no Ray needed: runs in the default install)."""

from __future__ import annotations

import pickle

from runtime import Event
from runtime.bot import File
from runtime.event import ReceivedEvent, TurnKind
from runtime.ray._wire import KIND_CODES, unpack_event


def test_an_event_of_every_kind_crosses_as_plain_data_and_comes_back_equal() -> None:
    events = [
        Event("s", TurnKind.OPEN),
        Event.message("s", "hi", message_id="m1"),
        Event("s", TurnKind.FILE, File(file_name="a.txt", file_data=b"x")),
        Event.custom("s", "tick", {"n": 1}),
        Event("s", TurnKind.RESET, None, "m2"),
    ]
    for event in events:
        packed = (KIND_CODES[event.kind], event.payload, event.message_id)
        if event.kind in (TurnKind.OPEN, TurnKind.MESSAGE, TurnKind.RESET):
            assert all(type(part) in (int, str, type(None)) for part in packed)
        rebuilt = unpack_event("s", pickle.loads(pickle.dumps(packed)))
        assert type(rebuilt) is Event
        assert rebuilt == event
        assert isinstance(rebuilt.payload, type(event.payload))
    assert isinstance(events[3].payload, ReceivedEvent)
