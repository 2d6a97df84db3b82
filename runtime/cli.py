"""The command line: ``python -m runtime <verb> BOT``.

BOT is ``path/to/bot.py`` or ``package.module``, exposing a module-level ``bot`` or a
``make_bot()`` function. Verbs so far:

- ``chat``: talk to the bot in the terminal, as one session;
- ``check-isolation``: run users alone and together and report any user whose conversation
  changes because others are active (exit 1 when one does);
- ``serve``: serve a bot over WebSocket and HTTP with a chat page (``runtime._cli_serve``);
- ``loadtest``: drive a served bot with many WebSocket clients and report throughput, latency,
  lost and crossed replies, and (``--bot``) isolation (``runtime._cli_loadtest``).

Each verb is an ``_add_<verb>`` function that adds its subparser and sets its ``handler``
(and, for checks that span several arguments, a ``check_arguments``); ``serve`` and ``loadtest``
slot in by joining ``_VERBS``. Exit codes: 0 on a normal exit, 1 when check-isolation finds a
divergence, 2 on bad arguments, bad input or a bot that cannot be loaded, 130 on Ctrl-C.

check-isolation keeps every step's replies three times over (alone, simulated, under load), so
its size is capped: at most :data:`MAX_USERS` users, :data:`MAX_MESSAGES` steps per user and
:data:`MAX_EVENTS` steps in all, whether generated or read from a scripts file, and at most
:data:`MAX_CONCURRENCY` sender threads.

This is where structlog gets configured (log lines go to stderr); the library never does it.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import BrokenExecutor
from typing import TYPE_CHECKING, TypeAlias

from runtime import __version__
from runtime._cli_args import add_compat, whole_number
from runtime._cli_loadtest import add_loadtest
from runtime._cli_serve import add_serve
from runtime._loader import load_bot
from runtime.errors import BotDefinitionError, BotLoadError, StoreError
from runtime.log import configure_cli_logging
from runtime.platforms.terminal import EXIT_INTERRUPTED, EXIT_OK, REPLY_TIMEOUT, TerminalChat
from runtime.runtime import MAX_SESSION_ID_LENGTH, Runtime

if TYPE_CHECKING:
    from runtime.testing import IsolationReport

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NOT_ISOLATED",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_CONCURRENCY",
    "MAX_EVENTS",
    "MAX_MESSAGES",
    "MAX_USERS",
    "REPLY_TIMEOUT",
    "build_parser",
    "main",
]

EXIT_NOT_ISOLATED = 1  # check-isolation found users whose conversations changed under load
EXIT_USAGE = 2  # what argparse uses for bad arguments; a bot that cannot load is one too

# check-isolation's caps. A run holds each step's replies three times (alone, simulated, under
# load): about 2 KB and 0.2 ms per step on a 2-core machine, so 200,000 steps stay under
# 0.5 GB and a minute or so, where an uncapped `--users 2000000` grew past 1 GB. Each user also
# loads a fresh copy of the bot module (a few ms), which 10,000 users keep under a minute; a
# race shows with a handful of users, so realistic runs are far below every cap.
MAX_USERS = 10_000
MAX_MESSAGES = 10_000
MAX_EVENTS = 200_000  # users x messages, or all the steps of a scripts file
MAX_CONCURRENCY = 256  # sender threads; more only add thread switches under one GIL
MAX_SCHEDULES = 100_000
DEFAULT_SCHEDULES = 40  # runtime.testing._interleave.DEFAULT_SCHEDULES (not imported: startup)


# Quoted: typeshed makes _SubParsersAction generic, the class itself is not subscriptable.
_SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
_Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after the program name (``sys.argv[1:]`` when None).

    Returns:
        The exit code: 0 on a normal exit, 1 when check-isolation finds a divergence, 2 when
        the bot or the input cannot be read, 130 on Ctrl-C (argparse also exits with 2, by
        raising ``SystemExit``, on bad arguments).
    """
    args = build_parser().parse_args(argv)
    check_arguments: Callable[[argparse.Namespace], None] | None = getattr(
        args, "check_arguments", None
    )
    if check_arguments is not None:
        check_arguments(args)
    if getattr(args, "compat", None) == "bbf":
        from runtime.compat import enable_bbf  # noqa: PLC0415

        enable_bbf()
    handler: _Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:  # Ctrl-C while the bot loads or a check runs
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser, with one subcommand per verb."""
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Serve a chatbot defined with runtime.Bot.",
        epilog="BOT is path/to/bot.py or package.module, defining `bot` or `make_bot()`.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add_verb in _VERBS:
        add_verb(verbs)
    return parser


def _prog() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m runtime" if name in ("", "__main__.py", "-c") else name


def _add_bot_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "bot", metavar="BOT", help="path/to/bot.py or package.module defining `bot` or `make_bot()`"
    )
    add_compat(parser)


def _session_id(value: str) -> str:
    if not value:
        raise argparse.ArgumentTypeError("a session id cannot be empty")
    if len(value) > MAX_SESSION_ID_LENGTH:
        raise argparse.ArgumentTypeError(
            f"a session id has at most {MAX_SESSION_ID_LENGTH} characters"
        )
    return value


def _add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        default="memory",
        help='where sessions are kept: "memory" (default), "sqlite:///path.db" (relative), '
        '"sqlite:////abs/path.db" or "redis://host:port/0"',
    )


def _load(spec: str, store: str = "memory") -> Runtime | None:
    """Load the bot and start a Runtime on it; print the problem and return None if it fails."""
    try:
        runtime = Runtime(load_bot(spec), store=store)
        return runtime.start()
    except (BotLoadError, BotDefinitionError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    except ValueError as exc:  # a store URL this runtime does not know
        print(f"error: --store: {exc}", file=sys.stderr)
        return None


# -- chat -------------------------------------------------------------------------------------


def _add_chat(verbs: _SubParsers) -> None:
    chat = verbs.add_parser(
        "chat",
        help="chat with a bot in the terminal",
        description="Chat with a bot in the terminal, as one session. Type /help for commands.",
    )
    _add_bot_argument(chat)
    chat.add_argument(
        "--session",
        metavar="ID",
        type=_session_id,
        default="terminal",
        help="the session id to chat as (default: terminal)",
    )
    _add_store_argument(chat)
    chat.add_argument(
        "-v", "--verbose", action="store_true", help="log everything, down to debug level"
    )
    chat.set_defaults(handler=_run_chat)


def _run_chat(args: argparse.Namespace) -> int:
    configure_cli_logging(logging.DEBUG if args.verbose else logging.WARNING)
    runtime = _load(args.bot, args.store)
    if runtime is None:
        return EXIT_USAGE
    try:
        return TerminalChat(runtime, args.session).run()
    finally:
        runtime.stop()


# -- check-isolation --------------------------------------------------------------------------


def _count(maximum: int) -> Callable[[str], int]:
    """Return an argparse ``type`` that reads a whole number from 1 to ``maximum``."""

    def count(value: str) -> int:
        number = whole_number(value)
        if number < 1:
            raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {number}")
        if number > maximum:
            raise argparse.ArgumentTypeError(f"expected at most {maximum:,}, got {number:,}")
        return number

    return count


def _add_check_isolation(verbs: _SubParsers) -> None:
    check = verbs.add_parser(
        "check-isolation",
        help="check that no user's conversation changes because other users are active",
        description=(
            "Run each user's script alone on a fresh copy of the bot, then all users together "
            "(a deterministic simulation, then a real load), and report every user whose "
            "replies or final session data differ. Exit 0 when isolated, 1 when not."
        ),
    )
    _add_bot_argument(check)
    check.add_argument(
        "--users",
        type=_count(MAX_USERS),
        default=4,
        metavar="N",
        help=f"users, at most {MAX_USERS:,} (default: 4)",
    )
    check.add_argument(
        "--messages",
        type=_count(MAX_MESSAGES),
        default=6,
        metavar="M",
        help=f"steps per user, at most {MAX_MESSAGES:,}; N x M at most {MAX_EVENTS:,} (default: 6)",
    )
    check.add_argument(
        "--seed",
        type=whole_number,
        metavar="S",
        help="seed of the scripts, the interleaving and the jitter (default: random, printed)",
    )
    check.add_argument(
        "--mode",
        choices=("load", "simulate", "both"),
        default="both",
        help="simulate (interleavings chosen by the seed, inside turns too: replays exactly), "
        "load (real threads), or both (default)",
    )
    check.add_argument(
        "--schedules",
        type=_count(MAX_SCHEDULES),
        default=DEFAULT_SCHEDULES,
        metavar="K",
        help=f"interleavings the simulation tries, stopping at the first that diverges "
        f"(default: {DEFAULT_SCHEDULES})",
    )
    check.add_argument(
        "--schedule",
        type=whole_number,
        metavar="I",
        help="run only the simulation's interleaving I (replay commands use it)",
    )
    check.add_argument(
        "--no-shrink",
        action="store_true",
        help="on a divergence, do not shrink it to the fewest users, steps and switches",
    )
    check.add_argument(
        "--concurrency",
        type=_count(MAX_CONCURRENCY),
        default=8,
        metavar="K",
        help=f"sender threads in the load mode, at most {MAX_CONCURRENCY} (default: 8)",
    )
    check.add_argument(
        "--scripts",
        metavar="FILE",
        help='JSON scripts {"user": ["message", ...]} instead of generated ones (same caps)',
    )
    check.add_argument(
        "--ignore-key",
        action="append",
        default=[],
        metavar="KEY",
        help="a session data key the bot shares on purpose (repeatable)",
    )
    check.add_argument(
        "-v", "--verbose", action="store_true", help="show the bot's log (errors in bodies)"
    )
    check.set_defaults(
        handler=_run_check_isolation, check_arguments=lambda args: _check_size(check, args)
    )


def _check_size(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse generated scripts of more than MAX_EVENTS steps in all (exits with 2)."""
    events = args.users * args.messages
    if args.scripts is None and events > MAX_EVENTS:
        parser.error(
            f"--users {args.users:,} x --messages {args.messages:,} is {events:,} steps; "
            f"at most {MAX_EVENTS:,} in one run"
        )


def _scripts_too_big(scripts: Mapping[str, Sequence[object]]) -> str | None:
    """Return why scripts read from a file exceed check-isolation's caps, or None."""
    if len(scripts) > MAX_USERS:
        return f"{len(scripts):,} users; at most {MAX_USERS:,}"
    user, longest = max(scripts.items(), key=lambda item: len(item[1]))
    if len(longest) > MAX_MESSAGES:
        return f"user {user[:40]!r} has {len(longest):,} steps; at most {MAX_MESSAGES:,}"
    events = sum(len(script) for script in scripts.values())
    if events > MAX_EVENTS:
        return f"{events:,} steps in all; at most {MAX_EVENTS:,}"
    return None


def _run_check_isolation(args: argparse.Namespace) -> int:
    from runtime.testing import check_isolation, load_scripts  # noqa: PLC0415 (only this verb)
    from runtime.testing._progress import progress_bars  # noqa: PLC0415

    # Bodies that fail because of a race are findings, reported below; their log lines and
    # tracebacks would bury the report.
    configure_cli_logging(logging.DEBUG if args.verbose else logging.CRITICAL)
    scripts = None
    if args.scripts is not None:
        try:
            scripts = load_scripts(args.scripts)
        except (OSError, ValueError) as exc:
            print(f"error: cannot read the scripts: {exc}", file=sys.stderr)
            return EXIT_USAGE
        too_big = _scripts_too_big(scripts)
        if too_big is not None:
            print(f"error: {args.scripts} is too big to check: {too_big}", file=sys.stderr)
            return EXIT_USAGE
    seed = random.randrange(1_000_000) if args.seed is None else args.seed
    try:
        with progress_bars(sys.stderr) as progress:
            report = check_isolation(
                args.bot,
                scripts=scripts,
                users=args.users,
                messages=args.messages,
                seed=seed,
                mode=args.mode,
                concurrency=args.concurrency,
                schedules=args.schedules,
                schedule=args.schedule,
                log_level=logging.DEBUG if args.verbose else logging.CRITICAL,
                ignore_keys=args.ignore_key,
                scripts_file=args.scripts,
                progress=progress,
            )
    except (BotLoadError, BotDefinitionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenExecutor as exc:  # a run's process died: os._exit() or a crash in the bot
        print(
            f"error: a run of the bot ended its own process ({type(exc).__name__}: {exc}); "
            "a body calling os._exit() or crashing the interpreter cannot be checked",
            file=sys.stderr,
        )
        return EXIT_USAGE
    _print_text(report.format())
    if not report.isolated and not args.no_shrink:
        _print_shrunk(report, tuple(args.ignore_key), args.verbose)
    return EXIT_OK if report.isolated else EXIT_NOT_ISOLATED


def _print_shrunk(report: IsolationReport, ignore_keys: tuple[str, ...], verbose: bool) -> None:
    """Shrink the simulation's divergence and print the smallest case with its replay."""
    from runtime.testing import shrink  # noqa: PLC0415 (only this verb)
    from runtime.testing._progress import progress_bars  # noqa: PLC0415

    with progress_bars(sys.stderr) as progress:

        def tried(checks: int) -> None:
            if progress is not None:
                progress("shrink", checks, checks + 1)

        level = logging.DEBUG if verbose else logging.CRITICAL
        shrunk = shrink(report, ignore_keys=ignore_keys, progress=tried, log_level=level)
    if shrunk is not None:
        _print_text("\n" + shrunk.format())


def _print_text(text: str) -> None:
    """Print ``text`` to stdout, escaping what its encoding cannot write.

    An argument made of bytes that are not UTF-8 (a file name, an ``--ignore-key``) reaches
    Python as lone surrogates, which a strict stdout refuses; the report quotes arguments.
    """
    try:
        print(text)
    except UnicodeEncodeError:
        encoding = sys.stdout.encoding or "utf-8"
        print(text.encode(encoding, "backslashreplace").decode(encoding))


_VERBS: tuple[Callable[[_SubParsers], None], ...] = (
    _add_chat,
    _add_check_isolation,
    add_serve,
    add_loadtest,
)
