"""``loadtest``: many WebSocket clients against a running gateway, and what they saw.

:func:`run_loadtest` drives ``clients`` concurrent ``/ws`` clients (``_loadtest_client``) at
a server that runs elsewhere, in this process or split over worker processes: connect, all
staggered over a short ramp; then, at one go, each client sends its messages in a closed loop.
It returns a :class:`LoadTestReport`: what was sent, answered, refused, lost and crossed, the
throughput of the message phase and the latency percentiles. With a bot, each client's exact
sequence then runs alone on a fresh in-process Runtime of that bot, and any client whose
replies differ is reported (``_loadtest_isolation``).

The clients run in this process or in worker processes (``_loadtest_processes``), each a
``_loadtest_worker`` with its share of the clients (``_loadtest_client``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import orjson

from runtime.testing._load import ProgressCallback
from runtime.testing._loadtest_processes import PhaseHook, run_tasks
from runtime.testing._loadtest_report import LoadTestReport, merge_results
from runtime.testing._loadtest_worker import WorkerTask
from runtime.testing._scripts import Step, generate_scripts, user_ids

__all__ = [
    "CYCLE",
    "DEFAULT_TIMEOUT",
    "PhaseHook",
    "default_ramp",
    "probe",
    "run_loadtest",
    "step_bodies",
    "ws_url",
]

CYCLE: Final = ("hi", "great", "hello", "bad")
"""What clients say without a bot: the greetings bot's conversation, over and over."""

DEFAULT_TIMEOUT: Final = 30.0
_RAMP_PER_CLIENT = 0.001  # seconds between two connections by default: 1,000 in 1 s
_MAX_DEFAULT_RAMP = 5.0


def ws_url(url: str) -> str:
    """Return the ``/ws`` endpoint of a gateway given as ``http(s)://``, ``ws(s)://`` or bare.

    ``http://host:port``, ``ws://host:port/``, ``ws://host:port/ws`` and ``host:port`` all give
    ``ws://host:port/ws``; ``https`` gives ``wss``; a path prefix is kept (``/chat/ws``).

    Raises:
        ValueError: the URL has another scheme, no host, a bad port, a query or a fragment.
    """
    text = url.strip()
    if "://" not in text:
        text = "ws://" + text
    parts = urlsplit(text)
    schemes = {"http": "ws", "ws": "ws", "https": "wss", "wss": "wss"}
    scheme = schemes.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(
            f"{url!r}: expected an http://, https://, ws:// or wss:// URL of the server"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"{url!r}: no host (expected e.g. http://127.0.0.1:8000)")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: give the server's address, without ? or #")
    del port  # checked only
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def default_ramp(clients: int) -> float:
    """Return the default ramp: 1 ms per client, at most 5 s."""
    return min(_MAX_DEFAULT_RAMP, clients * _RAMP_PER_CLIENT)


def step_bodies(steps: Sequence[Step]) -> tuple[bytes, ...]:
    """Return each step's ``/ws`` frame without its id, serialised."""
    bodies = []
    for step in steps:
        frame: dict[str, Any]
        if step.kind == "message":
            frame = {"type": "message", "text": step.text}
        elif step.kind == "file":
            assert step.file is not None
            file = {"name": step.file.name, "type": step.file.type, "base64": step.file.base64}
            frame = {"type": "file", "file": file}
        else:
            frame = {"type": "event", "name": step.text, "payload": dict(step.payload or {})}
        bodies.append(orjson.dumps(frame))
    return tuple(bodies)


def _cycle_bodies(messages: int) -> tuple[bytes, ...]:
    bodies = step_bodies([Step.message(text) for text in CYCLE])
    return tuple(bodies[step % len(bodies)] for step in range(messages))


async def _probe(url: str, timeout: float) -> None:
    from websockets.asyncio.client import connect  # noqa: PLC0415 (only here)

    async with asyncio.timeout(timeout), connect(url, compression=None, open_timeout=None):
        pass  # opened and closed: no resume sent, so no session made


def probe(url: str, timeout: float = 10.0) -> None:
    """Open one WebSocket to ``url`` and close it, to fail early on a server that is not there.

    Raises:
        ConnectionError: nothing answers there, or not a WebSocket endpoint (the message says
            what happened and what to check).
    """
    try:
        asyncio.run(_probe(url, timeout))
    except TimeoutError:
        raise ConnectionError(
            f"cannot reach {url}: no WebSocket handshake in {timeout:g} s"
        ) from None
    except OSError as exc:
        raise ConnectionError(
            f"cannot reach {url}: {exc.strerror or exc}; is the server running "
            "(python -m runtime serve BOT) at that address?"
        ) from None
    except Exception as exc:  # websockets' InvalidHandshake and InvalidURI: not a gateway
        raise ConnectionError(f"{url} is not a runtime gateway's /ws endpoint: {exc}") from None


def run_loadtest(
    url: str,
    *,
    clients: int,
    messages: int,
    bot: str | None = None,
    seed: int = 0,
    processes: int = 1,
    ramp: float | None = None,
    rate_limit: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressCallback | None = None,
    on_phase: PhaseHook | None = None,
) -> LoadTestReport:
    """Run ``clients`` WebSocket clients against the gateway at ``url`` (blocks until done).

    Args:
        url: the server (``http://host:port``, ``ws://host:port``, with or without ``/ws``).
        clients: concurrent connections, one session each.
        messages: messages each client sends, one after the other.
        bot: the bot the server serves (path or module): the messages are generated from its
            intents, seeded by ``seed``, and each client's replies are checked against the
            same sequence run alone. None: every client cycles through :data:`CYCLE`.
        seed: seeds the generated messages.
        processes: client processes to spread the clients over (1: this one).
        ramp: seconds over which connections start (None: :func:`default_ramp`).
        rate_limit: messages per second all clients together may send (None: no cap).
        timeout: seconds to wait for a connection or any one reply before giving up on it.
        progress: ``progress(phase, done, total)``; the phases (named to be read on a progress
            bar) are "connecting", "messages answered" and, with a bot, "each client alone".
        on_phase: told when the message phase starts and ends (to sample the server).

    Returns:
        The report: ``report.ok`` is the verdict, ``report.format()`` the table.

    Raises:
        ValueError: an argument is out of range or the URL is not a server's.
        ConnectionError: nothing answers WebSockets at ``url``.
        BotLoadError: ``bot`` cannot be loaded.
    """
    _check_counts(
        clients=clients,
        messages=messages,
        processes=processes,
        timeout=timeout,
        ramp=ramp,
        rate_limit=rate_limit,
    )
    endpoint = ws_url(url)
    scripts: dict[str, tuple[Step, ...]] | None = None
    if bot is None:
        shared = _cycle_bodies(messages)
        bodies: list[tuple[bytes, ...]] = [shared] * clients
    else:
        from runtime.testing._oracle import fresh_bot  # noqa: PLC0415 (only with a bot)

        scripts = generate_scripts(fresh_bot(bot), users=clients, messages=messages, seed=seed)
        bodies = [step_bodies(scripts[user]) for user in user_ids(clients)]
    probe(endpoint, timeout)
    spread = default_ramp(clients) if ramp is None else ramp
    workers = min(processes, clients)
    tasks = [
        WorkerTask(
            url=endpoint,
            numbers=tuple(range(first, clients, workers)),
            bodies=tuple(bodies[first::workers]),
            clients_in_run=clients,
            ramp=spread,
            timeout=timeout,
            rate=None if rate_limit is None else rate_limit / workers,
            keep_replies=bot is not None,
        )
        for first in range(workers)
    ]
    began = time.perf_counter()
    results = run_tasks(tasks, progress, on_phase)
    report = merge_results(
        results,
        url=endpoint,
        clients=clients,
        messages=messages,
        processes=len(tasks),
        rate_limit=rate_limit,
        bot=bot,
        seed=seed,
        elapsed=time.perf_counter() - began,
    )
    if bot is not None and scripts is not None:
        from runtime.testing._loadtest_isolation import check_clients  # noqa: PLC0415

        report = check_clients(report, bot, scripts, results, progress=progress)
    return report


def _check_counts(
    *,
    clients: int,
    messages: int,
    processes: int,
    timeout: float,
    ramp: float | None,
    rate_limit: float | None,
) -> None:
    for name, value in (("clients", clients), ("messages", messages), ("processes", processes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number, at least 1, got {value!r}")
    if not 0 < timeout < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if ramp is not None and not 0 <= ramp < float("inf"):
        raise ValueError(f"ramp must be a number of seconds, 0 or more, got {ramp!r}")
    if rate_limit is not None and not 0 < rate_limit < float("inf"):
        raise ValueError(f"rate_limit must be a positive number of messages/s, got {rate_limit!r}")
