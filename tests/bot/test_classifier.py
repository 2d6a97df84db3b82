"""Tests of the offline intent classifier."""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.bot._classifier import IntentClassifier, SimpleIntentClassifier
from runtime.bot._intent import Intent, IntentClassifierPrediction, fallback_intent

HELLO = Intent("hello", ("hello", "hi"))
GOOD = Intent("good", ("good", "great", "fine"))
BAD = Intent("bad", ("bad", "sad", "not good"))
INTENTS = (HELLO, GOOD, BAD)

classifier = SimpleIntentClassifier()


def predicted_name(message: str, intents: Sequence[Intent] = INTENTS) -> str:
    return classifier.predict(message, intents).intent.name


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("hello there!", "hello"),
        ("Hi!!", "hello"),
        ("HELLO", "hello"),
        ("I'm feeling great", "good"),
        ("i am fine thanks", "good"),
        ("I'm feeling bad", "bad"),
        ("not good", "bad"),
        ("I'm not feeling good", "bad"),
        ("im not feeling good", "bad"),
        ("I\u2019m feeling great", "good"),
        ("H\u00e9llo", "hello"),
        ("sadly", "bad"),
    ],
)
def test_paraphrase_matches_the_intended_intent(message: str, expected: str) -> None:
    assert predicted_name(message) == expected


@pytest.mark.parametrize("message", ["purple elephant", "", "   ", "?!", "the"])
def test_unrelated_or_empty_message_falls_back(message: str) -> None:
    assert classifier.predict(message, INTENTS).intent is fallback_intent


def test_empty_message_falls_back_with_zero_score_and_no_sentence() -> None:
    assert classifier.predict("", INTENTS) == IntentClassifierPrediction(fallback_intent, 0.0)


def test_typo_helo_matches_hello_by_character_trigrams() -> None:
    prediction = classifier.predict("helo", INTENTS)
    assert prediction.intent is HELLO
    assert prediction.matched_sentence == "hello"
    assert 0.5 <= prediction.score < 1.0


def test_not_good_matches_bad_because_the_longer_sentence_wins() -> None:
    prediction = classifier.predict("not good", INTENTS)
    assert prediction.intent is BAD
    assert prediction.matched_sentence == "not good"
    assert prediction.score == 1.0


@pytest.mark.parametrize(
    ("intent", "sentence"),
    [(intent, sentence) for intent in INTENTS for sentence in intent.training_sentences],
)
def test_exact_training_sentence_scores_one(intent: Intent, sentence: str) -> None:
    prediction = classifier.predict(sentence, INTENTS)
    assert prediction.intent is intent
    assert prediction.score == 1.0
    assert prediction.matched_sentence == sentence


@pytest.mark.parametrize("message", ["I am fine", "i'm fine", "I\u2019M FINE!", "  I'm   fine. "])
def test_training_sentence_written_differently_still_scores_one(message: str) -> None:
    fine = Intent("fine", ("I'm fine",))
    assert classifier.predict(message, [fine]) == IntentClassifierPrediction(fine, 1.0, "I'm fine")


def test_punctuation_only_training_sentence_matches_exactly() -> None:
    puzzled = Intent("puzzled", ("???",))
    assert classifier.predict(" ??? ", [puzzled]).intent is puzzled
    assert classifier.predict("!!!", [puzzled]).intent is fallback_intent


def test_extra_words_lower_the_score_but_keep_the_intent() -> None:
    prediction = classifier.predict("I'm feeling great", INTENTS)
    assert prediction.intent is GOOD
    assert prediction.matched_sentence == "great"
    assert 0.5 < prediction.score < 1.0


def test_intents_without_parameters_match_no_parameters() -> None:
    for message in ("hello", "purple elephant", ""):
        assert classifier.predict(message, INTENTS).matched_parameters == []


def test_no_intents_returns_fallback_with_zero_score() -> None:
    assert classifier.predict("hello", []) == IntentClassifierPrediction(fallback_intent, 0.0)


def test_intents_without_training_sentences_return_fallback() -> None:
    empty = Intent("empty")
    assert classifier.predict("hello", [empty, fallback_intent]).intent is fallback_intent


def test_only_the_given_intents_are_considered() -> None:
    assert predicted_name("hello", [GOOD, BAD]) == fallback_intent.name


def test_fallback_below_threshold_reports_best_score_and_sentence() -> None:
    strict = SimpleIntentClassifier(threshold=0.95)
    prediction = strict.predict("I'm feeling great", INTENTS)
    assert prediction.intent is fallback_intent
    assert prediction.matched_sentence == "great"
    assert prediction.score == classifier.predict("I'm feeling great", INTENTS).score


def test_score_equal_to_the_threshold_predicts_the_intent() -> None:
    score = classifier.predict("helo", INTENTS).score
    assert SimpleIntentClassifier(threshold=score).predict("helo", INTENTS).intent is HELLO


@pytest.mark.parametrize("first_is_a", [True, False])
def test_tie_goes_to_the_intent_listed_first(first_is_a: bool) -> None:
    a, b = Intent("a", ("hello",)), Intent("b", ("hello",))
    intents = [a, b] if first_is_a else [b, a]
    assert classifier.predict("hello", intents).intent is intents[0]
    assert classifier.predict("hello there friend", intents).intent is intents[0]


def test_intents_with_the_same_name_are_told_apart_by_identity() -> None:
    other_hello = Intent("hello", ("goodbye",))
    assert classifier.predict("goodbye", [HELLO, other_hello]).intent is other_hello


def test_intents_given_as_list_or_tuple_predict_the_same() -> None:
    assert classifier.predict("hi", list(INTENTS)) == classifier.predict("hi", INTENTS)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.01, 2, math.nan, math.inf, -math.inf])
def test_threshold_out_of_range_raises_value_error(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        SimpleIntentClassifier(threshold=threshold)


@pytest.mark.parametrize("threshold", ["0.5", None, True])
def test_threshold_that_is_not_a_number_raises_type_error(threshold: object) -> None:
    with pytest.raises(TypeError, match="threshold"):
        SimpleIntentClassifier(threshold=threshold)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [1, 1.0, 0.01, 0.5])
def test_threshold_in_range_is_kept_as_a_float(threshold: float) -> None:
    kept = SimpleIntentClassifier(threshold=threshold).threshold
    assert kept == threshold
    assert isinstance(kept, float)


def test_default_threshold_is_one_half() -> None:
    assert SimpleIntentClassifier().threshold == 0.5


def test_threshold_is_read_only() -> None:
    with pytest.raises(AttributeError):
        classifier.threshold = 0.9  # type: ignore[misc]


def test_repr_shows_the_threshold() -> None:
    assert repr(SimpleIntentClassifier(0.75)) == "SimpleIntentClassifier(threshold=0.75)"


def test_any_object_with_predict_satisfies_the_protocol() -> None:
    class AlwaysHello:
        def predict(self, message: str, intents: Sequence[Intent]) -> IntentClassifierPrediction:
            return IntentClassifierPrediction(HELLO, 1.0)

    plugged: list[IntentClassifier] = [classifier, AlwaysHello()]
    assert all(isinstance(candidate, IntentClassifier) for candidate in plugged)
    assert not isinstance(object(), IntentClassifier)


def test_concurrent_predictions_from_many_threads_agree_with_serial_ones() -> None:
    shared = SimpleIntentClassifier()
    intent_sets = [INTENTS, (BAD, GOOD), (HELLO,), (Intent("x", ("great news",)), GOOD)]
    messages = ["hello there!", "helo", "not good", "great", "purple", "", "I'm fine thanks"]
    jobs = [(m, intents) for m in messages for intents in intent_sets] * 50
    expected = [SimpleIntentClassifier().predict(m, intents) for m, intents in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda job: shared.predict(*job), jobs))
    assert got == expected


def test_cache_of_intent_sets_stays_bounded() -> None:
    fresh = SimpleIntentClassifier()
    for i in range(1_500):
        intent = Intent(f"i{i}", (f"sentence {i}",))
        assert fresh.predict(f"sentence {i}", [intent]).intent is intent
    assert len(fresh._cache) <= 1_024


sentences = st.lists(st.text(max_size=40), max_size=4).map(tuple)
intent_lists = st.lists(st.builds(Intent, st.text(max_size=10), sentences), max_size=4)


@settings(database=None, deadline=None, max_examples=300)
@given(message=st.text(max_size=80), intents=intent_lists)
def test_any_text_gives_a_deterministic_score_between_zero_and_one(
    message: str, intents: list[Intent]
) -> None:
    prediction = classifier.predict(message, intents)
    assert 0.0 <= prediction.score <= 1.0
    assert prediction.intent is fallback_intent or prediction.intent in intents
    assert prediction.matched_parameters == []
    assert classifier.predict(message, intents) == prediction
    assert SimpleIntentClassifier().predict(message, tuple(intents)) == prediction


@settings(database=None, deadline=None, max_examples=300)
@given(
    sentence=st.text(min_size=1, max_size=40).filter(str.strip),
    others=st.lists(st.text(max_size=40), max_size=3),
)
def test_any_training_sentence_sent_verbatim_scores_one(sentence: str, others: list[str]) -> None:
    intent = Intent("verbatim", (*others, sentence))
    prediction = classifier.predict(sentence, [intent])
    assert prediction.intent is intent
    assert prediction.score == 1.0
