"""Same answers as BBF: BBF 1.5's example bots, unchanged, chat in real BBF and here.

Both frameworks get the same deterministic classifier (``_deterministic``: BBF's own trains a
Keras network) over their own entity recognisers, the same conversations (generated from the
bot's training sentences, entity values and synonyms in mixed case, and noise), in the same
order (sessions open, then one message per session in turn), and ``random`` seeded the same
way before every turn, so the weather bot's temperatures match too. The transcripts must be
equal message by message, reply kinds included.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from _bbf_venv import BBF
from _deterministic import best, score, training_sentences, turn_seed

from runtime import Bot, Intent, IntentClassifierPrediction, Runtime, fallback_intent
from runtime._loader import load_bot
from runtime.bot._ner import entity_sentence

SESSIONS = 6
MESSAGES = 10
SEEDS = (1, 2, 3)
NOISE = ["hello there", "what?", "ok", "thanks", "in", "the weather", "good bad", "42", "?"]


class SharedClassifier:
    """The comparison's classifier, over our recogniser (``bot.ner``), as the BBF side has it
    over BBF's: predictions grouped by entity sentence, in the order BBF groups them."""

    def __init__(self, bot: Bot) -> None:
        self._ner = bot.ner

    def predict(self, message: str, intents: Sequence[Intent]) -> IntentClassifierPrediction:
        groups: dict[str, list[Intent]] = {}
        found = {}
        for intent in intents:
            recognised = self._ner.recognise(message, intent)
            groups.setdefault(recognised.sentence, []).append(intent)
            found[intent] = recognised.parameters
        scored = []
        for sentence, members in groups.items():
            for intent in members:
                pairs = [(p.fragment, p.entity.name) for p in intent.parameters]
                sentences = training_sentences(intent.training_sentences, pairs)
                scored.append(((intent, sentence), score(sentence, sentences)))
        winner = best(scored)
        if winner is None:
            return IntentClassifierPrediction(fallback_intent, 1.0, message, [])
        intent, sentence = winner
        return IntentClassifierPrediction(intent, 1.0, sentence, found[intent])


def messages_for(bot: Bot, rng: random.Random) -> list[str]:
    """One user's messages: training sentences with entity values, values alone, and noise."""
    values = [
        phrase
        for entity in bot.entities
        for entry in entity.entries or ()
        for phrase in (entry.value, *entry.synonyms)
    ]
    out = []
    for _ in range(MESSAGES):
        roll = rng.random()
        if roll < 0.6:
            intent = rng.choice(bot.intents)
            sentence = rng.choice(intent.training_sentences)
            for parameter in intent.parameters:
                value = rng.choice([*values, ""])
                value = rng.choice([value, value.lower(), value.upper()])
                sentence = sentence.replace(parameter.fragment, value)
            out.append(rng.choice([sentence, sentence.lower(), sentence.upper()]))
        elif roll < 0.75 and values:
            out.append(rng.choice(values))
        else:
            out.append(rng.choice(NOISE))
    return out


def ours(bot_file: Path, sessions: dict[str, list[str]]) -> dict[str, Any]:
    """Run the conversations here, in BBF's driver's order; return its transcript shape."""
    bot = load_bot(str(bot_file), fresh=True)
    bot.set_classifier(SharedClassifier(bot))

    def replies(future: Any) -> list[list[str]]:
        return [[reply.kind, str(reply)] for reply in future.typed_result(30)]

    out: dict[str, Any] = {}
    with Runtime(bot) as runtime:
        for session_id in sessions:
            random.seed(turn_seed(session_id, 0))
            out[session_id] = {"open": replies(runtime.open_session(session_id)), "turns": []}
        for turn in range(max(len(messages) for messages in sessions.values())):
            for session_id, messages in sessions.items():
                if turn < len(messages):
                    random.seed(turn_seed(session_id, turn + 1))
                    future = runtime.send_message(session_id, messages[turn])
                    out[session_id]["turns"].append(replies(future))
    return out


def without_errors(transcript: dict[str, Any]) -> dict[str, Any]:
    """BBF's transcript without its "error" entries (bodies that raised; not replies)."""

    def keep(replies: list[list[str]]) -> list[list[str]]:
        return [reply for reply in replies if reply[0] != "error"]

    return {
        sid: {"open": keep(t["open"]), "turns": [keep(turn) for turn in t["turns"]]}
        for sid, t in transcript.items()
    }


@pytest.mark.parametrize("example", ["greetings_bot.py", "weather_bot.py"])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_example_answers_as_in_bbf(bbf: BBF, example: str, seed: int) -> None:
    bot_file = bbf.example(example)
    template = load_bot(str(bot_file), fresh=True)
    rng = random.Random(seed)
    sessions = {f"user{i}": messages_for(template, rng) for i in range(SESSIONS)}
    theirs = bbf.run(bot_file, sessions)
    assert all(reply[0] != "error" for t in theirs.values() for r in t["turns"] for reply in r)
    mine = ours(bot_file, sessions)
    for session_id, messages in sessions.items():
        assert mine[session_id]["open"] == theirs[session_id]["open"], session_id
        for message, got, expected in zip(
            messages, mine[session_id]["turns"], theirs[session_id]["turns"], strict=True
        ):
            assert got == expected, f"{session_id} said {message!r}"
    assert without_errors(theirs) == mine


def test_the_conversations_reach_every_intent_and_parameter(bbf: BBF) -> None:
    """The generated conversations are not trivial: they hit every intent, with and without
    a city, and the fallback (checked on our side, whose answers equal BBF's above)."""
    bot_file = bbf.example("weather_bot.py")
    rng = random.Random(SEEDS[0])
    template = load_bot(str(bot_file), fresh=True)
    sessions = {f"user{i}": messages_for(template, rng) for i in range(SESSIONS)}
    texts = [
        reply[1]
        for transcript in ours(bot_file, sessions).values()
        for turn in transcript["turns"]
        for reply in turn
    ]
    assert any(text.startswith("The weather in Barcelona is") for text in texts)
    assert any(text.startswith("The weather in Luxembourg is") for text in texts)
    assert "Sorry, I didn't get the city" in texts
    assert "Sorry, I didn't get it" in texts


def test_our_training_sentences_are_bbf_s(bbf: BBF) -> None:
    bot_file = bbf.example("weather_bot.py")
    bot = load_bot(str(bot_file), fresh=True)
    theirs = bbf.training_sentences(bot_file)
    mine = {
        intent.name: [entity_sentence(s, intent) for s in intent.training_sentences]
        for intent in bot.intents
    }
    assert mine == theirs
