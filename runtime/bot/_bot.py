"""The bot definition: states, intents, classifier; shared by all sessions, frozen once served."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from runtime.bot._entity import Entity, IntentParameter
from runtime.bot._global import GlobalStates
from runtime.bot._intent import Intent
from runtime.bot._state import Body, State, check_arity
from runtime.errors import BotDefinitionError, BotFrozenError
from runtime.properties import (
    NLP_INTENT_THRESHOLD,
    NLP_LANGUAGE,
    NLP_TIMEZONE,
    WEBSOCKET_HOST,
    WEBSOCKET_PORT,
    Properties,
    Property,
)

if TYPE_CHECKING:
    from runtime.bot._classifier import IntentClassifier
    from runtime.bot._ner import SimpleNER

__all__ = ["Bot"]


def _check_classifier(classifier: object, what: str) -> None:
    if not callable(getattr(classifier, "predict", None)):
        raise BotDefinitionError(f"{what} needs a predict(message, intents) method")


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
        self._name = _check_name(name, "bot")
        self._states: dict[str, State] = {}
        self._intents: dict[str, Intent] = {}
        self._initial: State | None = None
        self._global_fallback_body: Body | None = None
        self._entities: dict[str, Entity] = {}
        self._classifier = classifier
        self._default_ic_config: IntentClassifier | None = None
        self._default_classifier: IntentClassifier | None = None
        self._ner: SimpleNER | None = None
        self._properties = Properties()
        self._globals = GlobalStates()
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
    def entities(self) -> tuple[Entity, ...]:
        """The custom and base entities created with :meth:`new_entity`, in creation order."""
        return tuple(self._entities.values())

    @property
    def properties(self) -> Properties:
        """The bot's property values (see :mod:`runtime.properties`)."""
        return self._properties

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

    @property
    def classifier(self) -> IntentClassifier:
        """The intent classifier of every state that has none of its own."""
        if self._classifier is not None:
            return self._classifier
        if self._default_classifier is None or not self._frozen:
            from runtime.bot._classifier import SimpleIntentClassifier  # noqa: PLC0415

            threshold = None
            if self._properties.is_set(NLP_INTENT_THRESHOLD):
                threshold = self._properties.get(NLP_INTENT_THRESHOLD)
            try:
                self._default_classifier = (
                    SimpleIntentClassifier(ner=self.ner)
                    if threshold is None
                    else SimpleIntentClassifier(threshold, ner=self.ner)
                )
            except (TypeError, ValueError) as exc:
                raise BotDefinitionError(
                    f"bot {self._name!r}: property {NLP_INTENT_THRESHOLD.name}: {exc}"
                ) from None
        return self._default_classifier

    @property
    def ner(self) -> SimpleNER:
        """The entity recogniser that fills intent parameters, configured by the
        ``nlp.language`` and ``nlp.timezone`` properties."""
        if self._ner is None or not self._frozen:
            from runtime.bot._ner import SimpleNER  # noqa: PLC0415

            ner = self._ner
            language = self._properties.get(NLP_LANGUAGE)
            timezone = self._properties.get(NLP_TIMEZONE)
            if ner is None or (ner.language, ner.timezone) != (language, timezone):
                try:
                    ner = SimpleNER(language, timezone)
                except ValueError as exc:
                    raise BotDefinitionError(
                        f"bot {self._name!r}: properties {NLP_LANGUAGE.name} and "
                        f"{NLP_TIMEZONE.name}: {exc}"
                    ) from None
            self._ner = ner
        return self._ner

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
            _check_classifier(ic_config, f"state {name!r}: ic_config")
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

    # -- properties ---------------------------------------------------------------------------

    def load_properties(self, path: str | os.PathLike[str]) -> None:
        """Read bot properties from an INI file (BBF's ``config.ini``; see
        :mod:`runtime.properties`). A missing file is logged and skipped, as in BBF.

        Raises:
            BotDefinitionError: the file is not valid INI, or the bot is being served.
        """
        self._check_mutable()
        self._properties.load(path)

    def get_property(self, prop: Property) -> Any:
        """Return a property's value, or its default when unset.

        Raises:
            TypeError: ``prop`` is not a :class:`~runtime.properties.Property`.
            BotDefinitionError: the value set is not of the property's type.
        """
        return self._properties.get(prop)

    def set_property(self, prop: Property, value: Any) -> None:
        """Set a property (None removes it).

        Raises:
            TypeError: ``prop`` is not a Property or ``value`` is not of its type.
            BotFrozenError: the bot is being served.
        """
        self._check_mutable()
        self._properties.set(prop, value)

    def set_default_ic_config(self, ic_config: IntentClassifier | None) -> None:
        """Set the classifier of the states created from now on without their own
        ``ic_config`` (BBF's rule: states created before keep theirs).

        Raises:
            BotDefinitionError: ``ic_config`` has no ``predict`` method.
        """
        self._check_mutable()
        if ic_config is not None:
            _check_classifier(ic_config, "ic_config")
        self._default_ic_config = ic_config

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
        _check_classifier(classifier, "a classifier")
        self._classifier = classifier

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

    # -- serving ------------------------------------------------------------------------------

    def run(self, train: bool = True, sleep: bool = True) -> int:
        """Serve the bot as ``python -m runtime serve`` does, on ``websocket.host`` and
        ``websocket.port`` (BBF's defaults: localhost:8765), until SIGTERM or Ctrl-C.

        Args:
            train: accepted for BBF's signature; there is nothing to train.
            sleep: accepted for BBF's signature; serving always blocks until stopped.

        Returns:
            0 once stopped and drained (``serve``'s exit code).

        Raises:
            BotDefinitionError: the bot is incomplete, or ``websocket.port`` is not a port.
            OSError: the port cannot be bound.
        """
        from runtime.platforms.web._server import serve  # noqa: PLC0415 - the web stack is big

        host = self.get_property(WEBSOCKET_HOST)
        port = self.get_property(WEBSOCKET_PORT)
        if not 0 <= port <= 65535:
            raise BotDefinitionError(
                f"bot {self._name!r}: property {WEBSOCKET_PORT.name} is {port}, not a port "
                "(0 to 65535)"
            )
        return serve(self, host=host, port=port)

    def _check_mutable(self) -> None:
        if self._frozen:
            raise BotFrozenError(
                f"bot {self._name!r} is being served by a Runtime and can no longer change; "
                "define it completely before starting the Runtime"
            )

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
