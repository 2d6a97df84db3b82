"""Finding base entity values in a message: numbers, date-times and free text.

Numbers and date-times are read with the libraries BBF 1.5 uses, offline: ``text2num``
(``alpha2digit``: "twenty one" -> "21") and ``dateparser`` ("tomorrow at 5pm", "3 March
2025"). ``dateparser`` takes ~0.3 s to import, so it is imported on the first date-time
lookup, not with the runtime.

Each finder takes the sentence as the recogniser has it so far and returns ``None`` or a
:class:`Found`: the sentence with the value's text replaced by its normalised form, that form
(the parameter's value), and extra information.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["Found", "find_datetime", "find_number", "replace_first"]

_NUMBER = re.compile(r"(\b|[-+])\d+\.?\d*([.,]\d+)?\b")  # BBF's, so values read the same


class Found(NamedTuple):
    """A base entity value found in a sentence."""

    sentence: str  # the sentence with the value's text in its normalised form
    value: str  # the normalised form: "3.5", "2026-11-30T17:00:00+01:00"
    info: dict[str, Any]


def replace_first(sentence: str, fragment: str, replacement: str) -> str:
    """Replace the first whole-word, case-insensitive occurrence of ``fragment`` (BBF's rule).

    A fragment starting with ``-`` (a negative number) has no word boundary before it.
    """
    if sentence.lower() == fragment.lower():
        return replacement
    start = "" if fragment[:1] in "-+" or not fragment[:1].isalnum() else r"\b"
    end = r"\b" if fragment[-1:].isalnum() else ""
    pattern = re.compile(start + re.escape(fragment) + end, re.IGNORECASE)
    return pattern.sub(lambda _: replacement, sentence, count=1)


# -- numbers ----------------------------------------------------------------------------------


def find_number(sentence: str, language: str) -> Found | None:
    """Find the first number, written in digits or in words ("three", "twenty one")."""
    from text_to_num import alpha2digit  # noqa: PLC0415 - small, but only bots with numbers

    # A language text2num does not know: digits only.
    with contextlib.suppress(ValueError, KeyError, NotImplementedError):
        try:
            # text2num 3 leaves isolated numbers below `threshold` (default 3) as words; BBF's
            # text2num 2.5 converts "two" (not "one"), which threshold=2 reproduces.
            sentence = alpha2digit(sentence, lang=language, threshold=2)
        except TypeError:  # text2num 2.x: no threshold, and "two" is converted already
            sentence = alpha2digit(sentence, lang=language)
    match = _NUMBER.search(sentence)
    if match is None:
        return None
    value = match.group(0).replace(",", ".").replace("+", "")
    return Found(sentence[: match.start()] + value + sentence[match.end() :], value, {})


# -- date-times -------------------------------------------------------------------------------

_RELATIVE = ["relative-time"]
_ABSOLUTE = ["custom-formats", "absolute-time"]
_PARTS = ("year", "month", "day", "hour", "minute", "second")
# The unit a relative expression names decides which parts it gives (BBF's lists).
_UNIT_WORDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        ("second", "seconds"),
        ("minute", "minutes"),
        ("hour", "hours"),
        ("day", "days"),
        ("month", "months"),
        ("year", "years"),
    ),
    "es": (
        ("segundo", "segundos"),
        ("minuto", "minutos"),
        ("hora", "horas"),
        ("día", "dia", "días", "dias"),
        ("mes", "meses"),
        ("año", "años"),
    ),
    "ca": (
        ("segon", "segons"),
        ("minut", "minuts"),
        ("hora", "hores"),
        ("dia", "dies"),
        ("mes", "mesos"),
        ("any", "anys"),
    ),
}


_DATEPARSER = threading.Lock()
"""dateparser's search keeps per-language state in a module singleton that concurrent calls
for different languages race on (dateparser issue #1369): one search at a time."""


def _search(
    sentence: str, base: datetime, language: str, parsers: list[str], timezone: str
) -> list[tuple[str, datetime]] | None:
    from dateparser.search import search_dates  # noqa: PLC0415 - 0.3 s to import: on first use

    settings: Any = {
        "PREFER_DAY_OF_MONTH": "current",
        "PREFER_DATES_FROM": "current_period",
        "RETURN_AS_TIMEZONE_AWARE": True,
        "RELATIVE_BASE": base,
        "TIMEZONE": timezone,
        "DATE_ORDER": "DMY" if language in ("es", "ca") else "MDY",
        "PARSERS": parsers,
    }
    try:
        with _DATEPARSER:
            found = search_dates(sentence, languages=[language], settings=settings)
    except (ValueError, KeyError):
        return None  # a language dateparser does not know
    return found or None


def _parts(given: tuple[bool, ...]) -> dict[str, Any]:
    return dict(zip(_PARTS, given, strict=True))


def _relative_parts(text: str, language: str) -> dict[str, Any]:
    """Which parts a relative expression gives: "in 5 minutes" gives down to the minute."""
    units = _UNIT_WORDS.get(language, _UNIT_WORDS["en"])
    words = set(re.findall(r"\w+", text.lower()))
    for position, unit in enumerate(units):  # second, minute, ..., year
        if words.intersection(unit):
            depth = len(_PARTS) - position
            return _parts(tuple(i < depth for i in range(len(_PARTS))))
    return _parts((True, True, True, False, False, False))


def _absolute_parts(
    sentence: str, language: str, timezone: str, search: Callable[..., Any]
) -> dict[str, Any]:
    """Which parts an absolute date gives: parse it against two different bases and see which
    parts stay the same (those came from the message)."""
    first = search(sentence, datetime(2001, 1, 1, 1, 1, 1), language, _ABSOLUTE, timezone)
    second = search(sentence, datetime(2002, 2, 2, 2, 2, 2), language, _ABSOLUTE, timezone)
    if not first or not second:
        return _parts((True, True, True, False, False, False))
    a, b = first[0][1], second[0][1]
    midnight = all(getattr(d, part) == 0 for d in (a, b) for part in ("hour", "minute", "second"))
    return _parts(
        tuple(
            getattr(a, part) == getattr(b, part) and (index < 3 or not midnight)
            for index, part in enumerate(_PARTS)
        )
    )


@functools.lru_cache(maxsize=256)
def find_datetime(sentence: str, language: str, timezone: str, now: datetime) -> Found | None:
    """Find the first date, time or date-time: relative expressions ("tomorrow at 5pm", "in two
    hours") first, then absolute ones ("3 March 2025", "12/25").

    Cached: the intents of one state usually see the same sentence in the same second. The
    result is shared: copy its ``info`` before handing it out.
    """
    relative = _search(sentence, now, language, _RELATIVE, timezone)
    if relative is not None:
        text, moment = relative[0]
        info = _relative_parts(text, language)
    else:
        absolute = _search(sentence, now, language, _ABSOLUTE, timezone)
        if absolute is None:
            return None
        text, moment = absolute[0]
        info = _absolute_parts(sentence, language, timezone, _search)
    value = moment.isoformat()
    info["frag"] = text
    return Found(replace_first(sentence, text, value), value, info)
