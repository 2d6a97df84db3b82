"""The bot logic of one turn: classify, pick a transition, run bodies, follow hops.

A *turn* is one event (open, message, file, event, reset) with every body and hop it triggers.
The engine runs it on one session, single-threaded; it knows nothing of actors, so the same code
runs inside a session actor, in the benchmarks' direct loop and in the deterministic simulator.

Semantics follow the BESSER Bot Framework:

- entering a state runs its body, then looks at its transitions in definition order: an
  automatic ``go_to`` moves on at once; a variable or custom-event transition that holds moves
  on; an intent transition (the state waits for a message) stops the scan;
- a message is classified among the current state's intents; the first transition that holds
  (intent matched, no intent matched, variable, custom event) moves the session; if none does,
  the state's fallback body runs;
- a file fires the first file transition whose allowed types include it, else the fallback body;
- an event (``Runtime.send_event``) is visible as ``session.event``; the first variable or
  custom-event transition that holds moves the session; otherwise nothing happens. The event is
  consumed once the body of the state it moved to has run, so it fires one transition at most
  (otherwise ``ringing.go_to(idle)`` would ring again on the same event).

Exceptions raised by bodies, event functions, operations and the classifier are logged with
the session's context and counted; the turn goes on (BBF semantics). A chain of hops longer than
``max_hops`` is cut with a logged error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, cast

from runtime.bot import (
    Bot,
    File,
    Intent,
    IntentClassifierPrediction,
    SimpleIntentClassifier,
    State,
    TransitionKind,
)
from runtime.bot._global import PREV_STATE
from runtime.bot._intent import MatchedParameter, fallback_intent
from runtime.bot._state import Transition
from runtime.errors import NotAvailableError
from runtime.event import ReceivedEvent, TurnKind, make_received
from runtime.log import get_logger
from runtime.session import Session

__all__ = ["DEFAULT_MAX_HOPS", "Engine", "TurnKind", "TurnOutcome", "make_event"]

DEFAULT_MAX_HOPS = 64

_AUTO = TransitionKind.AUTO
_INTENT = TransitionKind.INTENT
_NO_INTENT = TransitionKind.NO_INTENT
_VARIABLE = TransitionKind.VARIABLE
_FILE = TransitionKind.FILE
_EVENT = TransitionKind.EVENT
# Enum members read from the class cost ~75 ns each (EnumType's attribute hook); the hot path
# reads these module constants instead.
_MESSAGE_KIND = TurnKind.MESSAGE
_FILE_KIND = TurnKind.FILE
_EVENT_KIND = TurnKind.EVENT
_RESET_KIND = TurnKind.RESET


@dataclass(slots=True)
class TurnOutcome:
    """What a turn produced: its replies and what went wrong in the bot's code."""

    replies: list[str] = field(default_factory=list)
    opened: bool = False  # the initial body ran in this turn
    duplicate: bool = False  # a resend of a known message_id: replies are the stored ones
    body_errors: int = 0
    event_errors: int = 0
    classifier_errors: int = 0
    hop_limit_hit: bool = False


class _Turn:
    """Per-turn scratch state: which session, which kind, what happened so far."""

    __slots__ = ("hops", "kind", "outcome", "session")

    def __init__(self, session: Session, kind: TurnKind, outcome: TurnOutcome) -> None:
        self.session = session
        self.kind = kind
        self.outcome = outcome
        self.hops = 0

    def log(self, state: State) -> Any:
        return get_logger(
            session_id=self.session._data.id, state=state.name, event_kind=self.kind.value
        )


class Engine:
    """Run turns of one bot.

    Args:
        bot: the bot; frozen by the caller before the first turn.
        max_hops: the most state moves one turn may make before the chain is cut.
    """

    def __init__(self, bot: Bot, *, max_hops: int = DEFAULT_MAX_HOPS) -> None:
        if not isinstance(max_hops, int) or max_hops < 1:
            raise ValueError(f"max_hops must be a positive int, got {max_hops!r}")
        initial = bot.initial_state
        if initial is None:
            raise ValueError(f"bot {bot.name!r} has no initial state")
        self.bot = bot
        self.max_hops = max_hops
        self._initial = initial
        self._ner = bot.ner
        # Per state: its classifier, and whether its predictions are checked (the built-in
        # classifier's are well formed; a custom one's are checked).
        self._classifiers = {
            state: (state.classifier, type(state.classifier) is not SimpleIntentClassifier)
            for state in bot.states
        }
        self._globals = bot.global_states
        self._states = {state.name: state for state in bot.states}
        # Per state: its transitions and intents as tuples, computed once (the bot is frozen),
        # keyed by the State itself (identity hash: no property call on the hot path).
        self._transitions = {state: state.transitions for state in bot.states}
        self._intents = {state: state.intents for state in bot.states}

    def run_turn(
        self,
        session: Session,
        kind: TurnKind,
        payload: Any = None,
    ) -> TurnOutcome:
        """Run one turn on ``session`` and return its outcome.

        ``payload`` is the text for MESSAGE, the File for FILE, a ``ReceivedEvent`` for EVENT.
        The turn changes the session in place and commits nothing: committing, rolling back
        and exactly-once handling of ``message_id`` are :class:`runtime.turn.SessionTurns`'s.
        """
        outcome = TurnOutcome()
        data = session._data
        outcome.replies = session._begin_turn(payload if kind is _EVENT_KIND else None)
        turn = _Turn(session, kind, outcome)
        try:
            if kind is _RESET_KIND:
                data.clear()
            if data.state is None:
                data.state = self._initial.name
                outcome.opened = True
                self._enter(turn, self._initial)
            if kind is _MESSAGE_KIND:
                self._on_message(turn, payload)
            elif kind is _FILE_KIND:
                self._on_file(turn, payload)
            elif kind is _EVENT_KIND:
                self._on_event(turn)
        finally:
            session._end_turn()
        return outcome

    # -- incoming events --------------------------------------------------------------------

    def _on_message(self, turn: _Turn, text: str) -> None:
        data = turn.session._data
        state = self._states[data.state]  # type: ignore[index]
        data.message = text
        data.chat_history.append((text, 1))
        intents = self._intents[state]
        classifier, checked = self._classifiers[state]
        try:
            if checked:
                prediction = classifier.predict(text, intents)
                problem = _malformed(prediction)
                if problem is not None:
                    raise TypeError(f"the classifier's predict() returned {problem}")
                if prediction.intent.parameters and not prediction.matched_parameters:
                    found = self._ner.recognise(text, prediction.intent).parameters
                    prediction = dataclasses.replace(prediction, matched_parameters=found)
            else:  # the built-in classifier, given the bot's recogniser
                builtin = cast(SimpleIntentClassifier, classifier)
                prediction = builtin.predict(text, intents, ner=self._ner)
        except NotAvailableError as exc:
            turn.outcome.classifier_errors += 1
            turn.log(state).error("classifier_failed", error=str(exc))
            prediction = IntentClassifierPrediction(fallback_intent, 0.0)
        except Exception:
            turn.outcome.classifier_errors += 1
            turn.log(state).exception("classifier_failed")
            prediction = IntentClassifierPrediction(fallback_intent, 0.0)
        data.predicted_intent = prediction
        self._receive(turn, state, prediction)

    def _on_file(self, turn: _Turn, file: File) -> None:
        data = turn.session._data
        data.file = file
        self._receive(turn, self._states[data.state], None)  # type: ignore[index]

    def _on_event(self, turn: _Turn) -> None:
        state = self._states[turn.session._data.state]  # type: ignore[index]
        for transition in self._transitions[state]:
            if transition.kind in (_VARIABLE, _EVENT) and self._holds(turn, transition):
                self._move(turn, transition.dest)
                return

    def _receive(
        self, turn: _Turn, state: State, prediction: IntentClassifierPrediction | None
    ) -> None:
        """Fire the first transition that holds for a message or file, else the fallback."""
        file = turn.session._data.file if prediction is None else None
        for transition in self._transitions[state]:
            kind = transition.kind
            if kind is _INTENT:
                fires = prediction is not None and prediction.intent is transition.intent
            elif kind is _NO_INTENT:
                fires = prediction is not None and prediction.intent is fallback_intent
            elif kind is _FILE:
                allowed = transition.allowed_types
                fires = file is not None and (allowed is None or file.type in allowed)
            else:
                fires = self._holds(turn, transition)
            if fires:
                self._move(turn, transition.dest)
                return
        self._call(turn, state, state.fallback_body, "fallback_body")

    # -- moving between states --------------------------------------------------------------

    def _move(self, turn: _Turn, dest: State) -> None:
        if turn.hops >= self.max_hops:
            turn.outcome.hop_limit_hit = True
            turn.log(dest).error(
                "hop_limit_exceeded",
                max_hops=self.max_hops,
                detail="automatic transitions loop; the turn stops in the current state",
            )
            return
        turn.hops += 1
        data = turn.session._data
        if dest in self._globals:
            data.data[PREV_STATE] = data.state  # BBF: where a global state returns to
        data.state = dest.name
        self._enter(turn, dest)

    def _enter(self, turn: _Turn, state: State) -> None:
        """Run ``state``'s body, then follow the transition that moves on at once, if any."""
        while True:
            self._call(turn, state, state.body, "body")
            turn.session._event = None  # consumed: see the module docstring
            dest = self._next_after_body(turn, state)
            if dest is None:
                return
            if turn.hops >= self.max_hops:
                self._move(turn, dest)  # logs and records the cut
                return
            turn.hops += 1
            data = turn.session._data
            if dest in self._globals:
                data.data[PREV_STATE] = data.state
            data.state = dest.name
            state = dest

    def _next_after_body(self, turn: _Turn, state: State) -> State | None:
        for transition in self._transitions[state]:
            kind = transition.kind
            if kind is _AUTO:
                return transition.dest
            if kind is _INTENT or kind is _NO_INTENT:
                return None  # the state waits for a message
            if kind is not _FILE and self._holds(turn, transition):
                return transition.dest
        return None

    # -- calling the bot's code -------------------------------------------------------------

    def _call(self, turn: _Turn, state: State, body: Any, what: str) -> None:
        try:
            body(turn.session)
        except NotAvailableError as exc:  # a clear refusal: its message says it all
            turn.outcome.body_errors += 1
            turn.log(state).error(
                "body_failed",
                body=getattr(body, "__qualname__", repr(body)),
                which=what,
                error=str(exc),
            )
        except Exception:
            turn.outcome.body_errors += 1
            turn.log(state).exception(
                "body_failed", body=getattr(body, "__qualname__", repr(body)), which=what
            )

    def _holds(self, turn: _Turn, transition: Transition) -> bool:
        session = turn.session
        try:
            if transition.kind is _VARIABLE:
                value = session._data.data.get(transition.var_name)  # type: ignore[arg-type]
                return bool(transition.operation(value, transition.target))  # type: ignore[misc]
            return bool(transition.event(session, transition.event_params))  # type: ignore[misc]
        except Exception:
            turn.outcome.event_errors += 1
            turn.log(transition.source).exception(
                "event_failed", transition=repr(transition), detail="counted as not holding"
            )
            return False


def make_event(name: str, payload: Any) -> ReceivedEvent:
    """Build the ``session.event`` value for ``Runtime.send_event``."""
    return make_received(name, payload)


def _malformed(prediction: object) -> str | None:
    """Say what is wrong with a custom classifier's prediction (None: nothing).

    A prediction is part of the session (``session.predicted_intent``), stored with it: a
    malformed one must fail here, where it is a classifier error, not at the commit or later.
    """
    if not isinstance(prediction, IntentClassifierPrediction):
        return f"a {type(prediction).__name__}, not an IntentClassifierPrediction"
    if not isinstance(prediction.intent, Intent):
        return f"an intent of type {type(prediction.intent).__name__}, not an Intent"
    if type(prediction.score) not in (int, float):
        return f"a score of type {type(prediction.score).__name__}, not a float"
    if not isinstance(prediction.matched_sentence, str):
        return f"a matched_sentence of type {type(prediction.matched_sentence).__name__}, not a str"
    parameters = prediction.matched_parameters
    if not isinstance(parameters, list):
        return f"matched_parameters of type {type(parameters).__name__}, not a list"
    for parameter in parameters:
        if not isinstance(parameter, MatchedParameter):
            return f"a matched parameter of type {type(parameter).__name__}, not a MatchedParameter"
        if not isinstance(parameter.name, str) or not isinstance(parameter.info, dict):
            return (
                f"a matched parameter with a {type(parameter.name).__name__} name or a "
                f"{type(parameter.info).__name__} info, not a str and a dict"
            )
    if len({parameter.name for parameter in parameters}) < len(parameters):
        return "matched_parameters naming a parameter twice"
    return None
