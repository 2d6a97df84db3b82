"""Words for the offline intent classifier: normalised, contractions expanded, stemmed.

A sentence is normalised (NFKD, accents stripped, casefolded, apostrophes unified), split into
words, English contractions expanded ("don't" -> "do not"), lightly stemmed (plural, -ing,
-ed, -ly, a final e or y) and indexed by character trigrams for typos. Stopwords are marked,
never all dropped ("not" and "no" are not stopwords). Words are cached process-wide.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final

__all__ = ["Analysis", "analyse"]

_WORD_CACHE_SIZE: Final = 16_384

_APOSTROPHES: Final = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u00b4`", "'"))
_WORD_RE: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

_STOPWORDS: Final = frozenset(
    {
        "a", "an", "the", "i", "me", "my", "myself", "am", "is", "are", "was", "were", "be",
        "been", "being", "it", "its", "this", "that", "these", "those", "there", "here", "to",
        "of", "in", "on", "at", "for", "with", "and", "or", "so", "just", "really", "very",
        "quite", "please", "oh", "um", "uh", "well",
    }
)  # fmt: skip
"""Words that carry little intent. "not" and "no" are deliberately absent."""

_CONTRACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "won't": ("will", "not"),
    "can't": ("can", "not"),
    "shan't": ("shall", "not"),
    "ain't": ("is", "not"),
    "let's": ("let", "us"),
    # Typed without the apostrophe, as often in chat.
    "im": ("i", "am"),
    "ive": ("i", "have"),
    "dont": ("do", "not"),
    "doesnt": ("does", "not"),
    "didnt": ("did", "not"),
    "isnt": ("is", "not"),
    "arent": ("are", "not"),
    "wasnt": ("was", "not"),
    "werent": ("were", "not"),
    "cant": ("can", "not"),
    "wont": ("will", "not"),
    "couldnt": ("could", "not"),
    "shouldnt": ("should", "not"),
    "wouldnt": ("would", "not"),
    "havent": ("have", "not"),
    "hasnt": ("has", "not"),
    "hadnt": ("had", "not"),
    "youre": ("you", "are"),
    "theyre": ("they", "are"),
    "thats": ("that", "is"),
    "whats": ("what", "is"),
}
_CONTRACTION_TAILS: Final = {"m": "am", "re": "are", "ve": "have", "ll": "will", "d": "would"}
_IS_CONTRACTED: Final = frozenset(
    {"it", "that", "what", "there", "here", "he", "she", "who", "where", "how", "when", "why"}
)
"""Words whose "'s" means "is"; after any other word "'s" is a possessive and is dropped."""

_SIBILANT_ENDINGS: Final = ("s", "x", "z", "ch", "sh")
_NO_PLURAL_ENDINGS: Final = ("ss", "us", "is")
_KEEP_DOUBLED: Final = frozenset("lsz")

_Word = tuple[str, str, frozenset[str], bool]
"""One normalised word: (word, stem, trigrams of the stem, is a stopword)."""

Analysis = tuple[tuple[str, ...] | None, tuple[tuple[str, frozenset[str]], ...]]
"""A sentence analysed: (exact-match key or None, content words as (stem, trigrams))."""


def _expand(word: str) -> tuple[str, ...]:
    """Expand an English contraction such as ``i'm`` or ``don't`` into its words."""
    expanded = _CONTRACTIONS.get(word)
    if expanded is not None:
        return expanded
    if "'" not in word:
        return (word,)
    if word.endswith("n't"):
        return (word[:-3], "not") if len(word) > 3 else ("not",)
    head, _, tail = word.partition("'")
    if tail in _CONTRACTION_TAILS:
        return (head, _CONTRACTION_TAILS[tail])
    if tail == "s":
        return (head, "is") if head in _IS_CONTRACTED else (head,)
    return (word.replace("'", ""),)


def _stem(word: str) -> str:
    """Strip common English suffixes (plural, -ing, -ed, -ly, final e/y), keeping 3+ letters."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies"):
        word = word[:-3] + "i"
    elif word.endswith("sses") or (
        word.endswith("es") and len(word) >= 5 and word[:-2].endswith(_SIBILANT_ENDINGS)
    ):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(_NO_PLURAL_ENDINGS):
        word = word[:-1]
    for suffix in ("ing", "ed", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            doubled = len(word) >= 4 and word[-1] == word[-2] and word[-1] not in _KEEP_DOUBLED
            if doubled and suffix != "ly":
                word = word[:-1]  # stopped -> stop, running -> run
            break
    if len(word) >= 4 and word[-1] == "e":
        word = word[:-1]  # like, liked, likes -> lik
    elif len(word) >= 3 and word[-1] == "y":
        word = word[:-1] + "i"  # happy, happily -> happi
    return word


def _trigrams(stem: str) -> frozenset[str]:
    """Return the character trigrams of ``stem`` padded with two ``#`` on each side."""
    padded = f"##{stem}##"
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


@lru_cache(maxsize=_WORD_CACHE_SIZE)
def _words(token: str) -> tuple[_Word, ...]:
    """Expand, stem and index one token of normalised text (cached: tokens repeat a lot)."""
    words: list[_Word] = []
    for word in _expand(token):
        stem = _stem(word)
        words.append((word, stem, _trigrams(stem), word in _STOPWORDS))
    return tuple(words)


def _normalise(text: str) -> str:
    """Casefold ``text``, strip its accents and unify its apostrophes."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).casefold())
    if text.isascii():
        return text
    return "".join(char for char in text if not unicodedata.combining(char))


def analyse(text: str) -> Analysis:
    """Split ``text`` into content words and compute the key that exact matches compare."""
    words: list[_Word] = []
    for token in _WORD_RE.findall(_normalise(text)):
        words.extend(_words(token))
    if not words:
        stripped = text.strip().casefold()
        return (("\0", stripped) if stripped else None), ()
    content = [word for word in words if not word[3]] or words
    seen: set[str] = set()
    unique: list[tuple[str, frozenset[str]]] = []
    for _, stem, grams, _ in content:
        if stem not in seen:
            seen.add(stem)
            unique.append((stem, grams))
    return tuple(word[0] for word in words), tuple(unique)
