"""The public API: a sorted, complete ``__all__`` and the names DESIGN.md fixes."""

from __future__ import annotations

import inspect

import runtime


def test_all_is_sorted() -> None:
    assert runtime.__all__ == sorted(runtime.__all__)


def test_all_names_every_public_attribute() -> None:
    public = {
        name
        for name, value in vars(runtime).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(runtime.__all__)


def test_the_fixed_names_of_design_md_exist() -> None:
    for name in ("Bot", "Session", "File", "Runtime", "SessionSnapshot", "RuntimeStats"):
        assert name in runtime.__all__
    for method in (
        "open_session",
        "send_message",
        "send_file",
        "send_event",
        "reset",
        "snapshot",
        "stats",
        "start",
        "stop",
        "__enter__",
        "__exit__",
    ):
        assert callable(getattr(runtime.Runtime, method))
    for method in ("new_state", "new_intent", "set_global_fallback_body"):
        assert callable(getattr(runtime.Bot, method))
    for method in (
        "set_body",
        "set_fallback_body",
        "go_to",
        "when_intent_matched_go_to",
        "when_no_intent_matched_go_to",
        "when_variable_matches_operation_go_to",
        "when_file_received_go_to",
        "when_event_go_to",
    ):
        assert callable(getattr(runtime.State, method))
    for member in (
        "id",
        "reply",
        "chat_history",
        "set",
        "get",
        "delete",
        "predicted_intent",
        "file",
        "message",
        "current_state",
        "get_chat_history",
    ):
        assert hasattr(runtime.Session, member)
