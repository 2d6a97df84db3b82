"""Classify a message among intents offline, with no model, no download and no ML library.

Method: a sentence is normalised (NFKD, accents stripped, casefolded, common English
contractions expanded), split into words, stripped of a few stopwords (never all of them, and
never "not" or "no") and lightly stemmed. A training sentence T is scored against the message M
by soft word matching: two words match with 1.0 when their stems are equal, else with the Dice
coefficient of their padded character trigrams when that is at least 0.7 (typos), else 0. Recall
is the matched share of T's words, precision that of M's words, and the sentence scores their
F2 (recall weighs four times as much as precision), or 1.0 when it equals the message once
normalised. An intent scores the best score of its training sentences.

Intent parameters: a training sentence has each parameter's fragment replaced by its entity's
name in capitals, and for each intent with parameters the message is scored in the form the
entity recogniser gives it (values replaced the same way), so "weather in bcn" matches "weather
in CITY" exactly; the winning intent's parameters come with the prediction.

Training sentences are preprocessed once per set of intents and cached on the classifier; words
are preprocessed once and cached process-wide. Both caches are bounded and thread-safe.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from runtime.bot._intent import (
    Intent,
    IntentClassifierPrediction,
    MatchedParameter,
    fallback_intent,
)
from runtime.bot._ner import entity_sentence
from runtime.bot._words import analyse

if TYPE_CHECKING:
    from runtime.bot._ner import SimpleNER

__all__ = ["IntentClassifier", "SimpleIntentClassifier"]


@runtime_checkable
class IntentClassifier(Protocol):
    """Anything with this method can be plugged into a Bot as its classifier."""

    def predict(self, message: str, intents: Sequence[Intent]) -> IntentClassifierPrediction:
        """Predict which of ``intents`` the user meant by ``message``.

        Args:
            message: the text the user sent.
            intents: the intents the current state listens for.

        Returns:
            The best intent, or ``fallback_intent`` when none is recognised well enough. Its
            ``matched_parameters`` may be left empty: the runtime then fills them with the
            bot's entity recogniser (``bot.ner``).
        """
        ...


# --- Words ---------------------------------------------------------------------------------------

_MIN_DICE: Final = 0.7
"""Two different stems match only when their trigram Dice coefficient reaches this."""

_BETA_SQUARED: Final = 4.0
"""F-beta with beta = 2: recall (the training sentence is covered) matters most."""

_MAX_CACHED_INTENT_SETS: Final = 1_024


# --- Intents -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Compiled:
    """The training sentences of a sequence of intents, preprocessed and indexed."""

    vocabulary_size: int
    gram_counts: tuple[int, ...]
    """Number of trigrams of each stem of the vocabulary."""
    gram_index: dict[str, tuple[int, ...]]
    """Trigram -> the vocabulary stems holding it."""
    sentences: tuple[tuple[int, str, tuple[int, ...]], ...]
    """(position of the intent, training sentence, vocabulary ids of its content stems)."""
    exact: dict[tuple[str, ...], frozenset[int]]
    """Normalised sentence -> positions in ``sentences`` of the training sentences equal to it."""
    with_parameters: tuple[int, ...]
    """Positions of the intents that have parameters."""


def _compile(intents: tuple[Intent, ...]) -> _Compiled:
    """Analyse and index the training sentences of ``intents``."""
    vocabulary: dict[str, int] = {}
    gram_sets: list[frozenset[str]] = []
    sentences: list[tuple[int, str, tuple[int, ...]]] = []
    exact: dict[tuple[str, ...], set[int]] = {}
    for intent_position, intent in enumerate(intents):
        for sentence in intent.training_sentences:
            analysed = sentence
            if intent.parameters:
                analysed = _one_word(entity_sentence(sentence, intent), intent)
            key, words = analyse(analysed)
            ids: list[int] = []
            for stem, grams in words:
                word_id = vocabulary.get(stem)
                if word_id is None:
                    word_id = vocabulary[stem] = len(gram_sets)
                    gram_sets.append(grams)
                ids.append(word_id)
            if key is not None:
                exact.setdefault(key, set()).add(len(sentences))
            sentences.append((intent_position, sentence, tuple(ids)))
    gram_index: dict[str, list[int]] = {}
    for word_id, grams in enumerate(gram_sets):
        for gram in grams:
            gram_index.setdefault(gram, []).append(word_id)
    return _Compiled(
        vocabulary_size=len(gram_sets),
        gram_counts=tuple(len(grams) for grams in gram_sets),
        gram_index={gram: tuple(ids) for gram, ids in gram_index.items()},
        sentences=tuple(sentences),
        exact={key: frozenset(positions) for key, positions in exact.items()},
        with_parameters=tuple(i for i, intent in enumerate(intents) if intent.parameters),
    )


def _similarities(
    compiled: _Compiled, words: tuple[tuple[str, frozenset[str]], ...]
) -> tuple[list[float], list[dict[int, float]]]:
    """Match the message's words against the vocabulary of ``compiled``.

    Returns:
        The best similarity of each vocabulary stem to any message word, and for each message
        word that matches anything, its similarity to the stems it matches.
    """
    gram_index = compiled.gram_index
    gram_counts = compiled.gram_counts
    best_for_stem = [0.0] * compiled.vocabulary_size
    rows: list[dict[int, float]] = []
    for _, grams in words:
        shared: dict[int, int] = {}
        for gram in grams:
            for word_id in gram_index.get(gram, ()):
                shared[word_id] = shared.get(word_id, 0) + 1
        row: dict[int, float] = {}
        size = len(grams)
        for word_id, count in shared.items():
            dice = 2.0 * count / (size + gram_counts[word_id])  # 1.0 for the same stem
            if dice >= _MIN_DICE:
                row[word_id] = dice
                best_for_stem[word_id] = max(best_for_stem[word_id], dice)
        if row:
            rows.append(row)
    return best_for_stem, rows


def _score(
    ids: tuple[int, ...],
    best_for_stem: list[float],
    rows: list[dict[int, float]],
    message_size: int,
) -> float:
    """Score a training sentence's content stems ``ids`` against the message: F2 of the match."""
    # Plain loops: this runs for every training sentence of every message, and beats map/max.
    matched = 0.0
    for word_id in ids:
        matched += best_for_stem[word_id]
    if matched == 0.0:
        return 0.0
    recall = matched / len(ids)
    matched = 0.0
    for row in rows:
        best = 0.0
        for word_id in ids:
            similarity = row.get(word_id, 0.0)
            if similarity > best:  # noqa: PLR1730 (max() is slower in this hot loop)
                best = similarity
        matched += best
    precision = matched / message_size
    f_beta = (1.0 + _BETA_SQUARED) * precision * recall / (_BETA_SQUARED * precision + recall)
    return min(1.0, f_beta)


_NO_POSITIONS: Final[frozenset[int]] = frozenset()


class SimpleIntentClassifier:
    """Recognise intents by fuzzy word overlap with their training sentences.

    It needs no training step, no model and no download, handles small paraphrases, extra
    words and typos, and takes a few microseconds per message. See the module docstring for
    the method.

    Args:
        threshold: the score, in (0, 1], from which an intent is predicted rather than
            ``fallback_intent``.
        ner: the entity recogniser for intents with parameters; a bot's default classifier
            uses the bot's (``bot.ner``), otherwise an English one.

    Raises:
        TypeError: ``threshold`` is not a number.
        ValueError: ``threshold`` is not in (0, 1].
    """

    __slots__ = ("_cache", "_ner", "_threshold")

    def __init__(self, threshold: float = 0.5, *, ner: SimpleNER | None = None) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise TypeError(f"threshold must be a number, not {type(threshold).__name__}")
        if not 0.0 < threshold <= 1.0:  # also rejects NaN
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        self._threshold = float(threshold)
        self._ner = ner
        self._cache: dict[tuple[Intent, ...], _Compiled] = {}

    @property
    def threshold(self) -> float:
        """The score from which an intent is predicted rather than ``fallback_intent``."""
        return self._threshold

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self._threshold!r})"

    def predict(
        self, message: str, intents: Sequence[Intent], *, ner: SimpleNER | None = None
    ) -> IntentClassifierPrediction:
        """Predict which of ``intents`` the user meant by ``message``.

        Ties go to the intent listed first, and within an intent to its first sentence.

        Args:
            message: the text the user sent.
            intents: the intents the current state listens for; only these are considered.
            ner: the recogniser to use when this classifier was made without one (the
                runtime passes the bot's, so ``nlp.language`` applies even to a classifier
                shared by several bots).

        Returns:
            The best intent with its score, best training sentence and parameters when the
            score reaches the threshold; else ``fallback_intent`` with that best score and
            sentence ('' and 0.0 when nothing matched at all) and no parameters.
        """
        key = tuple(intents)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._compile(key)
        if not compiled.with_parameters:
            score, position = _best(compiled, message, None)
            parameters: dict[int, list[MatchedParameter]] = {}
        else:
            recogniser = self._ner or ner or _default_ner()
            score, position, parameters = _best_with_entities(compiled, key, message, recogniser)
        if position < 0:
            return IntentClassifierPrediction(fallback_intent, 0.0)
        intent_position, sentence, _ = compiled.sentences[position]
        if score < self._threshold:
            return IntentClassifierPrediction(fallback_intent, score, sentence)
        return IntentClassifierPrediction(
            key[intent_position], score, sentence, parameters.get(intent_position, [])
        )

    def _compile(self, intents: tuple[Intent, ...]) -> _Compiled:
        """Preprocess ``intents`` and cache the result (racing threads store equal values)."""
        compiled = _compile(intents)
        if len(self._cache) >= _MAX_CACHED_INTENT_SETS:
            self._cache.clear()  # intent sets are few in practice; this only bounds memory
        self._cache[intents] = compiled
        return compiled


def _default_ner() -> SimpleNER:
    global _DEFAULT_NER  # noqa: PLW0603 - one English recogniser, made on first need
    if _DEFAULT_NER is None:
        from runtime.bot._ner import SimpleNER  # noqa: PLC0415

        _DEFAULT_NER = SimpleNER()
    return _DEFAULT_NER


_DEFAULT_NER: SimpleNER | None = None


def _best_with_entities(
    compiled: _Compiled, intents: tuple[Intent, ...], message: str, ner: SimpleNER
) -> tuple[float, int, dict[int, list[MatchedParameter]]]:
    """Score each intent on the message as the recogniser rewrites it for that intent."""
    variants: dict[str, set[int]] = {}
    parameters: dict[int, list[MatchedParameter]] = {}
    plain = set(range(len(intents))) - set(compiled.with_parameters)
    if plain:
        variants[message] = plain
    for position in compiled.with_parameters:
        recognised = ner.recognise(message, intents[position])
        text = _one_word(recognised.sentence, intents[position])
        variants.setdefault(text, set()).add(position)
        parameters[position] = recognised.parameters
    best_score, best_position = 0.0, -1
    for text, allowed in variants.items():
        score, position = _best(compiled, text, frozenset(allowed))
        if position >= 0 and (
            score > best_score or (score == best_score and position < best_position)
        ):
            best_score, best_position = score, position
    return best_score, best_position, parameters


def _one_word(sentence: str, intent: Intent) -> str:
    """Write each entity placeholder (``CITY_ENTITY``, ``BASE.NUMBER``) as one word, so that an
    unfilled one weighs as one word, like the value it stands for."""
    for parameter in intent.parameters:
        placeholder = parameter.entity.name.upper()
        sentence = sentence.replace(placeholder, _PLACEHOLDER_JOINERS.sub("", placeholder))
    return sentence


_PLACEHOLDER_JOINERS: Final = re.compile(r"[\W_]+")


def _best(compiled: _Compiled, message: str, allowed: frozenset[int] | None) -> tuple[float, int]:
    """Return the best score and its training sentence's position (-1: none matched), among
    the sentences of the intents at positions ``allowed`` (None: all)."""
    exact_key, words = analyse(message)
    exact = compiled.exact.get(exact_key, _NO_POSITIONS) if exact_key else _NO_POSITIONS
    if not words and not exact:
        return 0.0, -1
    best_for_stem, rows = _similarities(compiled, words)
    best_score = 0.0
    best_position = -1
    for position, (intent_position, _, ids) in enumerate(compiled.sentences):
        if allowed is not None and intent_position not in allowed:
            continue
        if position in exact:
            score = 1.0
        elif ids and rows:
            score = _score(ids, best_for_stem, rows, len(words))
        else:
            continue
        if score > best_score:
            best_score = score
            best_position = position
            if score == 1.0:
                break
    return best_score, best_position
