"""The BBF 1.5 compatibility layer on bot files written as BBF users write them.

These files import ``besser.bot`` and nothing else of ours; the loader turns the layer on. The
layer is process-wide once on, so what must hold *without* it runs in a child process.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from runtime import Bot, Runtime
from runtime._loader import load_bot
from runtime.compat import imports_bbf, install
from runtime.errors import BotLoadError, NotAvailableError

BBF_BOT = """
import operator

from besser.bot.core.bot import Bot
from besser.bot.core.session import Session
from besser.bot.library.entity.base_entities import number_entity
from besser.bot.nlp import NLP_LANGUAGE
from besser.bot.nlp.intent_classifier.intent_classifier_configuration import (
    LLMIntentClassifierConfiguration,
)
from besser.bot.nlp.llm.llm_openai_api import LLMOpenAI

bot = Bot("compat_bot")
bot.load_properties("no-such-config.ini")
bot.set_property(NLP_LANGUAGE, "en")
web = bot.use_websocket_platform(use_ui=False)
gpt = LLMOpenAI(bot=bot, name="gpt-4o-mini", parameters={}, num_previous_messages=10)

start = bot.new_state("start", initial=True)
rich = bot.new_state("rich")
ask = bot.new_state("ask")
llm_state = bot.new_state("llm")
help_state = bot.new_state("help")
late = None

show = bot.new_intent("show", ["show me", "rich replies"])
pizza = bot.new_intent("pizza", ["I want NUMBER pizzas"])
pizza.parameter("count", "NUMBER", number_entity)
smart = bot.new_intent("smart", ["ask the model"])
helpme = bot.new_intent("helpme", ["help"])


def start_body(session: Session):
    web.reply(session, "ready")


def rich_body(session: Session):
    web.reply_markdown(session, "**bold**")
    web.reply_options(session, ["a", "b"])
    web.reply_location(session, 41.39, 2.17)


def ask_body(session: Session):
    count = session.predicted_intent.get_parameter("count").value
    session.set("pizzas", count)
    session.reply(f"{count} pizzas")


def llm_body(session: Session):
    session.reply(gpt.predict(session.message))


start.set_body(start_body)
start.when_intent_matched_go_to(show, rich)
start.when_intent_matched_go_to(pizza, ask)
start.when_intent_matched_go_to(smart, llm_state)
rich.set_body(rich_body)
rich.go_to(start)
ask.set_body(ask_body)
ask.when_variable_matches_operation_go_to("pizzas", operator.eq, "2", start)
ask.when_intent_matched_go_to(show, rich)
llm_state.set_body(llm_body)
llm_state.go_to(start)
help_state.set_body(lambda session: session.reply("helping"))
help_state.set_global(helpme)


def own_fallback(session: Session):
    session.reply("global fallback")


bot.set_global_fallback_body(own_fallback)
late = bot.new_state("late")  # created after: keeps the default fallback, as in BBF
"""


@pytest.fixture(scope="module")
def bbf_bot(tmp_path_factory: pytest.TempPathFactory) -> Bot:
    path = tmp_path_factory.mktemp("compat") / "compat_bot.py"
    path.write_text(BBF_BOT)
    return load_bot(str(path), fresh=True)


def test_a_file_importing_besser_is_detected() -> None:
    assert imports_bbf("from besser.bot.core.bot import Bot\n")
    assert imports_bbf("import besser.bot.core.bot as b\n")
    assert imports_bbf("def f():\n    import besser.bot\n")
    assert imports_bbf("from besser import bot\n")
    assert not imports_bbf("import besser\nfrom besser.BUML.metamodel import structural\n")
    assert not imports_bbf("from runtime import Bot\nimport besserx\n")
    assert not imports_bbf("from .besser import x\n")
    assert not imports_bbf("this is not python (")


def test_a_bbf_file_loads_as_a_runtime_bot(bbf_bot: Bot) -> None:
    assert isinstance(bbf_bot, Bot)
    assert type(bbf_bot).__module__ == "runtime.compat._bot"
    assert [state.name for state in bbf_bot.states][:3] == ["start", "rich", "ask"]


def test_it_chats_with_parameters_rich_replies_and_global_states(bbf_bot: Bot) -> None:
    with Runtime(bbf_bot) as runtime:
        # "2" == "2": the variable transition moves the session back to start at once.
        assert runtime.send_message("u", "I want two pizzas").result(10) == [
            "ready",
            "2 pizzas",
            "ready",
        ]
        future = runtime.send_message("u", "show me")
        typed = future.typed_result(10)  # type: ignore[attr-defined]
        assert [(reply.kind, str(reply)) for reply in typed] == [
            ("markdown", "**bold**"),
            ("options", "a | b"),
            ("location", "41.39, 2.17"),
            ("text", "ready"),
        ]
        # A global state: entered from any state on its intent, then back (body again).
        assert runtime.send_message("u", "help").result(10) == ["helping", "ready"]
        assert runtime.snapshot("u").data["prev_state"] == "start"  # type: ignore[union-attr]


def test_set_global_fallback_body_keeps_bbf_s_rule(bbf_bot: Bot) -> None:
    states = {state.name: state for state in bbf_bot.states}
    assert states["start"].fallback_body.__name__ == "own_fallback"
    assert states["late"].fallback_body.__name__ == "default_fallback_body"
    with Runtime(bbf_bot) as runtime:
        assert runtime.send_message("v", "purple elephant").result(10) == [
            "ready",
            "global fallback",
        ]


def test_a_path_needing_a_model_fails_clearly_and_the_others_answer(bbf_bot: Bot) -> None:
    with Runtime(bbf_bot) as runtime, capture_logs() as logs:
        assert runtime.send_message("w", "ask the model").result(10) == ["ready", "ready"]
        assert runtime.stats().body_errors == 1
        typed = runtime.send_message("w", "show me").typed_result(10)  # type: ignore[attr-defined]
        assert typed[0].kind == "markdown"
    failures = [entry for entry in logs if entry["event"] == "body_failed"]
    assert [entry["error"] for entry in failures] == [
        "not available in this runtime: LLMOpenAI('gpt-4o-mini').predict() (it calls OpenAI's "
        "API over the network)"
    ]


def test_llm_classification_and_model_calls_raise_not_available() -> None:
    install()  # what the loader does for a file that imports besser.bot
    bbf_bot_class = importlib.import_module("besser.bot.core.bot").Bot
    configuration = importlib.import_module(
        "besser.bot.nlp.intent_classifier.intent_classifier_configuration"
    )
    llm_openai = importlib.import_module("besser.bot.nlp.llm.llm_openai_api").LLMOpenAI

    bot = bbf_bot_class("llm")
    bot.set_default_ic_config(configuration.LLMIntentClassifierConfiguration(llm_name="gpt"))
    state = bot.new_state("s", initial=True)
    with pytest.raises(NotAvailableError, match="LLM intent classification with 'gpt'"):
        state.classifier.predict("hi", [])
    with pytest.raises(NotAvailableError, match=r"LLMOpenAI\('gpt'\).chat\(\)"):
        llm_openai(bot=bot, name="gpt", parameters={}).chat(None)
    with pytest.raises(NotAvailableError, match="sessions are owned by the runtime"):
        bot.get_or_create_session("x", None)


def test_an_unsupported_bbf_module_names_itself(tmp_path: Path, bbf_bot: Bot) -> None:
    path = tmp_path / "speech_bot.py"
    path.write_text(
        "from besser.bot.nlp.speech2text.hf_speech2text import HFSpeech2Text\n"
        "from besser.bot.core.bot import Bot\nbot = Bot('x')\n"
    )
    with pytest.raises(BotLoadError, match=r"not available in this runtime: besser\.bot\.nlp\.sp"):
        load_bot(str(path), fresh=True)


def _chat(*args: str, stdin: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_compat_bbf_loads_a_bot_that_imports_besser_only_through_a_helper(tmp_path: Path) -> None:
    (tmp_path / "bbf_parts.py").write_text(
        textwrap.dedent(
            """
            from besser.bot.core.bot import Bot

            bot = Bot("helper_bot")
            start = bot.new_state("start", initial=True)
            start.set_body(lambda session: session.reply("hello from a helper"))
            """
        )
    )
    (tmp_path / "main_bot.py").write_text("from bbf_parts import bot\n")
    plain = _chat("main_bot.py", stdin="", cwd=tmp_path)
    assert plain.returncode == 2
    assert "No module named 'besser'" in plain.stderr
    with_flag = _chat("--compat", "bbf", "main_bot.py", stdin="", cwd=tmp_path)
    assert with_flag.returncode == 0, with_flag.stderr
    assert "bot> hello from a helper" in with_flag.stdout


RACE_BOT = """
import os

from besser.bot.core.bot import Bot
from besser.bot.core.session import Session

bot = Bot("race")
start = bot.new_state("start", initial=True)
count = bot.new_state("count")
tick = bot.new_intent("tick", ["tick"])


def count_body(session: Session):
    n = session.get("n") or 0
    os.sched_yield()  # let other threads run between the read and the write, as I/O would
    session.set("n", n + 1)


start.when_intent_matched_go_to(tick, count)
count.set_body(count_body)
count.go_to(start)
"""


def test_the_read_modify_write_bbf_loses_to_threads_loses_nothing_here(tmp_path: Path) -> None:
    """BBF 1.5 loses 87.5% of these increments with 8 threads (benchmarks/bbf_race.py)."""
    path = tmp_path / "race_bot.py"
    path.write_text(RACE_BOT)
    threads, each = 8, 60
    barrier = threading.Barrier(threads)
    with Runtime(load_bot(str(path), fresh=True)) as runtime:

        def send() -> list[Future[list[str]]]:
            barrier.wait()
            return [runtime.send_message("one", "tick") for _ in range(each)]

        with ThreadPoolExecutor(threads) as pool:
            batches = list(pool.map(lambda _: send(), range(threads)))
        for future in (f for batch in batches for f in batch):
            future.result(60)
        snapshot = runtime.snapshot("one")
    assert snapshot is not None
    assert snapshot.data["n"] == threads * each


def test_besser_s_other_packages_keep_loading_beside_the_layer(tmp_path: Path) -> None:
    """The besser namespace also holds BESSER's low-code platform (besser.BUML): the layer
    claims besser.bot only, before and after a BBF file is loaded in the same process."""
    package = tmp_path / "site" / "besser"
    (package / "BUML").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "BUML" / "__init__.py").write_text("MODEL = 'buml'\n")
    (tmp_path / "buml_bot.py").write_text(
        "import besser.BUML\nfrom runtime import Bot\n\nbot = Bot('buml')\n"
        "start = bot.new_state('start', initial=True)\n"
        "start.set_body(lambda session: session.reply(besser.BUML.MODEL))\n"
    )
    (tmp_path / "bbf_bot.py").write_text(
        "from besser.bot.core.bot import Bot\n\nbot = Bot('bbf')\n"
        "start = bot.new_state('start', initial=True)\n"
    )
    script = textwrap.dedent(
        """
        import importlib, sys
        from runtime import Runtime
        from runtime._loader import load_bot
        plain = load_bot("buml_bot.py")
        load_bot("bbf_bot.py")
        import besser.BUML
        print(type(plain).__module__, besser.BUML.MODEL, "besser.BUML" in sys.modules)
        print(importlib.import_module("besser.bot.core.bot").Bot.__module__)
        with Runtime(plain) as runtime:
            print(runtime.open_session("u").result(10))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "runtime.bot._bot buml True",
        "runtime.compat._bot",
        "['buml']",
    ]
