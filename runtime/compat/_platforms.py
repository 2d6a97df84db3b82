"""BBF 1.5's platforms, mapped: their ``reply_*`` calls become the session's own.

In BBF a body answers through a platform (``websocket_platform.reply_markdown(session, text)``).
Here every session is reached through the runtime, whatever connection the user came by, so a
platform's reply is the session's reply of that kind. Telegram loads and answers the same way;
only what needs Telegram's servers (polling, its handlers) is refused when used.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runtime.bot import File
from runtime.errors import NotAvailableError

if TYPE_CHECKING:
    from runtime.compat._bot import BbfBot
    from runtime.session import Session

__all__ = ["Platform", "TelegramPlatform", "WebSocketPlatform"]


class Platform:
    """A BBF platform: replies go to the session, whatever connection its user is on."""

    needs_network = False

    def __init__(self, bot: BbfBot | None = None) -> None:
        self._bot = bot

    def reply(self, session: Session, message: str) -> None:
        """Send ``message`` (``session.reply``)."""
        session.reply(message)

    def reply_markdown(self, session: Session, message: str) -> None:
        """Send markdown (``session.reply_markdown``)."""
        session.reply_markdown(message)

    def reply_html(self, session: Session, message: str) -> None:
        """Send HTML (``session.reply_html``)."""
        session.reply_html(message)

    def reply_options(self, session: Session, options: Sequence[str]) -> None:
        """Send buttons (``session.reply_options``)."""
        session.reply_options(list(options))

    def reply_file(self, session: Session, file: File, message: str | None = None) -> None:
        """Send a file (``session.reply_file``), after ``message`` if given (Telegram's)."""
        if message:
            session.reply(message)
        session.reply_file(file)

    def reply_image(self, session: Session, img: Any, message: str | None = None) -> None:
        """Send an image: a File or image bytes (BBF's numpy arrays need OpenCV: refused)."""
        if message:
            session.reply(message)
        if isinstance(img, File | bytes):
            session.reply_image(img)
            return
        raise NotAvailableError(
            f"reply_image with a {type(img).__name__}",
            "numpy images need OpenCV to encode; send a File or PNG/JPEG bytes",
        )

    def reply_location(self, session: Session, latitude: float, longitude: float) -> None:
        """Send a point on a map (``session.reply_location``)."""
        session.reply_location(latitude, longitude)

    def reply_dataframe(self, session: Session, df: Any) -> None:
        """Send a pandas DataFrame as JSON data (``{"columns", "index", "data"}``)."""
        session.reply_json(json.loads(df.to_json(orient="split")))

    def reply_plotly(self, session: Session, plot: Any) -> None:
        """Send a plotly figure as its JSON document."""
        session.reply_json(json.loads(plot.to_json()))

    def reply_rag(self, session: Session, rag_message: Any) -> None:
        """Refused: RAG answers need a language model."""
        raise NotAvailableError("reply_rag", "RAG answers need a language model")

    def run(self) -> None:
        """Platforms do not run on their own here: ``serve`` runs the bot."""
        raise NotAvailableError(
            f"{type(self).__name__}.run()", "run the bot with `python -m runtime serve BOT`"
        )

    def initialize(self) -> None:
        """Nothing to do: ``serve`` sets the server up."""

    def start(self) -> None:
        """Platforms do not start on their own here: ``serve`` runs the bot."""
        self.run()

    def stop(self) -> None:
        """Nothing to do: ``serve`` stops on SIGTERM or Ctrl-C."""


class WebSocketPlatform(Platform):
    """BBF's WebSocket platform: ``serve`` speaks its protocol at ``ws://HOST:PORT/``."""

    def __init__(self, bot: BbfBot | None = None, use_ui: bool = True) -> None:
        super().__init__(bot)
        self.use_ui = use_ui


class TelegramPlatform(Platform):
    """BBF's Telegram platform: loads and answers like the others; Telegram itself (polling
    its servers, its handlers, voice) is not available in this runtime."""

    needs_network = True

    def __init__(self, bot: BbfBot | None = None) -> None:
        super().__init__(bot)
        self.handlers: list[Any] = []

    def add_handler(self, handler: Any) -> None:
        """Keep a python-telegram-bot handler (it never runs here: nothing polls Telegram)."""
        self.handlers.append(handler)

    @property
    def telegram_app(self) -> Any:
        """Refused: there is no Telegram application here."""
        raise NotAvailableError("the Telegram application", "it polls Telegram's servers")

    def reply_voice(self, session: Session, voice: Any) -> None:
        """Refused: voice messages need Telegram."""
        raise NotAvailableError("Telegram voice replies", "they need Telegram's servers")
