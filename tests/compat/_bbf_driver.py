"""Run a BBF 1.5 bot file headless and print every session's replies, turn by turn, as JSON.

Run it with the BBF virtualenv's python (``_bbf_venv.bbf_python()``), never the project's::

    .cache/bbf-venv-1.5.0/venv/bin/python tests/compat/_bbf_driver.py BOT.py < spec.json

stdin is ``{"sessions": {"alice": ["hi", "good"], "bob": ["hello"]}}``; stdout is::

    {"alice": {"open": [["text", "Waiting..."]],
               "turns": [[["text", "Hi! How are you?"]], [["text", "I am glad ..."]]]},
     "bob": {...}}

``open`` holds the replies of the session's creation (its initial state's body), ``turns[i]``
those of its ``i``-th message. Each reply is ``[kind, text]``: the kind is BBF's payload
action without its ``bot_reply_`` prefix, ``str`` written ``text`` (``text``, ``markdown``,
``html``, ``options``, ``location``, ``file``, ``image``, ...); a non-string payload is
JSON-encoded with sorted keys. One extra kind is not a reply: ``["error", log line]`` is BBF
logging an exception it swallowed in a body, so a broken bot fails a comparison loudly.

Order: every session is opened first, in the spec's order; then the messages go round-robin
(each session's first message in spec order, then each one's second, ...), one at a time on
this thread, through ``bot.receive_message`` exactly as BBF's WebSocket handler calls it.
Before each turn ``random`` is seeded with ``_deterministic.turn_seed(session_id, turn)``.

How BBF runs here, unchanged apart from three things:

- The bot file is imported under another name than ``__main__``, so ``bot.run()`` (servers,
  Streamlit) never starts. ``Bot.use_websocket_platform`` is patched to return a
  ``HeadlessPlatform``: BBF's own ``WebSocketPlatform`` with ``_send`` collecting payloads
  instead of writing to a connection, so BBF's reply methods and processors all run.
- ``SimpleIntentClassifier`` (a Keras network) is replaced in ``besser.bot.nlp.nlp_engine`` by
  ``DeterministicIntentClassifier``, which scores with ``_deterministic.score`` over BBF's own
  NER output and training-sentence processing; BBF's ``NLPEngine`` still picks the winner.
- ``nlp.pre_processing`` is set to False (``bot.set_property``) after the bot file has loaded
  its ``config.ini``. Pre-processing means Snowball stemming of messages, training sentences
  and entity values, after NLTK's ``word_tokenize``, whose Punkt data needs a download. The
  alternative, a regex tokenizer in its place, would keep stemming, but the shared classifier
  compares unstemmed sentences (both sides must match) and a stemmed message against unstemmed
  training sentences loses exact matches ("awful" stems to "aw"). Turning it off keeps every
  other default (language ``en``, threshold 0.4) and BBF's NER exactly as it is.

The bot runs in a fresh empty working directory, so a ``config.ini`` lying in the caller's
directory cannot change its settings.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from _deterministic import score, turn_seed

# This file runs only under the BBF virtualenv; the project's own environment (mypy's) has no
# besser, and besser ships no type information.
from besser.bot import nlp  # type: ignore[import-not-found]
from besser.bot.core.bot import Bot  # type: ignore[import-not-found]
from besser.bot.nlp import nlp_engine  # type: ignore[import-not-found]
from besser.bot.nlp.intent_classifier.intent_classifier import (  # type: ignore[import-not-found]
    IntentClassifier,
)
from besser.bot.nlp.intent_classifier.intent_classifier_prediction import (  # type: ignore[import-not-found]
    IntentClassifierPrediction,
)
from besser.bot.nlp.preprocessing.text_preprocessing import (  # type: ignore[import-not-found]
    process_text,
)
from besser.bot.platforms.websocket.websocket_platform import (  # type: ignore[import-not-found]
    WebSocketPlatform,
)

Reply = list[str]
"""``[kind, text]``."""


class DeterministicIntentClassifier(IntentClassifier):  # type: ignore[misc]  # BBF's class is untyped
    """BBF's ``SimpleIntentClassifier`` with ``_deterministic.score`` in place of its network.

    ``train`` and ``predict`` follow ``SimpleIntentClassifier``'s steps: process the training
    sentences, process the message, run the NER, then score each intent of each NER sentence.
    """

    def train(self) -> None:
        """Process every intent's training sentences (fragments become entity names)."""
        for intent in self._state.intents:
            intent.process_training_sentences(self._nlp_engine)

    def predict(self, message: str) -> list[Any]:
        """Score each of the state's intents for ``message``, in BBF's prediction order."""
        message = process_text(message, self._nlp_engine)
        ner_prediction = self._nlp_engine.ner.predict(self._state, message)
        return [
            IntentClassifierPrediction(
                intent,
                score(ner_sentence, intent.processed_training_sentences),
                ner_sentence,
                ner_prediction.intent_matched_parameters[intent],
            )
            for ner_sentence, intents in ner_prediction.ner_sentences.items()
            for intent in intents
        ]


class HeadlessPlatform(WebSocketPlatform):  # type: ignore[misc]  # BBF's class is untyped
    """BBF's ``WebSocketPlatform`` without a server: replies are collected per session."""

    def __init__(self, bot: Any, use_ui: bool = True) -> None:
        super().__init__(bot, use_ui)
        self._replies: dict[str, list[Reply]] = {}

    def initialize(self) -> None:
        """Start nothing: there is no server."""

    def start(self) -> None:
        """Start nothing: there is no server."""

    def stop(self) -> None:
        """Stop nothing: there is no server."""

    def _send(self, session_id: str, payload: Any) -> None:
        # WebSocketPlatform._send up to the connection write, which is replaced by collecting.
        session = self._bot.get_or_create_session(session_id=session_id, platform=self)
        payload.message = self._bot.process(
            session=session, message=payload.message, is_user_message=False
        )
        kind = payload.action.removeprefix("bot_reply_")
        message = payload.message
        text = message if isinstance(message, str) else json.dumps(message, sort_keys=True)
        self.record(session_id, ["text" if kind == "str" else kind, text])

    def record(self, session_id: str, reply: Reply) -> None:
        """Add ``reply`` to the session's replies of the current turn."""
        self._replies.setdefault(session_id, []).append(reply)

    def take(self, session_id: str) -> list[Reply]:
        """Return the session's replies since the last call, and forget them."""
        return self._replies.pop(session_id, [])


class _SwallowedErrors(logging.Handler):
    """Record BBF's ERROR log lines (bodies' exceptions it caught) as ``error`` replies."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.platform: HeadlessPlatform | None = None
        self.session_id: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.platform is not None and self.session_id is not None:
            self.platform.record(self.session_id, ["error", record.getMessage()])


def install_patches() -> None:
    """Make BBF headless and deterministic (see the module docstring); idempotent."""
    nlp_engine.SimpleIntentClassifier = DeterministicIntentClassifier

    def use_websocket_platform(self: Any, use_ui: bool = True) -> HeadlessPlatform:
        platform = HeadlessPlatform(self, use_ui)
        self._platforms.append(platform)
        return platform

    Bot.use_websocket_platform = use_websocket_platform


def load_bot(bot_file: Path) -> Any:
    """Import ``bot_file`` (not as ``__main__``) and return the one ``Bot`` it defines.

    Raises:
        ValueError: the file defines no ``Bot`` or more than one at module level.
    """
    name = f"bbf_bot_{bot_file.stem}"
    spec = importlib.util.spec_from_file_location(name, bot_file)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {bot_file}: give the path of a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    bots = [value for value in vars(module).values() if isinstance(value, Bot)]
    if len(bots) != 1:
        raise ValueError(
            f"{bot_file} defines {len(bots)} Bot objects at module level; the driver needs one"
        )
    return bots[0]


def headless_platform(bot: Any) -> HeadlessPlatform:
    """Return the bot's ``HeadlessPlatform``, adding one if the bot file chose none."""
    for platform in bot._platforms:
        if isinstance(platform, HeadlessPlatform):
            return platform
    platform = bot.use_websocket_platform(use_ui=False)
    assert isinstance(platform, HeadlessPlatform)
    return platform


def run(bot_file: Path, sessions: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Load, train and talk to the bot in ``bot_file``; return the transcripts.

    Call it from a scratch working directory: the bot file may read and write files there.
    """
    install_patches()
    bot = load_bot(bot_file)
    bot.set_property(nlp.NLP_PRE_PROCESSING, False)
    platform = headless_platform(bot)
    bot.train()

    errors = _SwallowedErrors()
    errors.platform = platform
    logging.getLogger().addHandler(errors)
    transcripts: dict[str, dict[str, Any]] = {}
    try:
        for session_id in sessions:
            errors.session_id = session_id
            random.seed(turn_seed(session_id, 0))
            bot.get_or_create_session(session_id, platform)
            transcripts[session_id] = {"open": platform.take(session_id), "turns": []}
        rounds = max((len(messages) for messages in sessions.values()), default=0)
        for turn in range(1, rounds + 1):
            for session_id, messages in sessions.items():
                if turn > len(messages):
                    continue
                errors.session_id = session_id
                random.seed(turn_seed(session_id, turn))
                bot.receive_message(session_id, messages[turn - 1])
                transcripts[session_id]["turns"].append(platform.take(session_id))
    finally:
        logging.getLogger().removeHandler(errors)
    return transcripts


def training_sentences(bot_file: Path) -> dict[str, list[str]]:
    """Return each intent's training sentences as BBF processes them for the classifier."""
    install_patches()
    bot = load_bot(bot_file)
    bot.set_property(nlp.NLP_PRE_PROCESSING, False)
    bot.train()
    return {intent.name: list(intent.processed_training_sentences or []) for intent in bot.intents}


def parse_spec(spec: object) -> dict[str, list[str]]:
    """Check the stdin spec and return its sessions.

    Raises:
        ValueError: the spec is not ``{"sessions": {session_id: [message, ...], ...}}``.
    """
    sessions = spec.get("sessions") if isinstance(spec, dict) else None
    if not isinstance(sessions, dict) or not all(
        isinstance(messages, list) and all(isinstance(m, str) for m in messages)
        for messages in sessions.values()
    ):
        raise ValueError(
            'the spec on stdin must be {"sessions": {"alice": ["hi", ...], ...}}: '
            "session ids mapped to lists of message strings"
        )
    return {str(session_id): list(messages) for session_id, messages in sessions.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the driver as a command (see the module docstring); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bot_file", type=Path, help="a BBF 1.5 bot .py file")
    parser.add_argument(
        "--training",
        action="store_true",
        help="print each intent's processed training sentences instead (no spec on stdin)",
    )
    args = parser.parse_args(argv)
    bot_file = args.bot_file.resolve()
    spec = None if args.training else json.load(sys.stdin)
    out = sys.stdout
    # Bot files and BBF print and log as they please; only the JSON goes to stdout.
    with (
        contextlib.redirect_stdout(sys.stderr),
        tempfile.TemporaryDirectory(prefix="bbf-driver-") as work,
    ):
        os.chdir(work)
        result: object = (
            training_sentences(bot_file) if args.training else run(bot_file, parse_spec(spec))
        )
        os.chdir(Path(work).parent)
    json.dump(result, out)
    out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
