"""Score intents the same way on both sides of the BBF comparison, and normalise replies.

BBF 1.5's default intent classifier trains a small Keras network, so its predictions are
neither reproducible nor available to our runtime. The transcript comparison therefore plugs
this pure-Python classifier into both frameworks: into BBF's ``NLPEngine`` (by
``_bbf_driver.py``, inside the BBF virtualenv) and into our ``Bot`` (by our side's tests).
It must import neither ``besser`` nor ``runtime``: it is the one definition both share.

The algorithm works on BBF's NER output. For every ``(ner_sentence, intents)`` pair of
``SimpleNER.predict(state, message)`` (entity values in ``ner_sentence`` already replaced by
their entity's name, upper-cased), each intent scores the best ``similarity`` between
``ner_sentence`` and one of its training sentences, in which every parameter fragment has
been replaced by its entity's name, upper-cased (what ``Intent.process_training_sentences``
does with ``nlp.pre_processing`` off; see ``training_sentences``). ``best`` then applies BBF's
``NLPEngine.get_best_intent_prediction``: the first highest score wins, and a best score
below the threshold (``nlp.intent_threshold``, 0.4 by default) means no intent matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = [
    "DEFAULT_THRESHOLD",
    "best",
    "normal_form",
    "normalise",
    "replace_fragment",
    "score",
    "similarity",
    "training_sentences",
    "turn_seed",
]

T = TypeVar("T")

DEFAULT_THRESHOLD = 0.4
"""BBF 1.5's ``nlp.intent_threshold`` default (``besser.bot.nlp.NLP_INTENT_THRESHOLD``)."""

_PUNCTUATION = re.compile(r"[^\w\s]")
_TEMPERATURE = re.compile(r"-?\d+(\.\d+)?°C")
_WEATHER_EMOJI = re.compile("[\U0001f976\U0001f975]")  # 🥶 and 🥵


def normal_form(text: str) -> str:
    """Return ``text`` lower-cased, without punctuation, its words separated by one space.

    Punctuation is any character that is neither a word character nor whitespace, so the
    upper-cased entity names the NER writes (``CITY_ENTITY``) stay whole words.
    """
    return " ".join(_PUNCTUATION.sub("", text.lower()).split())


def similarity(sentence: str, training_sentence: str) -> float:
    """Return 1.0 for sentences equal in ``normal_form``, else the Jaccard index of their words."""
    a, b = normal_form(sentence), normal_form(training_sentence)
    if a == b:
        return 1.0
    words_a, words_b = set(a.split()), set(b.split())
    union = words_a | words_b
    return len(words_a & words_b) / len(union) if union else 0.0


def score(ner_sentence: str, training_sentences: Sequence[str]) -> float:
    """Return an intent's score: its best ``similarity`` to ``ner_sentence`` (0.0 with none).

    Args:
        ner_sentence: the message as BBF's NER left it (entity values replaced by names).
        training_sentences: the intent's training sentences, as ``training_sentences`` makes them.
    """
    return max((similarity(ner_sentence, t) for t in training_sentences), default=0.0)


def best(scored: Iterable[tuple[T, float]], threshold: float = DEFAULT_THRESHOLD) -> T | None:
    """Pick the intent BBF's ``NLPEngine.get_best_intent_prediction`` would pick.

    Args:
        scored: ``(intent, score)`` pairs in prediction order.
        threshold: the lowest winning score (BBF keeps a best score equal to it).

    Returns:
        The first intent with the highest score, or None when there is none or it scores
        below ``threshold`` (BBF then predicts its fallback intent).
    """
    winner: tuple[T, float] | None = None
    for intent, value in scored:
        if winner is None or value > winner[1]:
            winner = (intent, value)
    if winner is None or winner[1] < threshold:
        return None
    return winner[0]


def replace_fragment(sentence: str, fragment: str, replacement: str) -> str:
    """Replace the first whole-word, case-insensitive ``fragment`` in ``sentence``.

    A copy of BBF 1.5's ``besser.bot.nlp.utils.replace_value_in_sentence``, which
    ``Intent.process_training_sentences`` applies to every parameter fragment.
    """
    if sentence.lower() == fragment.lower():
        return replacement
    # BBF drops the leading word boundary for negative numbers ("-5"): "\b-" never matches.
    prefix = "" if fragment.startswith("-") else r"\b"
    pattern = re.compile(prefix + re.escape(fragment) + r"\b", re.IGNORECASE)
    return pattern.sub(replacement, sentence, count=1)


def training_sentences(
    sentences: Sequence[str], parameters: Sequence[tuple[str, str]]
) -> list[str]:
    """Return an intent's training sentences with its parameter fragments replaced.

    Args:
        sentences: the intent's training sentences, as its author wrote them.
        parameters: ``(fragment, entity_name)`` of each intent parameter, in definition order.

    Returns:
        Each sentence with every fragment replaced by ``entity_name.upper()``, in parameter
        order, as BBF's ``Intent.process_training_sentences`` does without pre-processing.
    """
    processed = []
    for sentence in sentences:
        replaced = sentence
        for fragment, entity_name in parameters:
            replaced = replace_fragment(replaced, fragment, entity_name.upper())
        processed.append(replaced)
    return processed


def normalise(text: str) -> str:
    """Hide the weather bot's random parts: ``12.34°C`` becomes ``<T>°C``, 🥶 and 🥵 ``<E>``."""
    return _WEATHER_EMOJI.sub("<E>", _TEMPERATURE.sub("<T>°C", text))


def turn_seed(session_id: str, turn: int) -> str:
    """Return the ``random.seed`` argument of a turn: 0 opens the session, 1 is its first message.

    String seeds give the same sequence in every process (unlike ``hash``-based ones), so both
    frameworks can draw the same "random" numbers for the same turn of the same session.
    """
    return f"{session_id}/{turn}"
