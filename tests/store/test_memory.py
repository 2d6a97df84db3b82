"""MemoryStore: the default store keeps records as they are."""

from __future__ import annotations

from runtime.session import SessionData
from runtime.store import MemoryStore, SessionStore


def test_memory_store_saves_loads_and_deletes_records() -> None:
    store = MemoryStore()
    assert isinstance(store, SessionStore)
    data = SessionData("a", state="s", data={"x": 1})
    store.save(data)
    assert store.load("a") is data
    assert store.load("b") is None
    assert list(store.session_ids()) == ["a"]
    assert len(store) == 1
    store.delete("a")
    store.delete("never-there")
    assert len(store) == 0
    store.save(data)
    store.close()
    assert store.load("a") is None
