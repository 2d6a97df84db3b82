"""Global states (BBF 1.5's ``State.set_global``): the transitions they get and the round trip."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import Bot, BotFrozenError, Session
from runtime.bot import TransitionKind
from runtime.bot._global import PREV_STATE
from runtime.engine import Engine, TurnKind
from runtime.errors import BotDefinitionError
from runtime.event import Event
from runtime.session import SessionData
from runtime.turn import SessionTurns


def reply(text: str) -> Any:
    def body(session: Session) -> None:
        session.reply(text)

    return body


class Chat:
    """One session driven turn by turn through the engine, no actors."""

    def __init__(self, bot: Bot) -> None:
        bot.freeze()
        self.data = SessionData("alice")
        self.turns = SessionTurns(Engine(bot), self.data)

    def say(self, text: str) -> list[str]:
        return self.turns.run(Event("alice", TurnKind.MESSAGE, text)).replies

    def open(self) -> list[str]:
        return self.turns.run(Event("alice", TurnKind.OPEN)).replies


def help_bot(*, two_step: bool = False, chain_after: bool = False) -> Bot:
    """start --hello--> greet --bye--> start; help is global (help, or help then more)."""
    bot = Bot("helpful")
    start = bot.new_state("start", initial=True)
    greet = bot.new_state("greet")
    help_state = bot.new_state("help")
    more = bot.new_state("more")
    hello = bot.new_intent("hello", ["hello", "hi"])
    bye = bot.new_intent("bye", ["bye", "goodbye"])
    help_intent = bot.new_intent("help_intent", ["help", "I need help"])
    more_intent = bot.new_intent("more_intent", ["tell me more", "more"])
    start.set_body(reply("start"))
    greet.set_body(reply("greet"))
    help_state.set_body(reply("help"))
    more.set_body(reply("more"))
    start.when_intent_matched_go_to(hello, greet)
    greet.when_intent_matched_go_to(bye, start)
    if two_step and not chain_after:
        help_state.when_intent_matched_go_to(more_intent, more)
    help_state.set_global(help_intent)
    if two_step and chain_after:
        help_state.when_intent_matched_go_to(more_intent, more)  # grows the component (BBF)
    return bot


def test_a_global_state_is_entered_from_another_state_and_returns_to_it() -> None:
    chat = Chat(help_bot())
    assert chat.say("hi") == ["start", "greet"]
    # The global state's body, then back to greet, whose body runs again (BBF).
    assert chat.say("help") == ["help", "greet"]
    assert chat.data.state == "greet"
    assert chat.data.data[PREV_STATE] == "greet"  # the state's name (BBF stores the State)
    assert chat.say("bye") == ["start"]
    assert chat.say("I need help") == ["help", "start"]
    assert chat.data.data[PREV_STATE] == "start"


@pytest.mark.parametrize("chain_after", [False, True])
def test_a_two_state_component_returns_from_its_last_state(chain_after: bool) -> None:
    chat = Chat(help_bot(two_step=True, chain_after=chain_after))
    chat.say("hi")
    assert chat.say("help") == ["help"]
    assert chat.data.state == "help"  # waits for the rest of the component
    assert chat.say("tell me more") == ["more", "greet"]
    assert chat.data.state == "greet"


def test_states_get_the_global_transition_after_their_own() -> None:
    bot = help_bot(two_step=True)
    bot.freeze()
    start, greet, help_state, more = (bot.get_state(n) for n in ("start", "greet", "help", "more"))
    for state, own in ((start, "greet"), (greet, "start")):
        assert [(t.kind, t.dest.name) for t in state.transitions] == [
            (TransitionKind.INTENT, own),
            (TransitionKind.INTENT, "help"),
        ]
    # The component (help, more) gets no way into itself; its last state one way back per state.
    assert [t.dest.name for t in help_state.transitions] == ["more"]
    back = [(t.kind, t.var_name, t.target, t.dest.name) for t in more.transitions]
    assert back == [
        (TransitionKind.VARIABLE, PREV_STATE, "start", "start"),
        (TransitionKind.VARIABLE, PREV_STATE, "greet", "greet"),
    ]


def test_states_without_transitions_or_with_an_automatic_one_get_no_global_transition() -> None:
    bot = Bot("b")
    start = bot.new_state("start", initial=True)
    hop = bot.new_state("hop")
    end = bot.new_state("end")
    help_state = bot.new_state("help")
    help_intent = bot.new_intent("help_intent", ["help"])
    go = bot.new_intent("go", ["go"])
    start.when_intent_matched_go_to(go, hop)
    hop.go_to(end)
    help_state.set_global(help_intent)
    bot.freeze()
    assert [t.dest.name for t in start.transitions] == ["hop", "help"]
    assert [t.dest.name for t in hop.transitions] == ["end"]
    assert end.transitions == ()
    assert [t.target for t in help_state.transitions] == ["start"]


def test_entering_a_global_state_by_an_automatic_transition_records_where_from() -> None:
    bot = Bot("b")
    start = bot.new_state("start", initial=True)
    hop = bot.new_state("hop")
    help_state = bot.new_state("help")
    help_intent = bot.new_intent("help_intent", ["help"])
    go = bot.new_intent("go", ["go"])
    start.when_intent_matched_go_to(go, hop)
    hop.set_body(reply("hop"))
    hop.go_to(help_state)
    help_state.set_body(reply("help"))
    help_state.set_global(help_intent)
    chat = Chat(bot)
    chat.open()
    # BBF's move(): any move into a global state stores where it came from; "hop" has an
    # automatic first transition, so the component has no way back to it and the session waits.
    assert chat.say("go") == ["hop", "help"]
    assert chat.data.data[PREV_STATE] == "hop"
    assert chat.data.state == "help"


def test_two_global_states_each_return_to_where_they_were_entered() -> None:
    bot = Bot("b")
    start = bot.new_state("start", initial=True)
    other = bot.new_state("other")
    help_state = bot.new_state("help")
    about = bot.new_state("about")
    go = bot.new_intent("go", ["go"])
    back = bot.new_intent("back", ["back"])
    help_intent = bot.new_intent("help_intent", ["help"])
    about_intent = bot.new_intent("about_intent", ["about"])
    start.when_intent_matched_go_to(go, other)
    other.when_intent_matched_go_to(back, start)
    for state, text in ((start, "start"), (other, "other"), (help_state, "help"), (about, "about")):
        state.set_body(reply(text))
    help_state.set_global(help_intent)
    about.set_global(about_intent)
    chat = Chat(bot)
    chat.open()
    assert chat.say("about") == ["about", "start"]
    assert chat.say("go") == ["other"]
    assert chat.say("help") == ["help", "other"]
    assert chat.say("about") == ["about", "other"]
    assert [t.dest.name for t in other.transitions] == ["start", "help", "about"]


def test_a_cycle_of_first_transitions_ends_the_component_instead_of_looping() -> None:
    # BBF's set_global loops forever here; the component stops at the cycle instead.
    bot = Bot("b")
    start = bot.new_state("start", initial=True)
    ping = bot.new_state("ping")
    pong = bot.new_state("pong")
    go = bot.new_intent("go", ["go"])
    ball = bot.new_intent("ball", ["ball"])
    start.when_intent_matched_go_to(go, start)
    ping.when_intent_matched_go_to(ball, pong)
    pong.when_intent_matched_go_to(ball, ping)
    ping.set_global(bot.new_intent("play", ["play"]))
    bot.freeze()
    assert [t.dest.name for t in start.transitions] == ["start", "ping"]
    assert [(t.kind, t.dest.name) for t in pong.transitions] == [
        (TransitionKind.INTENT, "ping"),
        (TransitionKind.VARIABLE, "start"),
    ]


def test_set_global_takes_only_this_bots_intents_and_only_before_serving() -> None:
    bot = Bot("b")
    help_state = bot.new_state("help", initial=True)
    foreign = Bot("other").new_intent("help_intent", ["help"])
    with pytest.raises(BotDefinitionError, match="not an intent of bot 'b'"):
        help_state.set_global(foreign)
    assert bot.global_states == frozenset()
    mine = bot.new_intent("help_intent", ["help"])
    bot.freeze()
    with pytest.raises(BotFrozenError):
        help_state.set_global(mine)
    assert bot.global_states == frozenset()


def test_freezing_twice_adds_the_global_transitions_once() -> None:
    bot = help_bot()
    bot.freeze()
    bot.freeze()
    assert len(bot.get_state("greet").transitions) == 2
    assert len(bot.get_state("help").transitions) == 2


def test_a_state_s_own_transition_on_the_global_intent_is_refused_whole() -> None:
    bot = Bot("conflict")
    start = bot.new_state("start", initial=True)
    other = bot.new_state("other")
    helper = bot.new_state("help")
    hello = bot.new_intent("hello", ["hello"])
    helping = bot.new_intent("helping", ["help"])
    start.when_intent_matched_go_to(hello, other)
    other.when_intent_matched_go_to(helping, start)  # its own meaning of "help"
    helper.set_global(helping)
    before = {state.name: state.transitions for state in bot.states}
    for _ in range(2):  # the same message each time: nothing was half added
        with pytest.raises(BotDefinitionError, match="state 'other' has its own transition on"):
            bot.freeze()
    assert {state.name: state.transitions for state in bot.states} == before
