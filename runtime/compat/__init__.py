"""Run BBF 1.5 bot files unchanged: ``besser.bot`` imports resolve to this runtime.

The loader turns the layer on when a bot file imports ``besser.bot`` (or with ``--compat
bbf`` / ``RUNTIME_COMPAT=bbf``, for bots that import it only through a helper module); nothing
is installed in the environment, and a process that loads no BBF file never sees it.

- Supported as in BBF: states, bodies, fallback bodies, every transition kind, intents with
  training sentences, entities and parameters (``predicted_intent.get_parameter``), base
  entities (number, date-time), global states, properties and ``config.ini``, ``session``
  (``reply``, ``set``/``get``/``delete``, ``message``, ``file``, ``predicted_intent``,
  ``current_state``), ``File``.
- Mapped: ``Bot`` is a :class:`runtime.Bot` with BBF's extra calls; a platform's
  ``reply_*(session, ...)`` is the session's reply of that kind on whatever connection the user
  has; ``use_websocket_platform`` is ``serve`` (BBF's WebSocket protocol at ``/``);
  ``bot.run()`` serves on ``websocket.host``/``websocket.port``; BBF's Keras classifier
  configuration is the built-in offline classifier; ``base.any`` parameters are filled (BBF
  1.5 leaves them empty); ``prev_state`` holds a state's name, not the State.
- Refused with :class:`runtime.errors.NotAvailableError` when used (the file still loads):
  Telegram polling and handlers, LLMs (OpenAI, HuggingFace, Replicate), LLM intent
  classification, RAG, speech-to-text, the monitoring database,
  ``bot.receive_message``/``get_or_create_session``/``reset`` (the runtime owns sessions).
  Message processors are refused when created (they would change every message). Other
  ``besser.bot`` modules fail to import, naming the module; other ``besser`` packages
  (``besser.BUML``) are not touched.
"""

from __future__ import annotations

import ast
import os

from runtime.compat._finder import install, installed

__all__ = ["COMPAT_ENV", "enable_bbf", "imports_bbf", "install", "installed", "wanted"]

COMPAT_ENV = "RUNTIME_COMPAT"
"""Set to ``bbf`` to turn the layer on for every bot this process (and its children) load."""


def enable_bbf() -> None:
    """Turn the layer on in this process and in the processes it starts (idempotent)."""
    os.environ[COMPAT_ENV] = "bbf"
    install()


def wanted() -> bool:
    """Whether ``--compat bbf`` / ``RUNTIME_COMPAT=bbf`` asked for the layer."""
    return os.environ.get(COMPAT_ENV, "").strip().lower() == "bbf" or installed()


def imports_bbf(source: str | bytes) -> bool:
    """Whether Python ``source`` imports ``besser.bot`` (``from besser import bot`` too).

    Source that does not parse is reported as not importing it (its own import then says
    what is wrong).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "besser":
                names += [f"besser.{alias.name}" for alias in node.names]
        else:
            continue
        if any(name == "besser.bot" or name.startswith("besser.bot.") for name in names):
            return True
    return False
