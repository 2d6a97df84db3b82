"""The ``serve`` verb of the command line (the web platform loads only when it runs)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from runtime._cli_args import add_compat, rate, whole_number
from runtime._loader import load_bot
from runtime.errors import BotDefinitionError, BotLoadError, StoreError
from runtime.log import configure_cli_logging
from runtime.properties import WEBSOCKET_HOST, WEBSOCKET_MAX_SIZE, WEBSOCKET_PORT

if TYPE_CHECKING:
    from runtime.bot import Bot
    from runtime.cli import _SubParsers

__all__ = ["add_serve"]

EXIT_USAGE = 2
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MIN_FRAME_BYTES = 4096
DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024  # WebSettings.max_file_bytes' default


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value[:20]!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port


def _shard_count(value: str) -> int:
    count = whole_number(value)
    if count < 1:
        raise argparse.ArgumentTypeError(f"--shards needs at least 1 shard, got {count}")
    return count


def add_serve(verbs: _SubParsers) -> None:
    """Add ``serve BOT [--host] [--port] [--store] [--data] ...``."""
    serve = verbs.add_parser(
        "serve",
        help="serve a bot over WebSocket and HTTP, with a chat page",
        description="Serve a bot: the chat page at /, this runtime's WebSocket protocol at "
        "/ws, BBF 1.5's at / (ws://), the HTTP API at /api (see /docs), /health and "
        "/metrics. Sessions are kept in SQLite in the data folder unless --store says "
        "otherwise. SIGTERM or Ctrl-C drains accepted turns, then exits 0.",
    )
    serve.add_argument(
        "bot", metavar="BOT", help="path/to/bot.py or package.module defining `bot` or `make_bot()`"
    )
    add_compat(serve)
    serve.add_argument(
        "--host",
        default=None,
        help="interface (default: the bot's websocket.host property if set, else 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=None,
        help="TCP port (default: the bot's websocket.port property if set, else 8000; 0: any "
        "free one)",
    )
    serve.add_argument(
        "--store",
        metavar="URL",
        default=None,
        help='where sessions are kept (default: "sqlite:///sessions.db" in the data folder); '
        '"memory", "sqlite:///path.db", "sqlite:////abs/path.db" or "redis://host:port/0"',
    )
    serve.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="the data folder: SQLite sessions and the token key (default: ./runtime-data)",
    )
    serve.add_argument(
        "--allow-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="let browser pages from ORIGIN (https://host:port) open WebSockets; repeatable; "
        '"*" allows any (pages from the server itself always may)',
    )
    serve.add_argument(
        "--rate",
        type=rate,
        default=None,
        help="messages per second each connection may send (default: 30, bursts of 2x)",
    )
    serve.add_argument(
        "--ray",
        metavar="ADDRESS",
        nargs="?",
        const="",
        default=None,
        help="run the sessions on Ray shards (pip install -e '.[ray]'): join the cluster at "
        "ADDRESS, or start a local Ray with every core when no ADDRESS is given",
    )
    serve.add_argument(
        "--shards",
        metavar="K",
        type=_shard_count,
        default=None,
        help="with --ray: how many shard actors (default: 2)",
    )
    serve.add_argument(
        "-v", "--verbose", action="store_true", help="log everything, down to debug level"
    )
    serve.set_defaults(handler=_run_serve)


def _bot_settings(bot: Bot, args: argparse.Namespace) -> tuple[str, int, dict[str, object]]:
    """Where to listen and the gateway's options: the command line first, then the bot's BBF
    properties (``websocket.host``, ``websocket.port``, ``websocket.max_size``) when set."""
    properties = bot.properties
    host = args.host
    if host is None:
        host = (
            bot.get_property(WEBSOCKET_HOST) if properties.is_set(WEBSOCKET_HOST) else DEFAULT_HOST
        )
    port = args.port
    if port is None:
        port = (
            bot.get_property(WEBSOCKET_PORT) if properties.is_set(WEBSOCKET_PORT) else DEFAULT_PORT
        )
        if not 0 <= port <= 65535:
            raise ValueError(
                f"the bot's {WEBSOCKET_PORT.name} property is {port}: a port is 0 to 65535"
            )
    options: dict[str, object] = {"allowed_origins": tuple(args.allow_origin)}
    if properties.is_set(WEBSOCKET_MAX_SIZE):
        size = bot.get_property(WEBSOCKET_MAX_SIZE)
        if size < MIN_FRAME_BYTES:
            raise ValueError(
                f"the bot's {WEBSOCKET_MAX_SIZE.name} property is {size}: serve needs frames of "
                f"at least {MIN_FRAME_BYTES} bytes"
            )
        options["max_frame_bytes"] = size
        # A file travels base64-encoded in one frame: the largest file shrinks with the frame.
        options["max_file_bytes"] = min(DEFAULT_MAX_FILE_BYTES, (size - 1024) * 3 // 4)
    if args.rate is not None:
        options["rate"] = args.rate
        options["burst"] = max(1, round(2 * args.rate))
    return host, port, options


def _ray_backend(args: argparse.Namespace) -> object | None:
    """The ``RayBackend`` that ``--ray`` asks for (its shards load BOT themselves), or None."""
    if args.ray is None:
        if args.shards is not None:
            raise ValueError("--shards needs --ray: shards run on Ray")
        return None
    from runtime.ray import RayBackend  # noqa: PLC0415  # the optional extra

    return RayBackend(args.ray or None, args.shards or 2, bot_path=args.bot)


def _run_serve(args: argparse.Namespace) -> int:
    configure_cli_logging(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        bot = load_bot(args.bot)
        backend = _ray_backend(args)
    except (BotLoadError, BotDefinitionError, ImportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Here, not at the top: `chat` and `check-isolation` do not pay for FastAPI and uvicorn.
    from runtime.platforms.web import DEFAULT_DATA_DIR, WebSettings, serve  # noqa: PLC0415

    try:
        host, port, options = _bot_settings(bot, args)
        settings = WebSettings(**options)  # type: ignore[arg-type]
        return serve(
            bot,
            host=host,
            port=port,
            store=args.store,
            data_dir=args.data or DEFAULT_DATA_DIR,
            settings=settings,
            runtime_options=None if backend is None else {"backend": backend},
        )
    except (BotDefinitionError, StoreError, ValueError, OSError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
