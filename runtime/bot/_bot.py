"""The bot definition: states, intents, classifier; shared by all sessions, frozen once served."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from runtime.bot._entity import Entity, IntentParameter
from runtime.bot._global import GlobalStates
from runtime.bot._intent import Intent
from runtime.bot._settings import BotSettings, check_classifier
from runtime.bot._state import Body, State, check_arity
from runtime.errors import BotDefinitionError

if TYPE_CHECKING:
    from runtime.bot._classifier import IntentClassifier

__all__ = ["Bot"]


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} name must be a str, got {type(name).__name__}")
    if not name.strip():
        raise ValueError(f"{what} name must be a non-empty str")
    return name


class Bot(BotSettings):
    """A chatbot defined once and served to many users (BBF's bot-definition API).

    Args:
        name: the bot's name.
        classifier: how messages are classified into intents; defaults to
            :class:`SimpleIntentClassifier` (its threshold from ``nlp.intent_threshold`` when
            that property is set). Anything with a
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
        super().__init__(_check_name(name, "bot"), classifier)
        self._states: dict[str, State] = {}
        self._intents: dict[str, Intent] = {}
        self._initial: State | None = None
        self._global_fallback_body: Body | None = None
        self._entities: dict[str, Entity] = {}
        self._globals = GlobalStates()
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
    def entities(self) -> tuple[Entity, ...]:
        """The custom and base entities created with :meth:`new_entity`, in creation order."""
        return tuple(self._entities.values())

    @property
    def global_states(self) -> frozenset[State]:
        """The states made global with :meth:`State.set_global`."""
        return self._globals.states

    @property
    def initial_state(self) -> State | None:
        """The state every session starts in (None until one is created)."""
        return self._initial

    @property
    def global_fallback_body(self) -> Body | None:
        """The fallback body of every state that has none of its own, if set."""
        return self._global_fallback_body

    def get_state(self, name: str) -> State:
        """Return the state called ``name``.

        Raises:
            KeyError: the bot has no such state.
        """
        try:
            return self._states[name]
        except KeyError:
            raise KeyError(f"bot {self._name!r} has no state {name!r}") from None

    def new_state(
        self, name: str, initial: bool = False, ic_config: IntentClassifier | None = None
    ) -> State:
        """Create a state.

        Args:
            name: unique within the bot.
            initial: whether sessions start here; exactly one state must be initial.
            ic_config: the classifier of this state's messages (anything with
                ``predict(message, intents)``); None: the one set with
                :meth:`set_default_ic_config`, else the bot's classifier.

        Raises:
            BotDefinitionError: the name is taken, an initial state already exists, or
                ``ic_config`` has no ``predict`` method.
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
        if ic_config is not None:
            check_classifier(ic_config, f"state {name!r}: ic_config")
        state = State(
            self,
            name,
            initial=bool(initial),
            classifier=ic_config if ic_config is not None else self._default_ic_config,
        )
        self._states[name] = state
        if initial:
            self._initial = state
        return state

    def new_intent(
        self,
        name: str,
        training_sentences: Iterable[str] | None = (),
        parameters: Iterable[IntentParameter] | None = None,
        description: str | None = None,
    ) -> Intent:
        """Create an intent taught by ``training_sentences``.

        Args:
            name: unique within the bot.
            training_sentences: how users say it; a parameter's fragment stands for its value
                (``"what is the weather in CITY?"``).
            parameters: the intent's parameters; or add them with :meth:`Intent.parameter`.
            description: what the intent means, in words.

        Raises:
            BotDefinitionError: the name is taken, a parameter is not an IntentParameter, or
                two parameters share a name.
            TypeError: ``training_sentences`` is a single str or holds non-str items, or
                ``description`` is not a str.
        """
        self._check_mutable()
        _check_name(name, "intent")
        if name in self._intents:
            raise BotDefinitionError(f"bot {self._name!r} already has an intent named {name!r}")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description must be a str, got {type(description).__name__}")
        if training_sentences is None:
            training_sentences = ()
        if isinstance(training_sentences, str):
            raise TypeError("training_sentences must be a list of str, not a single str")
        sentences = tuple(training_sentences)
        for sentence in sentences:
            if not isinstance(sentence, str):
                raise TypeError(
                    f"training sentences must be str, got {type(sentence).__name__} "
                    f"in intent {name!r}"
                )
        intent = Intent(name, sentences, description=description, check_mutable=self._check_mutable)
        if parameters is not None and (
            isinstance(parameters, str | bytes) or not isinstance(parameters, Iterable)
        ):
            raise TypeError(
                f"parameters must be a list of IntentParameter, got {type(parameters).__name__}"
            )
        for parameter in parameters or ():
            intent._add_parameter(parameter)
        self._intents[name] = intent
        return intent

    def new_entity(
        self,
        name: str,
        base_entity: bool = False,
        entries: Mapping[str, Iterable[str]] | None = None,
        description: str | None = None,
    ) -> Entity:
        """Create an entity: the values an intent parameter can take.

        Example::

            city = bot.new_entity("city_entity", entries={"Barcelona": ["BCN", "barna"]})

        Args:
            name: unique within the bot.
            base_entity: create one of the base entities (``base.number``,
                ``base.date-time``, ``base.any``) by its name; usually one uses
                ``number_entity``, ``datetime_entity`` or ``any_entity`` directly.
            entries: each value mapped to its synonyms (a custom entity needs at least one).
            description: what the entity means, in words.

        Raises:
            BotDefinitionError: the name is taken, or the entries are not a dict of str to
                lists of str (see :class:`Entity`).
        """
        self._check_mutable()
        _check_name(name, "entity")
        if name in self._entities:
            raise BotDefinitionError(f"bot {self._name!r} already has an entity named {name!r}")
        entity = Entity(name, base_entity, entries, description)
        self._entities[name] = entity
        return entity

    def set_global_fallback_body(self, body: Body) -> None:
        """Set the fallback body of every state that has no fallback body of its own.

        Raises:
            BotDefinitionError: ``body`` is not callable with one argument.
        """
        self._check_mutable()
        check_arity(body, 1, "global fallback body")
        self._global_fallback_body = body

    def freeze(self) -> None:
        """Check the bot is complete and forbid further changes (a Runtime does this on start).

        Global states get their transitions here (BBF does it when training).

        Raises:
            BotDefinitionError: the bot has no initial state, or a property has a value of the
                wrong type.
        """
        with self._lock:
            if self._frozen:
                return
            if self._initial is None:
                raise BotDefinitionError(
                    f"bot {self._name!r} has no initial state: create one with "
                    "bot.new_state(name, initial=True)"
                )
            self._globals.connect(self.states)
            _ = self.classifier, self.ner
            self._frozen = True

    def _note_transition(self, source: State, dest: State) -> None:
        self._globals.note_transition(source, dest)

    def _set_global(self, state: State, intent: Intent) -> None:
        self._check_mutable()
        if not isinstance(intent, Intent) or not self._owns_intent(intent):
            raise BotDefinitionError(
                f"{intent!r} is not an intent of bot {self._name!r}: create it with "
                "bot.new_intent(name, training_sentences)"
            )
        self._globals.add(state, intent)

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
