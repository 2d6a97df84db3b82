"""States and transitions of a bot (BBF semantics, checked at definition time)."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.bot._intent import Intent
from runtime.errors import BotDefinitionError

if TYPE_CHECKING:
    from runtime.bot._bot import Bot
    from runtime.bot._classifier import IntentClassifier
    from runtime.session import Session

__all__ = [
    "Body",
    "EventFn",
    "Operation",
    "State",
    "Transition",
    "TransitionKind",
    "check_arity",
    "default_body",
    "default_fallback_body",
]

Body = Callable[["Session"], Any]
"""A state body: called with the session when the session enters the state."""
EventFn = Callable[["Session", dict[str, Any]], Any]
"""A custom event: ``fn(session, event_params) -> bool``; true moves the session on."""
Operation = Callable[[Any, Any], Any]
"""A comparison for variable transitions: ``operation(stored_value, target) -> bool``."""

DEFAULT_FALLBACK_REPLY = "Sorry, I didn't get it"


def default_body(session: Session) -> None:
    """Do nothing: the body of a state that was given none."""


def default_fallback_body(session: Session) -> None:
    """Tell the user the message was not understood."""
    session.reply(DEFAULT_FALLBACK_REPLY)


def _describe(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def check_arity(fn: object, count: int, what: str) -> None:
    """Raise BotDefinitionError unless ``fn`` is callable with ``count`` positional arguments.

    Callables whose signature Python cannot inspect (some builtins) are accepted as they are.
    """
    if not callable(fn):
        raise BotDefinitionError(f"{what} must be callable, got {type(fn).__name__}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*([None] * count))
    except TypeError:
        plural = "parameter" if count == 1 else "parameters"
        raise BotDefinitionError(
            f"{what} {_describe(fn)}{signature} must take exactly {count} positional {plural}"
        ) from None


class TransitionKind(enum.Enum):
    """What makes a transition fire."""

    AUTO = "auto"  # always, right after the source state's body (go_to)
    INTENT = "intent_matched"  # a message whose predicted intent is the transition's intent
    NO_INTENT = "no_intent_matched"  # a message predicted as the fallback intent
    VARIABLE = "variable_matches_operation"  # operation(session.get(var_name), target) is true
    FILE = "file_received"  # a file arrives whose type is allowed
    EVENT = "event"  # a custom event function returns true


@dataclass(frozen=True, eq=False)
class Transition:
    """A move from ``source`` to ``dest`` when its condition holds."""

    kind: TransitionKind
    source: State
    dest: State
    intent: Intent | None = None
    var_name: str | None = None
    operation: Operation | None = None
    target: Any = None
    allowed_types: frozenset[str] | None = None
    event: EventFn | None = None
    event_params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Transition({self.kind.value}: {self.source.name} -> {self.dest.name})"


class State:
    """A state of a bot; create states with :meth:`Bot.new_state`, not directly."""

    def __init__(
        self,
        bot: Bot,
        name: str,
        *,
        initial: bool = False,
        classifier: IntentClassifier | None = None,
    ) -> None:
        self._bot = bot
        self._name = name
        self._initial = initial
        self._classifier = classifier
        self._body: Body = default_body
        self._fallback_body: Body | None = None
        self._transitions: list[Transition] = []
        self._intents: list[Intent] = []

    @property
    def name(self) -> str:
        """The state's name, unique within its bot."""
        return self._name

    @property
    def bot(self) -> Bot:
        """The bot this state belongs to."""
        return self._bot

    @property
    def initial(self) -> bool:
        """Whether sessions start in this state."""
        return self._initial

    @property
    def ic_config(self) -> IntentClassifier | None:
        """This state's own classifier (``new_state(..., ic_config=...)``), else None."""
        return self._classifier

    @property
    def classifier(self) -> IntentClassifier:
        """The classifier of this state's messages: its own, else the bot's."""
        return self._bot.classifier if self._classifier is None else self._classifier

    @property
    def body(self) -> Body:
        """The function run when a session enters this state."""
        return self._body

    @property
    def fallback_body(self) -> Body:
        """The function run when a message or file matches no transition.

        The state's own fallback body if set, else the bot's global one, else a short apology.
        """
        return self._fallback_body or self._bot.global_fallback_body or default_fallback_body

    @property
    def transitions(self) -> tuple[Transition, ...]:
        """The outgoing transitions, in definition order (the first that holds wins)."""
        return tuple(self._transitions)

    @property
    def intents(self) -> tuple[Intent, ...]:
        """The intents this state listens for, in definition order."""
        return tuple(self._intents)

    def __repr__(self) -> str:
        return f"State({self._name!r})"

    def set_body(self, body: Body) -> None:
        """Set the function run when a session enters this state.

        Args:
            body: any callable taking the session as its one argument.

        Raises:
            BotDefinitionError: ``body`` is not callable with one argument.
        """
        self._bot._check_mutable()
        check_arity(body, 1, f"body of state {self._name!r}")
        self._body = body

    def set_fallback_body(self, body: Body) -> None:
        """Set the function run when a message or file matches no transition of this state.

        Raises:
            BotDefinitionError: ``body`` is not callable with one argument.
        """
        self._bot._check_mutable()
        check_arity(body, 1, f"fallback body of state {self._name!r}")
        self._fallback_body = body

    def set_global(self, intent: Intent) -> None:
        """Make this state reachable from (almost) every state on ``intent``; once done, the
        session goes back to the state it came from (BBF's global states; see
        :mod:`runtime.bot._global` for the exact rules).

        Raises:
            BotDefinitionError: ``intent`` is not this bot's, or the bot is being served.
        """
        self._bot._set_global(self, intent)

    def go_to(self, dest: State) -> None:
        """Move on to ``dest`` right after this state's body runs (an automatic transition).

        Raises:
            BotDefinitionError: ``dest`` belongs to another bot, or this state has other
                transitions (an automatic transition must be the only one).
        """
        self._add(Transition(TransitionKind.AUTO, self, self._own(dest)))

    def when_intent_matched_go_to(self, intent: Intent, dest: State) -> None:
        """Move to ``dest`` when a message is classified as ``intent``.

        Raises:
            BotDefinitionError: the intent or the state is not this bot's, or this state
                already has a transition for the intent.
        """
        if not isinstance(intent, Intent) or not self._bot._owns_intent(intent):
            raise BotDefinitionError(
                f"{intent!r} is not an intent of bot {self._bot.name!r}: "
                "create it with bot.new_intent(name, training_sentences)"
            )
        if intent in self._intents:
            raise BotDefinitionError(
                f"state {self._name!r} already has a transition for intent {intent.name!r}"
            )
        self._add(Transition(TransitionKind.INTENT, self, self._own(dest), intent=intent))
        self._intents.append(intent)

    def when_no_intent_matched_go_to(self, dest: State) -> None:
        """Move to ``dest`` when a message matches none of this state's intents."""
        self._add(Transition(TransitionKind.NO_INTENT, self, self._own(dest)))

    def when_variable_matches_operation_go_to(
        self, var_name: str, operation: Operation, target: Any, dest: State
    ) -> None:
        """Move to ``dest`` when ``operation(session.get(var_name), target)`` is true.

        Checked right after this state's body runs and on every message, file or event.

        Raises:
            BotDefinitionError: ``var_name`` is not a str or ``operation`` does not take two
                arguments (``operator.eq``, ``operator.gt`` ... fit).
        """
        if not isinstance(var_name, str):
            raise BotDefinitionError(f"var_name must be a str, got {type(var_name).__name__}")
        check_arity(operation, 2, "operation")
        self._add(
            Transition(
                TransitionKind.VARIABLE,
                self,
                self._own(dest),
                var_name=var_name,
                operation=operation,
                target=target,
            )
        )

    def when_file_received_go_to(
        self, dest: State, allowed_types: str | Iterable[str] | None = None
    ) -> None:
        """Move to ``dest`` when a file arrives, if its MIME type is allowed.

        Args:
            dest: the state to move to.
            allowed_types: a MIME type or several (e.g. ``["image/png", "image/jpeg"]``);
                ``None`` allows every type. A file of another type runs the fallback body.
        """
        allowed: frozenset[str] | None = None
        if allowed_types is not None:
            allowed = frozenset(
                [allowed_types] if isinstance(allowed_types, str) else allowed_types
            )
            if not allowed or not all(isinstance(t, str) for t in allowed):
                raise BotDefinitionError(
                    "allowed_types must be a MIME type str or a non-empty list of them"
                )
        self._add(Transition(TransitionKind.FILE, self, self._own(dest), allowed_types=allowed))

    def when_event_go_to(
        self, event: EventFn, dest: State, event_params: dict[str, Any] | None = None
    ) -> None:
        """Move to ``dest`` when ``event(session, event_params)`` returns true.

        Checked right after this state's body runs and on every message, file or event; the
        event sent with ``Runtime.send_event`` is ``session.event`` while it is handled.

        Raises:
            BotDefinitionError: ``event`` does not take two arguments, or ``event_params`` is
                not a dict.
        """
        check_arity(event, 2, "event")
        if event_params is None:
            event_params = {}
        if not isinstance(event_params, dict):
            raise BotDefinitionError(
                f"event_params must be a dict, got {type(event_params).__name__}"
            )
        self._add(
            Transition(
                TransitionKind.EVENT,
                self,
                self._own(dest),
                event=event,
                event_params=dict(event_params),
            )
        )

    def _own(self, dest: State) -> State:
        if not isinstance(dest, State):
            raise BotDefinitionError(f"a transition needs a State as its destination, got {dest!r}")
        if dest._bot is not self._bot:
            raise BotDefinitionError(
                f"state {dest.name!r} belongs to bot {dest._bot.name!r}, not to "
                f"{self._bot.name!r}: transitions cannot cross bots"
            )
        return dest

    def _add(self, transition: Transition) -> None:
        self._bot._check_mutable()
        auto = TransitionKind.AUTO
        if self._transitions and (transition.kind is auto or self._transitions[0].kind is auto):
            raise BotDefinitionError(
                f"state {self._name!r}: an automatic go_to transition cannot be combined with "
                "other transitions on the same state"
            )
        self._transitions.append(transition)
        if transition.kind in (TransitionKind.AUTO, TransitionKind.INTENT, TransitionKind.EVENT):
            self._bot._note_transition(self, transition.dest)
