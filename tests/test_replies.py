"""Rich replies: the Reply type, the session's reply_* methods and what every API gives back."""

from __future__ import annotations

import copy
import enum
import math
import pickle
import threading
from typing import Any

import pytest

from runtime import (
    Bot,
    Event,
    File,
    Reply,
    Runtime,
    Session,
    SessionAccessError,
    SessionCrashedError,
    SessionValueError,
)
from runtime._future import ReplyFuture
from runtime.actors import Settlement, TurnRequest
from runtime.engine import TurnOutcome
from runtime.replies import REPLY_KINDS, typed
from runtime.session import SessionData
from runtime.stats import Counters

TIMEOUT = 10
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
PICTURE = File(file_name="cat.png", file_data=PNG)
REPORT = File(file_name="report.csv", file_data=b"a,b\n1,2\n")


class Answer(enum.StrEnum):
    YES = "yes"


def every_kind() -> list[Reply]:
    """One reply of every kind, as the reply_* methods below make them."""
    return [
        Reply.text("plain"),
        Reply.markdown("**bold**"),
        Reply.html("<b>bold</b>"),
        Reply.options(["yes", "no"]),
        Reply.file(REPORT),
        Reply.image(PNG, name="cat.png"),
        Reply.location(48.85, 2.35),
        Reply.json({"rows": [1, 2], "title": "t"}),
    ]


# -- the Reply type ---------------------------------------------------------------------------


def test_every_constructor_makes_its_kind_with_its_text_and_json_content() -> None:
    replies = every_kind()
    assert [r.kind for r in replies] == list(REPLY_KINDS)
    assert [str(r) for r in replies] == [
        "plain",
        "**bold**",
        "<b>bold</b>",
        "yes | no",
        "report.csv",
        "cat.png",
        "48.85, 2.35",
        '{"rows": [1, 2], "title": "t"}',
    ]
    assert replies[3].content == ["yes", "no"]
    assert replies[4].content == {"name": "report.csv", "type": "text/csv", "base64": REPORT.base64}
    assert replies[5].content["type"] == "image/png"
    assert replies[5].as_file == File(file_name="cat.png", file_type="image/png", file_data=PNG)
    assert replies[6].content == {"latitude": 48.85, "longitude": 2.35}
    assert replies[7].content == {"rows": [1, 2], "title": "t"}


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Reply.markdown(3), TypeError, "a markdown reply takes a str, got int"),
        (lambda: Reply.html(None), TypeError, "an? html reply takes a str, got NoneType"),
        (lambda: Reply.options("yes"), TypeError, "options must be a list of str, got str"),
        (lambda: Reply.options([]), ValueError, "at least one option"),
        (lambda: Reply.options(["a", 1]), TypeError, "every option must be a str, got int"),
        (lambda: Reply.file(b"data"), TypeError, "reply_file takes a runtime.File, got bytes"),
        (lambda: Reply.image("cat.png"), TypeError, "a runtime.File or image bytes, got str"),
        (lambda: Reply.image(REPORT), ValueError, "needs an image/\\* file, got type 'text/csv'"),
        (lambda: Reply.image(b"GIF"), ValueError, "must be a PNG, JPEG, GIF or WebP image"),
        (lambda: Reply.location(91, 0), ValueError, "latitude must be within \\[-90, 90\\]"),
        (lambda: Reply.location(0, -180.5), ValueError, "longitude must be within"),
        (lambda: Reply.location(math.nan, 0), ValueError, "latitude must be within"),
        (lambda: Reply.location("1", 0), TypeError, "latitude must be a number, got str"),
        (lambda: Reply.location(True, 0), TypeError, "latitude must be a number, got bool"),
        (lambda: Reply.json({1, 2}), TypeError, "reply_json needs a JSON value"),
        (lambda: Reply.json([math.inf]), TypeError, "reply_json needs a JSON value"),
        (lambda: Reply("video", "v", "v"), ValueError, "reply kind must be one of text, "),
    ],
)
def test_bad_input_is_refused_saying_what_was_wrong(
    make: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make()


def test_a_reply_equals_its_text_and_replies_of_the_same_kind_text_and_content() -> None:
    bold = Reply.markdown("**a**")
    assert bold == "**a**"
    assert "**a**" == bold  # noqa: SIM300  # the reflected comparison is what is tested
    assert bold == Reply.markdown("**a**")
    assert bold != Reply.html("**a**")
    assert Reply("json", "x", 1) != Reply("json", "x", 2)
    assert hash(bold) == hash("**a**")
    assert isinstance(bold, str)
    assert bold.upper() == "**A**"


def test_to_dict_and_from_dict_round_trip_every_kind() -> None:
    for reply in every_kind():
        data = reply.to_dict()
        assert set(data) == {"kind", "text", "content"}
        assert type(data["text"]) is str
        back = Reply.from_dict(data)
        assert (back.kind, str(back), back.content) == (reply.kind, str(reply), reply.content)


@pytest.mark.parametrize(
    "data",
    [
        ["markdown", "x", "x"],
        {"kind": "markdown", "text": "x"},
        {"kind": "markdown", "text": "x", "content": "x", "extra": 1},
        {"kind": 1, "text": "x", "content": "x"},
        {"kind": "markdown", "text": None, "content": "x"},
    ],
)
def test_from_dict_refuses_what_is_not_a_reply(data: Any) -> None:
    with pytest.raises(ValueError, match="a reply"):
        Reply.from_dict(data)


def test_pickle_and_deepcopy_keep_kind_text_and_content() -> None:
    for reply in every_kind():
        for back in (pickle.loads(pickle.dumps(reply)), copy.deepcopy(reply)):
            assert type(back) is Reply
            assert (back.kind, str(back), back.content) == (reply.kind, str(reply), reply.content)


def test_typed_makes_plain_strings_text_replies_and_keeps_rich_ones() -> None:
    bold = Reply.markdown("**a**")
    out = typed(["hi", bold, Answer.YES])
    assert [(r.kind, str(r)) for r in out] == [
        ("text", "hi"),
        ("markdown", "**a**"),
        ("text", "yes"),
    ]
    assert out[1] is bold


# -- the session's reply_* methods --------------------------------------------------------------


@pytest.fixture
def session() -> Session:
    bot = Bot("b")
    bot.new_state("start", initial=True)
    bot.freeze()
    session = Session(SessionData("alice", state="start"), bot)
    session._begin_turn()
    return session


def send_every_kind(session: Session) -> None:
    session.reply("plain")
    session.reply_markdown("**bold**")
    session.reply_html("<b>bold</b>")
    session.reply_options(["yes", "no"])
    session.reply_file(REPORT)
    session.reply_image(PNG, name="cat.png")
    session.reply_location(48.85, 2.35)
    session.reply_json({"rows": [1, 2], "title": "t"})


def test_each_reply_method_appends_its_reply_to_the_replies_and_the_history(
    session: Session,
) -> None:
    send_every_kind(session)
    expected = every_kind()
    assert session._replies == expected
    assert [type(r) for r in session._replies] == [str, *[Reply] * 7]
    assert session.chat_history == [(r, 0) for r in expected]
    assert [r.kind for r in typed(text for text, _ in session.chat_history)] == list(REPLY_KINDS)


def test_reply_image_takes_an_image_file(session: Session) -> None:
    session.reply_image(PICTURE, name="ignored")
    (reply,) = session._replies
    assert isinstance(reply, Reply)
    assert (reply.kind, str(reply), reply.as_file) == ("image", "cat.png", PICTURE)


def test_a_refused_reply_raises_before_anything_changes(session: Session) -> None:
    session.reply("kept")
    with pytest.raises(ValueError, match="at least one option"):
        session.reply_options([])
    with pytest.raises(TypeError, match="reply_json needs a JSON value"):
        session.reply_json(object())
    with pytest.raises(ValueError, match="image/\\* file"):
        session.reply_image(REPORT)
    assert session._replies == ["kept"]
    assert session.chat_history == [("kept", 0)]


def test_reply_methods_refuse_to_run_outside_the_session_s_turn(session: Session) -> None:
    session._end_turn()
    calls = [
        lambda: session.reply_markdown("x"),
        lambda: session.reply_html("x"),
        lambda: session.reply_options(["x"]),
        lambda: session.reply_file(REPORT),
        lambda: session.reply_image(PNG),
        lambda: session.reply_location(0, 0),
        lambda: session.reply_json(1),
        # Checked before the arguments: a bad call outside the turn is an access error too.
        lambda: session.reply_options([]),
    ]
    for call in calls:
        with pytest.raises(SessionAccessError, match="outside its own turn"):
            call()
    assert session._data.chat_history == []


# -- through a real Runtime -------------------------------------------------------------------


class RichBot:
    """Answers "all" with every kind between two text replies; counts the bodies it runs."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.bot = Bot("rich")
        start = self.bot.new_state("start", initial=True)
        start.set_fallback_body(self.body)

    def body(self, session: Session) -> None:
        message = session.message or ""
        self.ran.append(message)
        if message == "all":
            send_every_kind(session)
            session.reply("bye")
        elif message == "enum":
            session.reply(Answer.YES)
        elif message == "typed":
            session.reply(Reply.markdown("*via reply*"))
            session.reply(Reply.text("text via reply"))
        elif message == "unstorable":
            session.reply_markdown("**lost**")
            session.set("lock", threading.Lock())  # the commit cannot copy it
        elif message == "crash":
            session.reply_options(["lost"])
            raise SystemExit(1)
        else:
            session.reply(f"echo {message}")


ALL_TYPED = [*every_kind(), Reply.text("bye")]


def kinds_and_contents(replies: list[Reply]) -> list[tuple[str, str, Any]]:
    return [(r.kind, str(r), r.content) for r in replies]


def test_the_future_gives_the_texts_and_typed_result_every_reply_in_order() -> None:
    rich = RichBot()
    with Runtime(rich.bot) as rt:
        future = rt.send_message("u", "all")
        texts = future.result(TIMEOUT)
        assert isinstance(future, ReplyFuture)
        everything = future.typed_result(TIMEOUT)
    assert texts == ["plain", "bye"]
    assert all(type(text) is str for text in texts)
    assert all(type(reply) is Reply for reply in everything)
    assert kinds_and_contents(everything) == kinds_and_contents(ALL_TYPED)


def test_typed_result_of_a_text_only_turn_gives_text_replies() -> None:
    with Runtime(RichBot().bot) as rt:
        future = rt.send_message("u", "hi")
        assert isinstance(future, ReplyFuture)
        assert kinds_and_contents(future.typed_result(TIMEOUT)) == [("text", "echo hi", "echo hi")]
        assert future.result(TIMEOUT) == ["echo hi"]


def test_typed_result_waits_like_result_and_raises_the_turn_s_failure() -> None:
    with Runtime(RichBot().bot) as rt:
        future = rt.send_message("u", "crash")
        assert isinstance(future, ReplyFuture)
        with pytest.raises(SessionCrashedError):
            future.typed_result(TIMEOUT)
    pending: ReplyFuture[list[str]] = ReplyFuture()
    with pytest.raises(TimeoutError):
        pending.typed_result(0)


def test_a_str_subclass_sent_with_reply_stays_a_text_reply() -> None:
    with Runtime(RichBot().bot) as rt:
        future = rt.send_message("u", "enum")
        assert future.result(TIMEOUT) == [Answer.YES]
        assert isinstance(future, ReplyFuture)
        assert kinds_and_contents(future.typed_result(TIMEOUT)) == [("text", "yes", "yes")]


def test_a_reply_passed_to_reply_is_sent_as_its_kind() -> None:
    with Runtime(RichBot().bot) as rt:
        future = rt.send_message("u", "typed")
        assert future.result(TIMEOUT) == ["text via reply"]
        assert isinstance(future, ReplyFuture)
        assert kinds_and_contents(future.typed_result(TIMEOUT)) == [
            ("markdown", "*via reply*", "*via reply*"),
            ("text", "text via reply", "text via reply"),
        ]


def test_subscribers_get_every_reply_plain_and_rich_in_order() -> None:
    deliveries: list[list[str]] = []
    with (
        Runtime(RichBot().bot) as rt,
        rt.subscribe("u", lambda event, replies: deliveries.append(replies)),
    ):
        rt.send_message("u", "all").result(TIMEOUT)
    (replies,) = deliveries
    assert [type(r) for r in replies] == [str, *[Reply] * 7, str]
    assert kinds_and_contents(typed(replies)) == kinds_and_contents(ALL_TYPED)


def test_the_chat_history_holds_the_rich_replies() -> None:
    with Runtime(RichBot().bot) as rt:
        rt.send_message("u", "all").result(TIMEOUT)
        snapshot = rt.snapshot("u")
    assert snapshot is not None
    assert snapshot.chat_history[0] == ("all", 1)
    bot_texts = [text for text, sender in snapshot.chat_history if sender == 0]
    assert kinds_and_contents(typed(bot_texts)) == kinds_and_contents(ALL_TYPED)


@pytest.mark.parametrize(
    ("message", "error"), [("unstorable", SessionValueError), ("crash", SessionCrashedError)]
)
def test_a_turn_that_fails_after_a_rich_reply_rolls_its_history_back(
    message: str, error: type[Exception]
) -> None:
    with Runtime(RichBot().bot) as rt:
        rt.send_message("u", "hi").result(TIMEOUT)
        before = rt.snapshot("u")
        with pytest.raises(error):
            rt.send_message("u", message).result(TIMEOUT)
        assert rt.snapshot("u") == before
        assert rt.send_message("u", "again").result(TIMEOUT) == ["echo again"]
        after = rt.snapshot("u")
    assert before is not None
    assert after is not None
    assert after.chat_history == (*before.chat_history, ("again", 1), ("echo again", 0))
    assert not any(isinstance(text, Reply) for text, _ in after.chat_history)


def test_a_resend_returns_the_same_typed_replies_without_running_a_body() -> None:
    rich = RichBot()
    with Runtime(rich.bot) as rt:
        first = rt.send_message("u", "all", message_id="m1")
        first.result(TIMEOUT)
        again = rt.send_message("u", "all", message_id="m1")
        assert again.result(TIMEOUT) == ["plain", "bye"]
        assert isinstance(first, ReplyFuture)
        assert isinstance(again, ReplyFuture)
        assert kinds_and_contents(again.typed_result(TIMEOUT)) == kinds_and_contents(
            first.typed_result(TIMEOUT)
        )
        assert rt.stats().duplicates == 1
    assert rich.ran == ["all"]


def test_settling_a_turn_keeps_the_typed_replies_on_its_future() -> None:
    # The request is the caller's future: settling it resolves the texts, keeps every reply.
    counters = Counters()
    counters.running = True
    counters.accept()
    request = TurnRequest(Event.message("u", "x"))
    replies: list[str] = ["hi", Reply.markdown("*x*")]
    settled = Settlement(counters).succeed(request, TurnOutcome(replies=replies))
    assert settled
    assert request.result(0) == ["hi"]
    assert request._typed is replies  # type: ignore[attr-defined]
    assert [reply.kind for reply in request.typed_result(0)] == ["text", "markdown"]
    assert not Settlement(counters).succeed(request, TurnOutcome(replies=["again"]))
    assert request.result(0) == ["hi"]  # settled once: the second settlement changed nothing
