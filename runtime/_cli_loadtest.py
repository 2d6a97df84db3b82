"""The ``loadtest`` verb: WebSocket clients against a running server, and a report.

The load-test machinery (``runtime.testing._loadtest``) loads only when the verb runs. Exit
codes: 0 when every message was sent and none was lost or crossed (and, with ``--bot``, every
client saw what it sees alone), 1 otherwise, 2 on bad arguments, a bot that cannot be loaded
or a server that cannot be reached.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from runtime._cli_args import add_compat, rate, whole_number
from runtime.errors import BotDefinitionError, BotLoadError
from runtime.log import configure_cli_logging

if TYPE_CHECKING:
    from runtime.cli import _SubParsers

__all__ = [
    "EXIT_FAILED",
    "MAX_CHECKED_MESSAGES",
    "MAX_CLIENTS",
    "MAX_MESSAGES",
    "MAX_PROCESSES",
    "MAX_TOTAL_MESSAGES",
    "add_loadtest",
]

EXIT_OK = 0
EXIT_FAILED = 1  # something was lost, crossed or unsent, or a client was not isolated
EXIT_USAGE = 2

# Each client is a socket here and one on the server; a run keeps 8 bytes of latency per
# message, and with --bot every reply plus a solo run per client (about 1 ms per message).
MAX_CLIENTS = 10_000
MAX_MESSAGES = 100_000  # per client
MAX_TOTAL_MESSAGES = 10_000_000
MAX_CHECKED_MESSAGES = 200_000  # with --bot, as check-isolation's MAX_EVENTS
MAX_PROCESSES = 16


def _count(maximum: int) -> Callable[[str], int]:
    """Return an argparse ``type`` that reads a whole number from 1 to ``maximum``."""

    def count(value: str) -> int:
        number = whole_number(value)
        if not 1 <= number <= maximum:
            raise argparse.ArgumentTypeError(
                f"expected a number from 1 to {maximum:,}, got {number:,}"
            )
        return number

    return count


def _seconds(*, allow_zero: bool) -> Callable[[str], float]:
    def seconds(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seconds, got {value[:20]!r}") from None
        if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
            least = "0 or more" if allow_zero else "more than 0"
            raise argparse.ArgumentTypeError(f"expected {least} seconds, got {value!r}")
        return number

    return seconds


def _url(value: str) -> str:
    from runtime.testing._loadtest import ws_url  # noqa: PLC0415 (only this verb)

    try:
        return ws_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_loadtest(verbs: _SubParsers) -> None:
    """Add ``loadtest URL --clients N --messages M [--bot BOT] ...``."""
    loadtest = verbs.add_parser(
        "loadtest",
        help="load a running server with WebSocket clients and report what they saw",
        description="Connect N WebSocket clients to a running server's /ws endpoint (staggered "
        "over a short ramp), then have each send M messages, one after the other, each once "
        "the previous one was answered. Report messages/s, latency percentiles, errors, "
        "lost and crossed replies. With --bot, the messages come from the bot's intents "
        "(seeded) and each client's replies are checked against its sequence run alone. "
        "Exit 0 when nothing was lost or crossed, 1 otherwise.",
    )
    loadtest.add_argument(
        "url",
        metavar="URL",
        type=_url,
        help="the server: http://host:port, ws://host:port or ws://host:port/ws",
    )
    loadtest.add_argument(
        "--clients",
        type=_count(MAX_CLIENTS),
        default=100,
        metavar="N",
        help=f"concurrent clients, at most {MAX_CLIENTS:,} (default: 100)",
    )
    loadtest.add_argument(
        "--messages",
        type=_count(MAX_MESSAGES),
        default=20,
        metavar="M",
        help=f"messages per client, at most {MAX_MESSAGES:,} (default: 20)",
    )
    loadtest.add_argument(
        "--bot",
        metavar="BOT",
        help="the bot the server serves (path/to/bot.py or package.module): generate the "
        "messages from its intents and check each client's replies against it alone",
    )
    add_compat(loadtest)
    loadtest.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed of the messages (default: 0)"
    )
    loadtest.add_argument(
        "--processes",
        type=_count(MAX_PROCESSES),
        default=1,
        metavar="P",
        help="client processes to spread the clients over (default: 1)",
    )
    loadtest.add_argument(
        "--ramp",
        type=_seconds(allow_zero=True),
        default=None,
        metavar="SECONDS",
        help="spread the connections over this long (default: 1 ms per client, at most 5 s)",
    )
    loadtest.add_argument(
        "--rate-limit",
        type=rate,
        default=None,
        metavar="R",
        help="send at most R messages per second, all clients together (default: no cap)",
    )
    loadtest.add_argument(
        "--timeout",
        type=_seconds(allow_zero=False),
        default=30.0,
        metavar="SECONDS",
        help="give up on a connection or a reply after this long (default: 30)",
    )
    loadtest.add_argument(
        "-v", "--verbose", action="store_true", help="log everything, down to debug level"
    )
    loadtest.set_defaults(
        handler=_run_loadtest, check_arguments=lambda args: _check_size(loadtest, args)
    )


def _check_size(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse runs too big to keep in memory or to check (exits with 2)."""
    total = args.clients * args.messages
    most = MAX_TOTAL_MESSAGES if args.bot is None else MAX_CHECKED_MESSAGES
    if total > most:
        checked = " checked with --bot" if args.bot is not None else ""
        parser.error(
            f"--clients {args.clients:,} x --messages {args.messages:,} is {total:,} "
            f"messages; at most {most:,}{checked} in one run"
        )
    if args.processes > args.clients:
        parser.error(f"--processes {args.processes} is more than --clients {args.clients}")


def _run_loadtest(args: argparse.Namespace) -> int:
    from runtime.testing._loadtest import run_loadtest  # noqa: PLC0415 (only this verb)
    from runtime.testing._progress import progress_bars  # noqa: PLC0415

    configure_cli_logging(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        with progress_bars(sys.stderr) as progress:
            report = run_loadtest(
                args.url,
                clients=args.clients,
                messages=args.messages,
                bot=args.bot,
                seed=args.seed,
                processes=args.processes,
                ramp=args.ramp,
                rate_limit=args.rate_limit,
                timeout=args.timeout,
                progress=progress,
            )
    except (BotLoadError, BotDefinitionError, ConnectionError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED
