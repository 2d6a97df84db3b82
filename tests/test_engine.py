"""Turn semantics (BBF): transitions in definition order, bodies, fallbacks, hops, errors."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from runtime import Bot, File, Intent, IntentClassifierPrediction, Session, fallback_intent
from runtime.engine import Engine, TurnKind, TurnOutcome, make_event
from runtime.event import Event
from runtime.session import SessionData
from runtime.turn import SessionTurns


def reply(text: str) -> Any:
    def body(session: Session) -> None:
        session.reply(text)

    body.__qualname__ = f"reply({text!r})"
    return body


class Harness:
    """One session driven turn by turn through an Engine and the commit point, no actors."""

    def __init__(self, bot: Bot, **engine_options: Any) -> None:
        bot.freeze()
        self.engine = Engine(bot, **engine_options)
        self.data = SessionData("alice")
        self.turns = SessionTurns(self.engine, self.data)
        self.session = self.turns.session

    def turn(
        self, kind: TurnKind, payload: Any = None, message_id: str | None = None
    ) -> TurnOutcome:
        return self.turns.run(Event("alice", kind, payload, message_id))

    def say(self, text: str, message_id: str | None = None) -> list[str]:
        return self.turn(TurnKind.MESSAGE, text, message_id).replies

    def send_file(self, file: File) -> list[str]:
        return self.turn(TurnKind.FILE, file).replies

    def event(self, name: str, payload: dict[str, Any] | None = None) -> list[str]:
        return self.turn(TurnKind.EVENT, make_event(name, payload)).replies


@pytest.fixture
def greetings() -> Bot:
    bot = Bot("greetings")
    initial = bot.new_state("initial", initial=True)
    hello = bot.new_state("hello")
    good = bot.new_state("good")
    hello_intent = bot.new_intent("hello_intent", ["hello", "hi"])
    good_intent = bot.new_intent("good_intent", ["good", "great", "fine"])
    initial.set_body(reply("Welcome"))
    initial.when_intent_matched_go_to(hello_intent, hello)
    hello.set_body(reply("Hi! How are you?"))
    hello.when_intent_matched_go_to(good_intent, good)
    good.set_body(reply("Glad to hear it"))
    good.go_to(initial)
    return bot


def test_the_first_turn_opens_the_session_with_the_initial_body(greetings: Bot) -> None:
    h = Harness(greetings)
    outcome = h.turn(TurnKind.OPEN)
    assert outcome.replies == ["Welcome"]
    assert outcome.opened
    assert h.data.state == "initial"
    assert h.turn(TurnKind.OPEN).replies == []


def test_a_message_to_a_new_session_gets_the_initial_replies_first(greetings: Bot) -> None:
    h = Harness(greetings)
    assert h.say("hi") == ["Welcome", "Hi! How are you?"]
    assert h.data.state == "hello"


def test_automatic_transitions_run_the_next_body_at_once(greetings: Bot) -> None:
    h = Harness(greetings)
    h.say("hi")
    assert h.say("I'm feeling great") == ["Glad to hear it", "Welcome"]
    assert h.data.state == "initial"


def test_an_unmatched_message_runs_the_default_fallback_body(greetings: Bot) -> None:
    h = Harness(greetings)
    h.turn(TurnKind.OPEN)
    assert h.say("purple elephant") == ["Sorry, I didn't get it"]
    assert h.data.state == "initial"
    assert h.data.predicted_intent is not None
    assert h.data.predicted_intent.intent is fallback_intent


def test_the_state_fallback_body_beats_the_global_one() -> None:
    bot = Bot("b")
    a = bot.new_state("a", initial=True)
    b = bot.new_state("b")
    hello = bot.new_intent("hello", ["hello"])
    a.when_intent_matched_go_to(hello, b)
    b.when_intent_matched_go_to(hello, a)
    bot.set_global_fallback_body(reply("global"))
    b.set_fallback_body(reply("local"))
    h = Harness(bot)
    assert h.say("zzz") == ["global"]
    h.say("hello")
    assert h.say("zzz") == ["local"]


def test_messages_record_history_message_and_prediction(greetings: Bot) -> None:
    h = Harness(greetings)
    h.say("hello there!")
    assert h.data.chat_history == [
        ("Welcome", 0),
        ("hello there!", 1),
        ("Hi! How are you?", 0),
    ]
    assert h.data.message == "hello there!"
    prediction = h.data.predicted_intent
    assert prediction is not None
    assert prediction.intent.name == "hello_intent"
    assert prediction.matched_sentence in ("hello", "hi")


def test_no_intent_matched_transition_fires_on_the_fallback_intent() -> None:
    bot = Bot("b")
    a = bot.new_state("a", initial=True)
    other = bot.new_state("other")
    hello = bot.new_intent("hello", ["hello"])
    a.when_intent_matched_go_to(hello, a)
    a.when_no_intent_matched_go_to(other)
    other.set_body(reply("moved"))
    h = Harness(bot)
    assert h.say("purple elephant") == ["moved"]
    assert h.data.state == "other"


def test_the_first_transition_that_holds_wins_in_definition_order() -> None:
    bot = Bot("b")
    a = bot.new_state("a", initial=True)
    by_variable = bot.new_state("by_variable")
    by_intent = bot.new_state("by_intent")
    hello = bot.new_intent("hello", ["hello"])
    a.when_intent_matched_go_to(hello, by_intent)
    a.when_variable_matches_operation_go_to("flag", operator.eq, True, by_variable)
    by_variable.set_body(reply("variable"))
    by_intent.set_body(reply("intent"))
    h = Harness(bot)
    h.turn(TurnKind.OPEN)
    h.data.data["flag"] = True
    assert h.say("hello") == ["intent"]


def test_a_variable_transition_that_holds_after_a_body_moves_at_once() -> None:
    bot = Bot("b")
    counting = bot.new_state("counting", initial=True)
    done = bot.new_state("done")
    bump = bot.new_intent("bump", ["bump"])

    def count(session: Session) -> None:
        session.set("n", (session.get("n") or 0) + 1)
        session.reply(f"n={session.get('n')}")

    counting.set_body(count)
    counting.when_variable_matches_operation_go_to("n", operator.ge, 3, done)
    counting.when_intent_matched_go_to(bump, counting)
    done.set_body(reply("done"))
    h = Harness(bot)
    assert h.turn(TurnKind.OPEN).replies == ["n=1"]
    assert h.say("bump") == ["n=2"]
    assert h.say("bump") == ["n=3", "done"]
    assert h.data.state == "done"


def test_an_intent_transition_stops_the_scan_after_a_body() -> None:
    bot = Bot("b")
    a = bot.new_state("a", initial=True)
    b = bot.new_state("b")
    hello = bot.new_intent("hello", ["hello"])
    a.when_intent_matched_go_to(hello, b)
    a.when_event_go_to(lambda session, params: True, b, {})
    b.set_body(reply("b"))
    h = Harness(bot)
    assert h.turn(TurnKind.OPEN).replies == []
    assert h.data.state == "a"


def test_a_custom_event_that_holds_after_a_body_moves_at_once() -> None:
    bot = Bot("b")
    a = bot.new_state("a", initial=True)
    b = bot.new_state("b")
    a.when_event_go_to(lambda session, params: params["go"], b, {"go": True})
    b.set_body(reply("b"))
    h = Harness(bot)
    assert h.turn(TurnKind.OPEN).replies == ["b"]


def image_bot() -> Bot:
    bot = Bot("files")
    waiting = bot.new_state("waiting", initial=True)
    got = bot.new_state("got")
    waiting.when_file_received_go_to(got, allowed_types=["image/png"])
    got.set_body(lambda session: session.reply(f"got {session.file.name}"))
    got.go_to(waiting)
    return bot


def test_an_allowed_file_fires_the_file_transition() -> None:
    h = Harness(image_bot())
    png = File(file_name="cat.png", file_data=b"\x89PNG")
    assert h.send_file(png) == ["got cat.png"]
    assert h.data.file == png
    assert h.data.state == "waiting"


def test_a_file_of_another_type_runs_the_fallback_body() -> None:
    h = Harness(image_bot())
    assert h.send_file(File(file_name="notes.txt", file_data=b"hi")) == ["Sorry, I didn't get it"]
    assert h.data.state == "waiting"


def test_a_message_never_fires_a_file_transition() -> None:
    h = Harness(image_bot())
    assert h.say("here is a picture") == ["Sorry, I didn't get it"]


def event_bot() -> Bot:
    bot = Bot("events")
    idle = bot.new_state("idle", initial=True)
    ringing = bot.new_state("ringing")

    def named(session: Session, params: dict[str, Any]) -> bool:
        return session.event is not None and session.event.name == params["name"]

    idle.when_event_go_to(named, ringing, {"name": "alarm"})
    ringing.set_body(lambda session: session.reply(f"alarm: {session.event.payload['text']}"))
    ringing.go_to(idle)
    return bot


def test_an_event_is_visible_to_event_functions_and_bodies() -> None:
    h = Harness(event_bot())
    h.turn(TurnKind.OPEN)
    assert h.event("alarm", {"text": "wake up"}) == ["alarm: wake up"]
    assert h.data.state == "idle"


def test_an_event_no_transition_waits_for_does_nothing() -> None:
    h = Harness(event_bot())
    h.turn(TurnKind.OPEN)
    assert h.event("other") == []
    assert h.data.state == "idle"
    assert h.session._event is None  # the event does not outlive its turn


def test_a_failing_body_is_logged_counted_and_the_session_goes_on() -> None:
    bot = Bot("b")
    a = bot.new_state("a", initial=True)
    broken = bot.new_state("broken")
    hello = bot.new_intent("hello", ["hello"])
    a.when_intent_matched_go_to(hello, broken)

    def fail(session: Session) -> None:
        session.reply("before")
        raise ZeroDivisionError("boom")

    broken.set_body(fail)
    broken.go_to(a)
    a.set_body(reply("back"))
    h = Harness(bot)
    h.turn(TurnKind.OPEN)
    with capture_logs() as logs:
        outcome = h.turn(TurnKind.MESSAGE, "hello")
    assert outcome.replies == ["before", "back"]
    assert outcome.body_errors == 1
    assert h.data.state == "a"
    [entry] = [e for e in logs if e["event"] == "body_failed"]
    assert entry["log_level"] == "error"
    assert entry["session_id"] == "alice"
    assert entry["state"] == "broken"
    assert entry["event_kind"] == "message"
    assert entry["exc_info"] is True


def test_a_failing_event_function_counts_as_false_and_is_logged() -> None:
    bot = Bot("b")
    a = bot.new_state("a", initial=True)
    b = bot.new_state("b")

    def broken(session: Session, params: dict[str, Any]) -> bool:
        raise KeyError("nope")

    a.when_event_go_to(broken, b, {})
    h = Harness(bot)
    with capture_logs() as logs:
        outcome = h.turn(TurnKind.OPEN)
    assert outcome.event_errors == 1
    assert h.data.state == "a"
    assert [e["event"] for e in logs] == ["event_failed"]
    assert logs[0]["session_id"] == "alice"


def test_an_automatic_transition_loop_is_cut_after_max_hops() -> None:
    bot = Bot("loop")
    a = bot.new_state("a", initial=True)
    b = bot.new_state("b")
    a.set_body(reply("a"))
    b.set_body(reply("b"))
    a.go_to(b)
    b.go_to(a)
    h = Harness(bot, max_hops=5)
    with capture_logs() as logs:
        outcome = h.turn(TurnKind.OPEN)
    assert outcome.hop_limit_hit
    assert outcome.replies == ["a", "b", "a", "b", "a", "b"]
    [entry] = logs
    assert entry["event"] == "hop_limit_exceeded"
    assert entry["log_level"] == "error"
    assert entry["max_hops"] == 5
    assert entry["session_id"] == "alice"
    assert entry["event_kind"] == "open"


def test_reset_forgets_everything_and_reruns_the_initial_body(greetings: Bot) -> None:
    h = Harness(greetings)
    h.say("hi")
    h.data.data["x"] = 1
    outcome = h.turn(TurnKind.RESET)
    assert outcome.replies == ["Welcome"]
    assert outcome.opened
    assert h.data.state == "initial"
    assert h.data.data == {}
    assert h.data.chat_history == [("Welcome", 0)]


def test_a_resent_message_id_returns_the_stored_replies_without_running_bodies() -> None:
    bot = Bot("count")
    a = bot.new_state("a", initial=True)
    hello = bot.new_intent("hello", ["hello"])

    def count(session: Session) -> None:
        session.set("n", (session.get("n") or 0) + 1)
        session.reply(f"n={session.get('n')}")

    a.when_intent_matched_go_to(hello, a)
    a.set_body(count)
    h = Harness(bot)
    assert h.say("hello", message_id="m1") == ["n=1", "n=2"]
    again = h.turn(TurnKind.MESSAGE, "hello", "m1")
    assert again.duplicate
    assert again.replies == ["n=1", "n=2"]
    assert h.data.data["n"] == 2
    assert h.say("hello", message_id="m2") == ["n=3"]


class FixedClassifier:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def predict(self, message: str, intents: Sequence[Intent]) -> IntentClassifierPrediction:
        self.calls.append((message, tuple(i.name for i in intents)))
        return IntentClassifierPrediction(intents[-1], 0.9, "fixed")


def test_a_custom_classifier_sees_the_current_state_intents() -> None:
    classifier = FixedClassifier()
    bot = Bot("b", classifier=classifier)
    a = bot.new_state("a", initial=True)
    b = bot.new_state("b")
    x = bot.new_intent("x", ["x"])
    y = bot.new_intent("y", ["y"])
    a.when_intent_matched_go_to(x, a)
    a.when_intent_matched_go_to(y, b)
    b.set_body(reply("b"))
    h = Harness(bot)
    assert h.say("anything") == ["b"]
    assert classifier.calls == [("anything", ("x", "y"))]


def test_a_failing_classifier_predicts_the_fallback_intent() -> None:
    class Broken:
        def predict(self, message: str, intents: Sequence[Intent]) -> IntentClassifierPrediction:
            raise RuntimeError("model missing")

    bot = Bot("b", classifier=Broken())
    bot.new_state("a", initial=True)
    h = Harness(bot)
    with capture_logs() as logs:
        outcome = h.turn(TurnKind.MESSAGE, "hi")
    assert outcome.classifier_errors == 1
    assert outcome.replies == ["Sorry, I didn't get it"]
    assert logs[0]["event"] == "classifier_failed"


def test_engine_options_are_validated(greetings: Bot) -> None:
    with pytest.raises(ValueError, match="max_hops"):
        Engine(greetings, max_hops=0)
