"""BBF 1.5's ``Bot`` on top of ours: the BBF-only methods a bot file calls while it is defined.

A bot file's ``Bot('name')`` is a :class:`BbfBot`: a :class:`runtime.Bot` (so the runtime serves
it as any other) with BBF's platform, NLP-engine and training calls. Where BBF's rule differs
from ours, a BBF file gets BBF's (``set_global_fallback_body`` sets the fallback of the states
that exist when it is called).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.bot import Bot, State
from runtime.compat._nlp import classifier_for
from runtime.errors import NotAvailableError
from runtime.log import get_logger

if TYPE_CHECKING:
    from runtime.compat._platforms import Platform, TelegramPlatform, WebSocketPlatform
    from runtime.session import Session

__all__ = ["BbfBot", "NLPEngine"]


class NLPEngine:
    """What BBF's NLP engine holds that bot files reach: the LLMs, the RAG, the recogniser."""

    def __init__(self, bot: BbfBot) -> None:
        self._bot = bot
        self._llms: dict[str, Any] = {}
        self._rag: Any = None

    @property
    def ner(self) -> Any:
        """The bot's entity recogniser."""
        return self._bot.ner

    def speech2text(self, speech: bytes) -> str:
        """Refused: speech recognition needs a model."""
        raise NotAvailableError("speech2text", "speech recognition needs a model or a web API")


class BbfBot(Bot):
    """A bot defined by a BBF 1.5 bot file (``besser.bot.core.bot.Bot``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._nlp_engine = NLPEngine(self)
        self._platforms: list[Platform] = []
        self.processors: list[Any] = []

    # -- NLP ------------------------------------------------------------------------------

    @property
    def nlp_engine(self) -> NLPEngine:
        """BBF's NLP engine: the LLMs and RAG the file created (see :mod:`runtime.compat`)."""
        return self._nlp_engine

    @property
    def config(self) -> Any:
        """BBF's ConfigParser of properties (read it with ``get_property`` instead)."""
        return self.properties._config

    def new_state(self, name: str, initial: bool = False, ic_config: Any = None) -> State:
        """Create a state; a BBF intent classifier configuration maps to our classifiers."""
        return super().new_state(name, initial, classifier_for(ic_config))

    def set_default_ic_config(self, ic_config: Any) -> None:
        """Set the BBF intent classifier configuration of the states created from now on."""
        super().set_default_ic_config(classifier_for(ic_config))

    def set_global_fallback_body(self, body: Callable[[Session], Any]) -> None:
        """Set the fallback body of every state that exists now (BBF's rule)."""
        for state in self.states:
            state.set_fallback_body(body)

    def train(self) -> None:
        """Check the bot and connect its global states (BBF trains its classifiers here)."""
        self.freeze()

    # -- platforms ------------------------------------------------------------------------

    def use_websocket_platform(self, use_ui: bool = True) -> WebSocketPlatform:
        """Serve over WebSocket: ``serve`` and ``bot.run()`` do, with the chat page at /."""
        from runtime.compat._platforms import WebSocketPlatform  # noqa: PLC0415

        platform = WebSocketPlatform(self, use_ui)
        self._platforms.append(platform)
        return platform

    def use_telegram_platform(self) -> TelegramPlatform:
        """Declare a Telegram platform: it loads; polling Telegram is not available here."""
        from runtime.compat._platforms import TelegramPlatform  # noqa: PLC0415

        platform = TelegramPlatform(self)
        self._platforms.append(platform)
        return platform

    def run(self, train: bool = True, sleep: bool = True) -> int:
        """Serve the bot as ``python -m runtime serve`` does (see :meth:`runtime.Bot.run`)."""
        if any(platform.needs_network for platform in self._platforms):
            get_logger(bot=self.name).warning(
                "platform_not_available",
                detail="not available in this runtime: the Telegram platform (it polls "
                "Telegram's servers); serving the bot over WebSocket and HTTP instead",
            )
        return super().run(train, sleep)

    def stop(self) -> None:
        """Refused: a served bot stops on SIGTERM or Ctrl-C."""
        raise NotAvailableError("bot.stop()", "a served bot stops on SIGTERM or Ctrl-C")

    # -- sessions (the runtime owns them) -------------------------------------------------

    def get_or_create_session(self, session_id: str, platform: Any) -> Session:
        """Refused: sessions live in actors, reached only through the runtime."""
        raise NotAvailableError(
            "bot.get_or_create_session()",
            "sessions are owned by the runtime; they open when their first message arrives",
        )

    def receive_message(self, session_id: str, message: str) -> None:
        """Refused: messages reach sessions through the runtime (``Runtime.send_message``)."""
        raise NotAvailableError(
            "bot.receive_message()", "send messages through the runtime: Runtime.send_message"
        )

    def reset(self, session_id: str) -> None:
        """Refused: reset sessions through the runtime (``Runtime.reset``)."""
        raise NotAvailableError("bot.reset()", "reset sessions through the runtime: Runtime.reset")
