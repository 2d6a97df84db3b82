"""BBF 1.5's model-backed NLP pieces: they load, and refuse clearly when used.

LLMs (OpenAI, HuggingFace, Replicate), RAG, speech recognition and message processors need a
model or the network. A bot file that creates them loads and serves its other paths; calling
one (``gpt.predict(...)``, ``session.run_rag()``) raises :class:`NotAvailableError`, which the
runtime logs as a body error, as BBF does for any body that raises. Intent classifier
configurations map to our classifiers: the simple one (BBF's Keras network) to the runtime's
offline classifier, the LLM one to a classifier that refuses when a message needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runtime.bot import Intent, IntentClassifier, IntentClassifierPrediction
from runtime.errors import BotDefinitionError, NotAvailableError

if TYPE_CHECKING:
    from runtime.compat._bot import BbfBot

__all__ = [
    "LLM",
    "RAG",
    "IntentClassifierConfiguration",
    "LLMHuggingFace",
    "LLMHuggingFaceAPI",
    "LLMIntentClassifierConfiguration",
    "LLMOpenAI",
    "LLMReplicate",
    "LanguageDetectionProcessor",
    "Processor",
    "RAGMessage",
    "SimpleIntentClassifierConfiguration",
    "UserAdaptationProcessor",
    "classifier_for",
]


class IntentClassifierConfiguration:
    """Base of BBF's intent classifier configurations."""


class SimpleIntentClassifierConfiguration(IntentClassifierConfiguration):
    """BBF's Keras classifier settings: accepted; the runtime's offline classifier is used."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings


class LLMIntentClassifierConfiguration(IntentClassifierConfiguration):
    """BBF's LLM-based classification: accepted; classifying with it is not available."""

    def __init__(self, llm_name: str, parameters: dict[str, Any] | None = None, **options: Any):
        self.llm_name = llm_name
        self.parameters = dict(parameters or {})
        self.options = options


class _LLMClassifier:
    """Stands for a state's LLM intent classifier: refuses each message it is asked about."""

    def __init__(self, llm_name: str) -> None:
        self.llm_name = llm_name

    def predict(self, message: str, intents: Sequence[Intent]) -> IntentClassifierPrediction:
        raise NotAvailableError(
            f"LLM intent classification with {self.llm_name!r}",
            "it needs a language model; give the state's intents training sentences and "
            "drop the ic_config to use the built-in offline classifier",
        )


def classifier_for(ic_config: Any) -> IntentClassifier | None:
    """Map a BBF intent classifier configuration (or one of ours) to a state classifier.

    Raises:
        BotDefinitionError: ``ic_config`` is neither.
    """
    if ic_config is None or isinstance(ic_config, SimpleIntentClassifierConfiguration):
        return None  # the bot's classifier
    if isinstance(ic_config, LLMIntentClassifierConfiguration):
        return _LLMClassifier(ic_config.llm_name)
    if callable(getattr(ic_config, "predict", None)):
        return ic_config  # type: ignore[no-any-return]
    raise BotDefinitionError(
        f"ic_config must be a SimpleIntentClassifierConfiguration, an "
        f"LLMIntentClassifierConfiguration or a classifier, got {type(ic_config).__name__}"
    )


# -- LLMs -------------------------------------------------------------------------------------


class LLM:
    """A BBF LLM: created and registered with the bot; every call to it is refused."""

    provider = "a language model"

    def __init__(
        self,
        bot: BbfBot,
        name: str,
        parameters: dict[str, Any] | None = None,
        num_previous_messages: int = 1,
        global_context: str | None = None,
    ) -> None:
        self.name = name
        self.parameters = dict(parameters or {})
        self.num_previous_messages = num_previous_messages
        self.global_context = global_context
        bot.nlp_engine._llms[name] = self

    def _refuse(self, call: str) -> NotAvailableError:
        return NotAvailableError(
            f"{type(self).__name__}({self.name!r}).{call}", f"it calls {self.provider}"
        )

    def predict(self, message: str, *args: Any, **kwargs: Any) -> str:
        """Refused: generating text needs the model."""
        raise self._refuse("predict()")

    def chat(self, session: Any, *args: Any, **kwargs: Any) -> str:
        """Refused: chatting needs the model."""
        raise self._refuse("chat()")

    def intent_classification(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: classifying needs the model."""
        raise self._refuse("intent_classification()")

    def initialize(self) -> None:
        """Nothing to load here."""

    def set_parameters(self, parameters: dict[str, Any]) -> None:
        """Keep new generation parameters."""
        self.parameters = dict(parameters)

    def set_model(self, name: str) -> None:
        """Keep a new model name."""
        self.name = name

    def set_num_previous_messages(self, num_previous_messages: int) -> None:
        """Keep a new context length."""
        self.num_previous_messages = num_previous_messages


class LLMOpenAI(LLM):
    """BBF's OpenAI LLM (refused when used)."""

    provider = "OpenAI's API over the network"


class LLMHuggingFace(LLM):
    """BBF's local HuggingFace LLM (refused when used)."""

    provider = "a local HuggingFace model (transformers)"


class LLMHuggingFaceAPI(LLM):
    """BBF's HuggingFace Inference API LLM (refused when used)."""

    provider = "HuggingFace's Inference API over the network"


class LLMReplicate(LLM):
    """BBF's Replicate LLM (refused when used)."""

    provider = "Replicate's API over the network"


# -- RAG, processors ---------------------------------------------------------------------------


class RAGMessage:
    """BBF's RAG answer (only a RAG builds one, so none arises here)."""

    def __init__(self, llm_name: str, question: str, answer: str, docs: list[Any]) -> None:
        self.llm_name = llm_name
        self.question = question
        self.answer = answer
        self.docs = docs


class RAG:
    """BBF's retrieval-augmented generation: created; running it is refused."""

    def __init__(
        self, bot: BbfBot, vector_store: Any, splitter: Any, llm_name: str, **options: Any
    ):
        self.vector_store = vector_store
        self.splitter = splitter
        self.llm_name = llm_name
        self.options = options
        bot.nlp_engine._rag = self

    def run(self, *args: Any, **kwargs: Any) -> RAGMessage:
        """Refused: answering needs a language model."""
        raise NotAvailableError("RAG.run()", "answering needs a language model")

    def load_pdfs(self, path: str) -> int:
        """Refused: indexing needs an embedding model."""
        raise NotAvailableError("RAG.load_pdfs()", "indexing needs an embedding model")


class Processor:
    """BBF's message processors: refused when created (they run models on every message)."""

    def __init__(self, bot: Any = None, *args: Any, **kwargs: Any) -> None:
        raise NotAvailableError(
            f"the message processor {type(self).__name__}",
            "processors are not supported by this runtime",
        )


class LanguageDetectionProcessor(Processor):
    """BBF's language detection processor (refused when created)."""


class UserAdaptationProcessor(Processor):
    """BBF's LLM-based user adaptation processor (refused when created)."""
