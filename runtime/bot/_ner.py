"""Named-entity recognition: fill an intent's parameters from a message (BBF's SimpleNER rules).

For one intent, :meth:`SimpleNER.recognise` returns the parameters found and the *entity
sentence*: the message with every value found replaced by its entity's name in capitals
(``"weather in bcn"`` -> ``"weather in CITY_ENTITY"``). Training sentences get the same
treatment (:func:`entity_sentence`), so a classifier compares like with like.

Custom entities first: every value and synonym of the intent's entities is looked for as whole
words, ignoring case and accents and allowing a plural ``s``/``es``, longest first; the values
found are given to the parameters in the order they appear in the message, each parameter
taking one (a value of an entity with no parameter left stays as it was). Then base entities,
date-times before numbers (a date holds numbers), then free text (``base.any``: what stands where
a training sentence has the fragment). Declared parameters not found are reported with value
None, after the found ones, as BBF does.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runtime.bot._base_entities import find_datetime, find_number, replace_first
from runtime.bot._entity import ANY, BASE_ENTITY_NAMES, DATETIME, NUMBER, IntentParameter
from runtime.bot._intent import Intent, MatchedParameter

__all__ = ["Recognised", "SimpleNER", "entity_sentence"]

_MAX_CACHED_INTENTS = 4_096
MAX_RECOGNISED_CHARS = 1_000
"""Entities are looked for in a message's first 1,000 characters (the date and number parsers'
cost grows with the text; a chat message is rarely longer)."""


class Recognised(NamedTuple):
    """What :meth:`SimpleNER.recognise` found for one intent."""

    sentence: str  # the message with the values found replaced by their entity names
    parameters: list[MatchedParameter]


def _placeholder(parameter: IntentParameter) -> str:
    return parameter.entity.name.upper()


def entity_sentence(training_sentence: str, intent: Intent) -> str:
    """Return ``training_sentence`` with each parameter's fragment replaced by its entity's
    name in capitals, as BBF prepares training sentences."""
    for parameter in intent.parameters:
        training_sentence = replace_first(
            training_sentence, parameter.fragment, _placeholder(parameter)
        )
    return training_sentence


# -- folding: case, accents -------------------------------------------------------------------


def _fold(text: str) -> tuple[str, list[int] | None]:
    """Casefold ``text`` and strip its accents; also return where each folded character came
    from in ``text`` (None when they line up one to one)."""
    if text.isascii():
        return text.lower(), None
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = unicodedata.normalize("NFKD", char.casefold())
        for piece in folded:
            if not unicodedata.combining(piece):
                chars.append(piece)
                origin.append(index)
    origin.append(len(text))
    return "".join(chars), origin


def _phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    words = _fold(phrase)[0].split()
    if not words:
        return None
    body = r"\s+".join(re.escape(word) for word in words)
    plural = "(?:e?s)?" if words[-1][-1:].isalpha() else ""
    return re.compile(rf"(?<!\w){body}{plural}(?!\w)")


class _Candidate(NamedTuple):
    pattern: re.Pattern[str]
    value: str  # the entry's main value
    parameters: tuple[IntentParameter, ...]  # the parameters it may fill, in definition order


def _candidates(intent: Intent) -> tuple[_Candidate, ...]:
    """Every value and synonym of the intent's custom entities, longest first (BBF's order)."""
    by_phrase: dict[str, tuple[str, list[IntentParameter]]] = {}
    for parameter in intent.parameters:
        entries = parameter.entity.entries
        if entries is None:
            continue
        for entry in entries:
            for phrase in (entry.value, *entry.synonyms):
                key = " ".join(_fold(phrase)[0].split())
                known = by_phrase.get(key)
                if known is None:
                    by_phrase[key] = (entry.value, [parameter])
                elif known[0] == entry.value and parameter not in known[1]:
                    known[1].append(parameter)  # the same value in two parameters' entities
    candidates = []
    for phrase, (value, parameters) in sorted(
        by_phrase.items(), key=lambda item: (len(item[0]), item[0]), reverse=True
    ):
        pattern = _phrase_pattern(phrase)
        if pattern is not None:
            candidates.append(_Candidate(pattern, value, tuple(parameters)))
    return tuple(candidates)


class SimpleNER:
    """Find intent parameters in messages, offline (BBF's ``SimpleNER`` rules; see the module).

    Thread-safe; per-intent preparation is cached.

    Args:
        language: ISO 639-1 code of the users' language (``nlp.language``), for numbers
            written in words and for dates.
        timezone: IANA time zone (``nlp.timezone``) in which relative dates ("tomorrow") are
            read and dates are reported.
        clock: returns the current time (tests pass a fixed one); defaults to the wall clock.

    Raises:
        ValueError: ``language`` is not a 2-letter code, or ``timezone`` is unknown.
    """

    def __init__(
        self,
        language: str = "en",
        timezone: str = "Europe/Madrid",
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2}", language):
            raise ValueError(f"language must be an ISO 639-1 code such as 'en', got {language!r}")
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(
                f"timezone must be an IANA time zone such as 'Europe/Madrid', got {timezone!r}"
            ) from exc
        self.language = language
        self.timezone = timezone
        self._clock = clock
        self._cache: dict[Intent, tuple[tuple[IntentParameter, ...], tuple[_Candidate, ...]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SimpleNER(language={self.language!r}, timezone={self.timezone!r})"

    def recognise(self, message: str, intent: Intent) -> Recognised:
        """Fill ``intent``'s parameters from ``message``.

        Returns:
            The entity sentence and one :class:`MatchedParameter` per declared parameter
            (found ones first, in the order found; value None for the others). An intent
            without parameters gives the message unchanged and no parameters.
        """
        if not intent.parameters:
            return Recognised(message, [])
        if len(message) > MAX_RECOGNISED_CHARS:
            message = message[:MAX_RECOGNISED_CHARS]  # bounds the parsers' cost per message
        found: list[MatchedParameter] = []
        sentence = self._custom(message, intent, found)
        sentence = self._base(sentence, intent, found)
        names = {parameter.name for parameter in found}
        found.extend(MatchedParameter(p.name) for p in intent.parameters if p.name not in names)
        return Recognised(sentence, found)

    # -- custom entities ----------------------------------------------------------------------

    def _prepared(self, intent: Intent) -> tuple[_Candidate, ...]:
        cached = self._cache.get(intent)
        if cached is not None and cached[0] is intent.parameters:
            return cached[1]
        candidates = _candidates(intent)
        with self._lock:
            if len(self._cache) >= _MAX_CACHED_INTENTS:
                self._cache.clear()  # intents are few in practice; this only bounds memory
            self._cache[intent] = (intent.parameters, candidates)
        return candidates

    def _custom(self, message: str, intent: Intent, found: list[MatchedParameter]) -> str:
        candidates = self._prepared(intent)
        if not candidates:
            return message
        folded, origin = _fold(message)
        taken: list[tuple[int, int, _Candidate]] = []
        for candidate in candidates:
            for match in candidate.pattern.finditer(folded):
                start, end = match.span()
                if all(end <= s or start >= e for s, e, _ in taken):
                    taken.append((start, end, candidate))
                    break  # one occurrence per value, as in BBF
        taken.sort(key=lambda item: item[0])
        done: set[str] = set()
        spans: list[tuple[int, int, str]] = []
        for start, end, candidate in taken:
            parameter = next((p for p in candidate.parameters if p.name not in done), None)
            if parameter is None:
                continue  # its entity's parameters are all filled: the text stays as it was
            done.add(parameter.name)
            found.append(MatchedParameter(parameter.name, candidate.value, {}))
            span = (start, end) if origin is None else (origin[start], origin[end])
            spans.append((*span, _placeholder(parameter)))
        for start, end, placeholder in reversed(spans):
            message = message[:start] + placeholder + message[end:]
        return message

    # -- base entities ------------------------------------------------------------------------

    def _base(self, sentence: str, intent: Intent, found: list[MatchedParameter]) -> str:
        for entity_name in BASE_ENTITY_NAMES:
            for parameter in intent.parameters:
                if parameter.entity.name != entity_name or not parameter.entity.base_entity:
                    continue
                if entity_name == DATETIME:
                    hit = find_datetime(sentence, self.language, self.timezone, self._now())
                elif entity_name == NUMBER:
                    hit = find_number(sentence, self.language)
                else:
                    span = _free_text(sentence, intent, parameter)
                    if span is None:
                        continue
                    start, end = span
                    value = _with_values(sentence[start:end], intent, found)
                    found.append(MatchedParameter(parameter.name, value, {}))
                    # By position: the value's text may also occur earlier ("my name is Name").
                    sentence = sentence[:start] + ANY.upper() + sentence[end:]
                    continue
                if hit is not None:
                    found.append(MatchedParameter(parameter.name, hit.value, dict(hit.info)))
                    sentence = replace_first(hit.sentence, hit.value, entity_name.upper())
        return sentence

    def _now(self) -> datetime:
        now = datetime.now(tz=self._zone) if self._clock is None else self._clock()
        return now.replace(microsecond=0)


def _with_values(text: str, intent: Intent, found: list[MatchedParameter]) -> str:
    """Put back into free text the values found before it, where their placeholders stand
    ("from CITY_ENTITY" -> "from Madrid"): a user never sees a placeholder."""
    placeholders = {p.name: _placeholder(p) for p in intent.parameters}
    for parameter in found:
        placeholder = placeholders.get(parameter.name)
        if placeholder is not None and parameter.value is not None:
            text = text.replace(placeholder, str(parameter.value), 1)
    return text


def _free_text(sentence: str, intent: Intent, parameter: IntentParameter) -> tuple[int, int] | None:
    """Where in ``sentence`` the text standing where a training sentence has ``parameter``'s
    fragment is, if the rest of that training sentence matches the sentence (case, spacing
    and edge punctuation ignored). Linear in the sentence's length: no backtracking."""
    words = [(match.start(), match.end()) for match in _WORD.finditer(sentence)]
    folded = [sentence[start:end].casefold() for start, end in words]
    for training in intent.training_sentences:
        template = training
        for other in intent.parameters:
            if other is not parameter:
                template = replace_first(template, other.fragment, _placeholder(other))
        head, marker, tail = template.partition(parameter.fragment)
        if not marker:
            continue
        head_words = [w.casefold() for w in _WORD.findall(head)]
        tail_words = [w.casefold() for w in _WORD.findall(tail)]
        first, last = len(head_words), len(words) - len(tail_words)
        if first >= last or folded[:first] != head_words or folded[last:] != tail_words:
            continue
        return words[first][0], words[last - 1][1]
    return None


_WORD = re.compile(r"[^\s.,;:!?¡¿\"']+(?:[.,;:!?¡¿\"']+[^\s.,;:!?¡¿\"']+)*")
"""A word for free-text matching: text between spaces, without edge punctuation."""
