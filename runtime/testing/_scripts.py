"""Scripts: what each user sends, step by step, and how to generate them from a bot.

A *script* is one user's list of :class:`Step` (a message, a file or an event). Scripts are
written by hand, read from a JSON file (``{"user": ["msg", ...]}``), or generated, seeded, from
the bot's own definition: its intents' training sentences with paraphrase noise (case,
punctuation, filler words, typos), free text that no intent expects, files of allowed and
disallowed types for its file transitions, and events for its event transitions.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from runtime.bot import Bot, File, TransitionKind
from runtime.testing._script_checks import brief, check_user_id, read_step, unique_keys

__all__ = [
    "CASES",
    "DISALLOWED_TYPES",
    "FILLERS",
    "FREE_WORDS",
    "GENERIC_EVENT_NAMES",
    "PUNCTUATION",
    "TYPOS",
    "Scripts",
    "Step",
    "Vocabulary",
    "dump_scripts",
    "generate_scripts",
    "load_scripts",
    "make_file",
    "normalise_scripts",
    "paraphrase",
    "user_ids",
    "vocabulary",
]

StepKind = Literal["message", "file", "event"]

CASES: Final = ("as is", "lower", "upper", "title")
PUNCTUATION: Final = ("", "!", "?", ".", "...")
FILLERS: Final = ("", "please", "um", "well", "oh", "so")
TYPOS: Final = ("none", "swap", "drop", "double")
FREE_WORDS: Final = (
    "purple", "elephant", "tuesday", "coffee", "banana", "seven", "umbrella", "rocket",
    "violin", "maple", "granite", "lantern",
)  # fmt: skip
"""Words no example intent is about: free text goes to "no intent matched" or fallbacks."""

DISALLOWED_TYPES: Final = ("application/x-msdownload", "text/plain", "application/pdf")
"""File types sent to probe fallbacks (those a bot allows are skipped)."""

_EXTENSIONS: Final = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "text/plain": ".txt",
    "application/pdf": ".pdf",
    "application/x-msdownload": ".exe",
}

GENERIC_EVENT_NAMES: Final = ("ping", "timer")
"""Event names always tried: the bot has no registry of the names it expects."""


@dataclass(frozen=True, repr=False)
class Step:
    """One thing a user sends: a message, a file or an event.

    Build steps with :meth:`message`, :meth:`upload` and :meth:`event`; a plain ``str`` in a
    script stands for a message.

    Attributes:
        kind: ``"message"``, ``"file"`` or ``"event"``.
        text: the message's text, or the event's name.
        file: the file (``kind == "file"``).
        payload: the event's payload (``kind == "event"``).
    """

    kind: StepKind
    text: str = ""
    file: File | None = None
    payload: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        # The factories check their arguments; this refuses a Step built directly that is no
        # message, file or event, before it fails halfway through a run.
        none = type(None)
        shapes: dict[str, tuple[type, type, type | tuple[type, type]]] = {
            "message": (str, none, none),
            "file": (str, File, none),
            "event": (str, none, (Mapping, none)),
        }
        shape = shapes.get(self.kind)
        values = (self.text, self.file, self.payload)
        if (
            shape is None
            or not all(isinstance(value, kind) for value, kind in zip(values, shape, strict=True))
            or (self.kind == "event" and not self.text)
        ):
            raise TypeError(
                f"not a step: Step{(self.kind, *values)!r}; build steps with Step.message, "
                "Step.upload or Step.event"
            )

    @classmethod
    def message(cls, text: str) -> Step:
        """Return a step that sends the message ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"a message is a str, got {type(text).__name__}")
        return cls("message", text)

    @classmethod
    def upload(cls, file: File) -> Step:
        """Return a step that sends ``file``."""
        if not isinstance(file, File):
            raise TypeError(f"an upload needs a runtime.File, got {type(file).__name__}")
        return cls("file", file.name, file=file)

    @classmethod
    def event(cls, name: str, payload: Mapping[str, Any] | None = None) -> Step:
        """Return a step that sends the event ``name`` with ``payload``."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"an event name is a non-empty str, got {name!r}")
        return cls("event", name, payload=dict(payload or {}))

    def describe(self) -> str:
        """Return the step as a person would read it in a report."""
        if self.kind == "message":
            return repr(self.text)
        if self.kind == "file":
            assert self.file is not None
            return f"file {self.file.name} ({self.file.type})"
        return f"event {self.text} {json.dumps(dict(self.payload or {}), sort_keys=True)}"

    def to_json(self) -> str | dict[str, Any]:
        """Return the step as the scripts file spells it (see :func:`load_scripts`)."""
        if self.kind == "message":
            return self.text
        if self.kind == "file":
            assert self.file is not None
            return {"file": self.file.name, "type": self.file.type, "base64": self.file.base64}
        return {"event": self.text, "payload": dict(self.payload or {})}

    @classmethod
    def from_json(cls, value: object) -> Step:
        """Read a step as the scripts file spells it (see :func:`load_scripts`).

        Raises:
            ValueError: ``value`` is not a valid message, file or event (the message says why).
        """
        step = read_step(value)
        if isinstance(step, str):
            return cls.message(step)
        if isinstance(step, File):
            return cls.upload(step)
        return cls.event(*step)

    def __repr__(self) -> str:
        if self.kind == "message":
            return f"Step.message({self.text!r})"
        if self.kind == "file":
            assert self.file is not None
            return f"Step.upload(File({self.file.name!r}, {self.file.type!r}))"
        return f"Step.event({self.text!r}, {dict(self.payload or {})!r})"


Scripts = Mapping[str, Sequence[Step]]
"""Each user's script: session id -> the steps that user sends, in order."""


def normalise_scripts(scripts: Mapping[str, Sequence[str | Step]]) -> dict[str, tuple[Step, ...]]:
    """Check ``scripts`` and turn plain strings into message steps.

    Raises:
        TypeError: a user id is not a str, a script is not a list, or a step is neither a str
            nor a Step.
        ValueError: there are no users, or a user id cannot be a session id (empty, longer
            than ``MAX_SESSION_ID_LENGTH`` characters, or not valid Unicode).
    """
    if not isinstance(scripts, Mapping) or not scripts:
        raise ValueError("scripts must map at least one user id to a list of messages")
    result: dict[str, tuple[Step, ...]] = {}
    for user, script in scripts.items():
        if not isinstance(user, str):
            raise TypeError(f"user ids are non-empty str, got {brief(user)}")
        check_user_id(user)
        if isinstance(script, str | bytes | Mapping) or not isinstance(script, Iterable):
            raise TypeError(f"the script of user {brief(user)} is not a list of messages")
        steps: list[Step] = []
        for item in script:
            if isinstance(item, Step):
                steps.append(item)
            elif isinstance(item, str):
                steps.append(Step.message(item))
            else:
                raise TypeError(f"a step is a str or a Step, got {type(item).__name__}")
        result[user] = tuple(steps)
    return result


def load_scripts(path: str | os.PathLike[str]) -> dict[str, tuple[Step, ...]]:
    """Read scripts from a JSON file: ``{"user": ["msg", {"event": "ping"}, ...], ...}``.

    A step is a message (a string), ``{"file": NAME, "type": MIME, "base64": DATA}`` (type and
    base64 optional) or ``{"event": NAME, "payload": {...}}`` (payload optional, nested at most
    ``MAX_PAYLOAD_DEPTH`` deep). User ids are session ids; no key may appear twice.

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not JSON of that shape (the message names the user and step).
    """
    name = os.fspath(path)
    with open(path, encoding="utf-8") as fh:
        try:
            raw = json.load(fh, object_pairs_hook=unique_keys)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{name} is not UTF-8 text: {exc}") from None
        except RecursionError:
            raise ValueError(f"{name} nests its JSON too deeply to read") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} is not valid JSON: {exc}") from None
        except ValueError as exc:  # a duplicate key, or a number with too many digits
            raise ValueError(f"{name} cannot be read as scripts: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise ValueError(
            f'{name} must hold a JSON object {{"user": ["message", ...]}} with at least one user'
        )
    scripts: dict[str, tuple[Step, ...]] = {}
    for user, script in raw.items():
        try:
            check_user_id(user)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        if not isinstance(script, list):
            raise ValueError(f"{name}: user {brief(user)} needs a list of steps")
        steps = []
        for index, item in enumerate(script):
            try:
                steps.append(Step.from_json(item))
            except ValueError as exc:
                raise ValueError(f"{name}: user {brief(user)}, step {index}: {exc}") from None
        scripts[user] = tuple(steps)
    return scripts


def dump_scripts(scripts: Scripts) -> str:
    """Return ``scripts`` as the JSON that :func:`load_scripts` reads."""
    return json.dumps(
        {user: [step.to_json() for step in script] for user, script in scripts.items()},
        indent=2,
        ensure_ascii=False,
    )


# -- what a bot understands ---------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """What a bot's definition says it understands.

    Attributes:
        sentences: every intent's training sentences, in definition order.
        allowed_types: MIME types some file transition names, sorted.
        disallowed_types: MIME types no file transition names.
        file_transitions: whether any state has a file transition.
        event_names: ``event_params["name"]`` values of event transitions, then generic names.
        event_transitions: whether any state has an event transition.
    """

    sentences: tuple[str, ...]
    allowed_types: tuple[str, ...]
    disallowed_types: tuple[str, ...]
    file_transitions: bool
    event_names: tuple[str, ...]
    event_transitions: bool


def vocabulary(bot: Bot) -> Vocabulary:
    """Read what ``bot`` understands from its intents and transitions."""
    sentences = tuple(s for intent in bot.intents for s in intent.training_sentences)
    allowed: set[str] = set()
    names: list[str] = []
    files = events = False
    for state in bot.states:
        for transition in state.transitions:
            if transition.kind is TransitionKind.FILE:
                files = True
                allowed.update(transition.allowed_types or ())
            elif transition.kind is TransitionKind.EVENT:
                events = True
                name = transition.event_params.get("name")
                if isinstance(name, str) and name and name not in names:
                    names.append(name)
    names.extend(name for name in GENERIC_EVENT_NAMES if name not in names)
    return Vocabulary(
        sentences=sentences,
        allowed_types=tuple(sorted(allowed)),
        disallowed_types=tuple(t for t in DISALLOWED_TYPES if t not in allowed),
        file_transitions=files,
        event_names=tuple(names),
        event_transitions=events,
    )


def paraphrase(
    sentence: str,
    *,
    case: str = "as is",
    punctuation: str = "",
    filler: str = "",
    typo: str = "none",
    typo_at: int = 0,
) -> str:
    """Return ``sentence`` as a user might type it.

    Args:
        sentence: a training sentence.
        case: one of :data:`CASES`.
        punctuation: appended (one of :data:`PUNCTUATION`).
        filler: a word put in front (one of :data:`FILLERS`; ``""`` for none).
        typo: one of :data:`TYPOS`: swap two letters, drop one, or double one.
        typo_at: where the typo goes (taken modulo the sentence's length).
    """
    text = sentence
    if typo != "none" and len(text) >= 2:
        at = typo_at % (len(text) - 1)
        if typo == "swap":
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        elif typo == "drop":
            text = text[:at] + text[at + 1 :]
        elif typo == "double":
            text = text[: at + 1] + text[at] + text[at + 1 :]
    if case == "lower":
        text = text.lower()
    elif case == "upper":
        text = text.upper()
    elif case == "title":
        text = text.title()
    if filler:
        text = f"{filler} {text}"
    return text + punctuation


def make_file(mime: str, tag: str) -> File:
    """Return a small file of type ``mime`` whose name and content carry ``tag``."""
    extension = _EXTENSIONS.get(mime, ".bin")
    return File(file_name=f"{tag}{extension}", file_type=mime, file_data=tag.encode())


def user_ids(count: int) -> list[str]:
    """Return the session ids of generated users: ``user-0``, ``user-1``..."""
    return [f"user-{number}" for number in range(count)]


def generate_scripts(
    bot: Bot, *, users: int, messages: int, seed: int
) -> dict[str, tuple[Step, ...]]:
    """Generate a script per user from the bot's own definition; the same seed, the same scripts.

    About 7 steps in 10 are training sentences with paraphrase noise, the rest free text,
    files (when the bot has file transitions) and events (when it has event transitions).

    Args:
        bot: the bot whose intents and transitions the scripts exercise.
        users: how many users (ids ``user-0``...).
        messages: steps per user.
        seed: the seed; scripts depend only on it, the bot's definition and the counts.

    Raises:
        ValueError: ``users`` or ``messages`` is below 1.
    """
    if users < 1 or messages < 1:
        raise ValueError(f"need at least 1 user and 1 message, got {users} and {messages}")
    words = vocabulary(bot)
    rng = random.Random(f"runtime.testing.scripts:{seed}")
    return {
        user: tuple(_random_step(words, rng) for _ in range(messages)) for user in user_ids(users)
    }


def _random_step(words: Vocabulary, rng: random.Random) -> Step:
    roll = rng.random()
    if words.file_transitions and roll < 0.1:
        types = [*words.allowed_types, *words.disallowed_types]
        return Step.upload(make_file(rng.choice(types), rng.choice(FREE_WORDS)))
    if words.event_transitions and roll < 0.2:
        return Step.event(rng.choice(words.event_names), {"text": _free_text(rng)})
    if words.sentences and roll < 0.85:
        return Step.message(
            paraphrase(
                rng.choice(words.sentences),
                case=rng.choice(CASES),
                punctuation=rng.choice(PUNCTUATION),
                filler=rng.choice(FILLERS) if rng.random() < 0.3 else "",
                typo=rng.choice(TYPOS) if rng.random() < 0.3 else "none",
                typo_at=rng.randrange(64),
            )
        )
    return Step.message(_free_text(rng))


def _free_text(rng: random.Random) -> str:
    return " ".join(rng.sample(FREE_WORDS, rng.randint(1, 3))) + f" {rng.randrange(100)}"
