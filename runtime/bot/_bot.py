"""The bot definition: states, intents, classifier; shared by all sessions, frozen once served."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from runtime.bot._intent import Intent
from runtime.bot._state import Body, State, check_arity
from runtime.errors import BotDefinitionError, BotFrozenError

if TYPE_CHECKING:
    from runtime.bot._classifier import IntentClassifier

__all__ = ["Bot"]


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} name must be a str, got {type(name).__name__}")
    if not name.strip():
        raise ValueError(f"{what} name must be a non-empty str")
    return name


class Bot:
    """A chatbot defined once and served to many users (BBF's bot-definition API).

    Args:
        name: the bot's name.
        classifier: how messages are classified into intents; defaults to
            :class:`SimpleIntentClassifier`. Anything with a
            ``predict(message, intents) -> IntentClassifierPrediction`` method fits.

    Example::

        bot = Bot("greetings")
        initial = bot.new_state("initial", initial=True)
        hello = bot.new_state("hello")
        hello_intent = bot.new_intent("hello_intent", ["hello", "hi"])
        initial.when_intent_matched_go_to(hello_intent, hello)
        hello.set_body(lambda session: session.reply("Hi!"))
        hello.go_to(initial)
    """

    def __init__(self, name: str, *, classifier: IntentClassifier | None = None) -> None:
        self._name = _check_name(name, "bot")
        self._states: dict[str, State] = {}
        self._intents: dict[str, Intent] = {}
        self._initial: State | None = None
        self._global_fallback_body: Body | None = None
        self._classifier = classifier
        self._frozen = False
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The bot's name."""
        return self._name

    @property
    def states(self) -> tuple[State, ...]:
        """The states, in creation order."""
        return tuple(self._states.values())

    @property
    def intents(self) -> tuple[Intent, ...]:
        """The intents, in creation order."""
        return tuple(self._intents.values())

    @property
    def initial_state(self) -> State | None:
        """The state every session starts in (None until one is created)."""
        return self._initial

    @property
    def global_fallback_body(self) -> Body | None:
        """The fallback body of every state that has none of its own, if set."""
        return self._global_fallback_body

    @property
    def classifier(self) -> IntentClassifier:
        """The intent classifier used for every state."""
        if self._classifier is None:
            from runtime.bot._classifier import SimpleIntentClassifier  # noqa: PLC0415

            self._classifier = SimpleIntentClassifier()
        return self._classifier

    @property
    def frozen(self) -> bool:
        """Whether a Runtime has started on this bot (then it can no longer change)."""
        return self._frozen

    def get_state(self, name: str) -> State:
        """Return the state called ``name``.

        Raises:
            KeyError: the bot has no such state.
        """
        try:
            return self._states[name]
        except KeyError:
            raise KeyError(f"bot {self._name!r} has no state {name!r}") from None

    def new_state(self, name: str, initial: bool = False) -> State:
        """Create a state.

        Args:
            name: unique within the bot.
            initial: whether sessions start here; exactly one state must be initial.

        Raises:
            BotDefinitionError: the name is taken, or an initial state already exists.
        """
        self._check_mutable()
        _check_name(name, "state")
        if name in self._states:
            raise BotDefinitionError(f"bot {self._name!r} already has a state named {name!r}")
        if initial and self._initial is not None:
            raise BotDefinitionError(
                f"bot {self._name!r} already has an initial state ({self._initial.name!r}); "
                "a bot has exactly one"
            )
        state = State(self, name, initial=bool(initial))
        self._states[name] = state
        if initial:
            self._initial = state
        return state

    def new_intent(self, name: str, training_sentences: Iterable[str] = ()) -> Intent:
        """Create an intent taught by ``training_sentences``.

        Raises:
            BotDefinitionError: the name is taken.
            TypeError: ``training_sentences`` is a single str or holds non-str items.
        """
        self._check_mutable()
        _check_name(name, "intent")
        if name in self._intents:
            raise BotDefinitionError(f"bot {self._name!r} already has an intent named {name!r}")
        if isinstance(training_sentences, str):
            raise TypeError("training_sentences must be a list of str, not a single str")
        sentences = tuple(training_sentences)
        for sentence in sentences:
            if not isinstance(sentence, str):
                raise TypeError(
                    f"training sentences must be str, got {type(sentence).__name__} "
                    f"in intent {name!r}"
                )
        intent = Intent(name, sentences)
        self._intents[name] = intent
        return intent

    def set_global_fallback_body(self, body: Body) -> None:
        """Set the fallback body of every state that has no fallback body of its own.

        Raises:
            BotDefinitionError: ``body`` is not callable with one argument.
        """
        self._check_mutable()
        check_arity(body, 1, "global fallback body")
        self._global_fallback_body = body

    def set_classifier(self, classifier: IntentClassifier) -> None:
        """Replace the intent classifier (anything with ``predict(message, intents)``)."""
        self._check_mutable()
        if not callable(getattr(classifier, "predict", None)):
            raise BotDefinitionError("a classifier needs a predict(message, intents) method")
        self._classifier = classifier

    def freeze(self) -> None:
        """Check the bot is complete and forbid further changes (a Runtime does this on start).

        Raises:
            BotDefinitionError: the bot has no initial state.
        """
        with self._lock:
            if self._initial is None:
                raise BotDefinitionError(
                    f"bot {self._name!r} has no initial state: create one with "
                    "bot.new_state(name, initial=True)"
                )
            _ = self.classifier
            self._frozen = True

    def _check_mutable(self) -> None:
        if self._frozen:
            raise BotFrozenError(
                f"bot {self._name!r} is being served by a Runtime and can no longer change; "
                "define it completely before starting the Runtime"
            )

    def code_modules(self) -> frozenset[str]:
        """Return the names of the modules the bot's functions come from (its own code).

        Bodies, fallback bodies and event functions count; the runtime's defaults do not. A
        store's codec accepts the dataclasses and enums defined in these modules.
        """
        functions: list[object] = [self._global_fallback_body]
        for state in self._states.values():
            functions += [state.body, state._fallback_body]
            functions += [transition.event for transition in state.transitions]
        names = {getattr(fn, "__module__", None) for fn in functions if fn is not None}
        return frozenset(name for name in names if isinstance(name, str)) - {"runtime.bot._state"}

    def get_intent(self, name: str) -> Intent | None:
        """Return the intent called ``name``, or None."""
        return self._intents.get(name)

    def _owns_intent(self, intent: Intent) -> bool:
        return self._intents.get(intent.name) is intent

    def __repr__(self) -> str:
        return f"Bot({self._name!r}, {len(self._states)} states, {len(self._intents)} intents)"
