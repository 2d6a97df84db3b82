"""The seed's Session API, and the guard that keeps a session inside its own turn."""

from __future__ import annotations

import threading

import pytest

from runtime import Bot, File, SessionAccessError, SessionValueError
from runtime.session import MESSAGE_ID_MEMORY, Session, SessionData


@pytest.fixture
def bot() -> Bot:
    bot = Bot("b")
    bot.new_state("start", initial=True)
    bot.new_state("other")
    bot.freeze()
    return bot


@pytest.fixture
def session(bot: Bot) -> Session:
    session = Session(SessionData("alice", state="start"), bot)
    session._begin_turn()
    return session


def test_set_get_delete(session: Session) -> None:
    session.set("age", 30)
    assert session.get("age") == 30
    session.delete("age")
    assert session.get("age") is None
    with pytest.raises(KeyError, match="has no variable 'never-set'"):
        session.delete("never-set")  # as in BBF
    assert session.get("never-set") is None


def test_keys_must_be_str(session: Session) -> None:
    with pytest.raises(TypeError, match="session keys are str, got int"):
        session.set(1, "x")  # type: ignore[arg-type]


def test_reply_appends_to_history_as_the_bot(session: Session) -> None:
    session.reply("Hello!")
    assert session.chat_history == [("Hello!", 0)]
    assert session._replies == ["Hello!"]
    with pytest.raises(TypeError, match=r"session.reply\(\) takes a str, got int"):
        session.reply(3)  # type: ignore[arg-type]


def test_chat_history_is_a_copy_oldest_first(session: Session) -> None:
    session._data.chat_history.append(("hi", 1))
    session.reply("a")
    session.reply("b")
    history = session.chat_history
    history.clear()
    assert session.chat_history == [("hi", 1), ("a", 0), ("b", 0)]
    assert session.get_chat_history(2) == [("a", 0), ("b", 0)]
    assert session.get_chat_history(0) == []
    assert session.get_chat_history() == session.chat_history
    with pytest.raises(ValueError, match="non-negative"):
        session.get_chat_history(-1)


def test_id_state_message_file_and_prediction(session: Session, bot: Bot) -> None:
    assert session.id == "alice"
    assert session.current_state is bot.get_state("start")
    assert session.message is None
    assert session.file is None
    assert session.predicted_intent is None
    assert session.event is None
    picture = File(file_name="a.png", file_data=b"x")
    session._data.file = picture
    session._data.message = "look"
    assert session.file is picture
    assert session.message == "look"


def test_a_session_outside_its_turn_refuses_every_use(session: Session) -> None:
    session._end_turn()
    uses = [
        lambda: session.reply("x"),
        lambda: session.set("k", 1),
        lambda: session.get("k"),
        lambda: session.delete("k"),
        lambda: session.chat_history,
        lambda: session.get_chat_history(1),
        lambda: session.predicted_intent,
        lambda: session.file,
        lambda: session.message,
        lambda: session.current_state,
        lambda: session.event,
    ]
    for use in uses:
        with pytest.raises(SessionAccessError, match="used outside its own turn"):
            use()
    assert session._data.data == {}
    assert session._data.chat_history == []


def test_a_session_refuses_another_thread_during_its_turn(session: Session) -> None:
    errors: list[BaseException] = []

    def meddle() -> None:
        try:
            session.set("hijacked", True)
        except SessionAccessError as exc:
            errors.append(exc)

    thread = threading.Thread(target=meddle)
    thread.start()
    thread.join(5)
    assert len(errors) == 1
    assert session.get("hijacked") is None


def test_message_id_memory_is_bounded() -> None:
    data = SessionData("u")
    for i in range(MESSAGE_ID_MEMORY + 10):
        data.remember(f"m{i}", [str(i)])
    assert data.replies_for("m0") is None
    assert data.replies_for(f"m{MESSAGE_ID_MEMORY + 9}") == (str(MESSAGE_ID_MEMORY + 9),)


def test_a_snapshot_copies_deeply() -> None:
    data = SessionData("u", state="a", data={"items": [1]})
    snap = data.snapshot()
    data.data["items"].append(2)
    assert snap.data == {"items": [1]}


def test_a_snapshot_of_an_uncopyable_value_is_refused_not_shared() -> None:
    # Regression: it used to fall back to sharing the live objects with the snapshot.
    data = SessionData("u", state="a", data={"items": [1], "lock": threading.Lock()})
    with pytest.raises(SessionValueError, match="session value 'lock' of type lock"):
        data.snapshot()
