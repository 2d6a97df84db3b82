"""Hypothesis strategies drawn from a bot's own definition, and a ready-made isolation test.

The strategies generate what users send a bot: its intents' training sentences with paraphrase
noise (case, punctuation, filler words, typos), free text, files of the types its file
transitions allow and of types they do not, and events named after its event transitions.
:func:`isolation_test` turns them into a property test for a user's own pytest suite::

    from runtime.testing import isolation_test

    test_my_bot_is_isolated = isolation_test("bots/my_bot.py", max_users=4, max_messages=6)

Each example runs every user alone on a fresh copy of the bot, then all of them in the
deterministic simulation, where Hypothesis also draws whose turn runs next. A failure shrinks
to the fewest users, the fewest and simplest messages and the simplest interleaving, and
Hypothesis replays it from its database on the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import hypothesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from runtime.bot import Bot, File
from runtime.testing._oracle import BotSpec, Normaliser, bot_spec, check_isolation, fresh_bot
from runtime.testing._scripts import (
    CASES,
    FILLERS,
    FREE_WORDS,
    PUNCTUATION,
    TYPOS,
    Step,
    make_file,
    paraphrase,
    user_ids,
    vocabulary,
)

__all__ = ["conversations", "events", "files", "isolation_test", "messages", "steps"]


def _free_text() -> st.SearchStrategy[str]:
    words = st.lists(st.sampled_from(FREE_WORDS), min_size=1, max_size=3)
    return st.builds(
        lambda chosen, number: " ".join([*chosen, str(number)]), words, st.integers(0, 99)
    )


def messages(bot: Bot) -> st.SearchStrategy[str]:
    """Generate messages: the bot's training sentences as users type them, or free text.

    Shrinks towards the first training sentence, unchanged.
    """
    sentences = vocabulary(bot).sentences
    if not sentences:
        return _free_text()
    typed = st.builds(
        paraphrase,
        st.sampled_from(sentences),
        case=st.sampled_from(CASES),
        punctuation=st.sampled_from(PUNCTUATION),
        filler=st.sampled_from(FILLERS),
        typo=st.sampled_from(TYPOS),
        typo_at=st.integers(0, 63),
    )
    return st.one_of(typed, _free_text())


def files(bot: Bot) -> st.SearchStrategy[File]:
    """Generate small files of the types the bot's file transitions allow, and of others."""
    words = vocabulary(bot)
    types = [*words.allowed_types, *words.disallowed_types]
    return st.builds(make_file, st.sampled_from(types), st.sampled_from(FREE_WORDS))


def events(bot: Bot) -> st.SearchStrategy[Step]:
    """Generate event steps named after the bot's event transitions (and a few generic names).

    The bot keeps no registry of event names: the names come from ``event_params["name"]`` of
    its event transitions, then ``ping`` and ``timer``. Payloads are ``{}`` or ``{"text": ...}``.
    """
    names = st.sampled_from(vocabulary(bot).event_names)
    payloads: st.SearchStrategy[dict[str, str]] = st.one_of(
        st.just({}), st.fixed_dictionaries({"text": _free_text()})
    )
    return st.builds(Step.event, names, payloads)


def steps(bot: Bot) -> st.SearchStrategy[Step]:
    """Generate one step: a message, or a file or event when the bot has transitions for them."""
    words = vocabulary(bot)
    options: list[st.SearchStrategy[Step]] = [messages(bot).map(Step.message)]
    if words.file_transitions:
        options.append(files(bot).map(Step.upload))
    if words.event_transitions:
        options.append(events(bot))
    return st.one_of(options)


def conversations(
    bot: Bot, *, max_users: int = 4, max_messages: int = 6
) -> st.SearchStrategy[dict[str, tuple[Step, ...]]]:
    """Generate scripts for 1 to ``max_users`` users of 1 to ``max_messages`` steps each.

    Shrinks towards fewer users, fewer steps and simpler steps. Users are ``user-0``...
    """
    if max_users < 1 or max_messages < 1:
        raise ValueError("max_users and max_messages must be at least 1")
    script = st.lists(steps(bot), min_size=1, max_size=max_messages).map(tuple)
    return st.lists(script, min_size=1, max_size=max_users).map(
        lambda scripts: dict(zip(user_ids(len(scripts)), scripts, strict=True))
    )


def isolation_test(
    bot: BotSpec,
    *,
    max_users: int = 4,
    max_messages: int = 6,
    ignore_keys: Collection[str] = (),
    normalise: Normaliser | None = None,
    settings: hypothesis.settings | None = None,
) -> Callable[..., None]:
    """Return a pytest test that searches for conversations whose users are not isolated.

    Use it at module level in a test file; pytest collects the returned function::

        test_my_bot_is_isolated = isolation_test("bots/my_bot.py", max_users=4)

    Args:
        bot: ``path/to/bot.py`` (relative to where pytest runs), ``package.module``, or a
            module defining ``bot``.
        max_users: the most users in one example.
        max_messages: the most steps per user.
        ignore_keys: session data keys the bot shares on purpose.
        normalise: ``normalise(user, step, replies) -> replies`` for replies that
            legitimately depend on other users.
        settings: Hypothesis settings for this test (by default the loaded profile's, with
            no deadline, since a turn's time is not what is tested, and no explain phase).

    Returns:
        A test function. It fails with the isolation report of the shrunk example.
    """
    spec = bot_spec(bot)
    # Built on first use, so that collecting tests never loads bots, and built once: Hypothesis
    # validates every new strategy object, which costs more than running a short example.
    built: list[st.SearchStrategy[dict[str, tuple[Step, ...]]]] = []
    pickers: dict[tuple[str, ...], st.SearchStrategy[str]] = {}

    def strategy() -> st.SearchStrategy[dict[str, tuple[Step, ...]]]:
        if not built:
            definition = fresh_bot(spec)
            built.append(conversations(definition, max_users=max_users, max_messages=max_messages))
        return built[0]

    def test(data: st.DataObject) -> None:
        scripts = data.draw(strategy(), label="scripts")

        def choose(ready: Sequence[str]) -> str:
            key = tuple(ready)
            picker = pickers.get(key)
            if picker is None:
                picker = pickers[key] = st.sampled_from(key)
            return data.draw(picker, label="next turn")

        report = check_isolation(
            spec,
            scripts=scripts,
            mode="simulate",
            ignore_keys=ignore_keys,
            normalise=normalise,
            choose=choose,
            replay="run this test again: Hypothesis replays the shrunk example from its database",
        )
        if not report.isolated:
            raise AssertionError(f"{spec} does not keep its users isolated:\n\n{report}")

    name = "test_isolation_of_" + "".join(c if c.isalnum() else "_" for c in spec)
    test.__name__ = test.__qualname__ = name
    chosen = settings or _default_settings()
    wrapped: Callable[..., None] = chosen(given(st.data())(test))
    return wrapped


def _default_settings() -> hypothesis.settings:
    current: Any = hypothesis.settings.default
    # No explain phase: it reruns the shrunk example many times over to annotate it, which
    # took two thirds of a failing run's time; the report already says what differed.
    return hypothesis.settings(
        current,
        deadline=None,
        phases=[phase for phase in current.phases if phase is not hypothesis.Phase.explain],
        suppress_health_check=[*current.suppress_health_check, HealthCheck.too_slow],
    )
