"""The load test's isolation check: each client's sequence alone, compared with what it got.

Every client that settled all its messages is replayed alone: a fresh copy of the bot module
(``fresh_bot``: fresh globals) in a fresh in-process Runtime with a memory store, opened as
the gateway opens a session, under the same session id, then sent the client's exact steps
one after the other. Replies
are compared typed: a text reply by its text, any other by its kind, text and content (the
``html`` field is derived from the content, so it is left out). The comparison itself is the
isolation oracle's (``compare``); step 0 of a transcript is the session's opening.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from runtime._future import ReplyFuture
from runtime.event import Event, TurnKind
from runtime.replies import Reply, typed
from runtime.runtime import Runtime
from runtime.testing._load import ProgressCallback
from runtime.testing._loadtest_client import ClientResult
from runtime.testing._loadtest_report import IsolationCheck, LoadTestReport
from runtime.testing._loadtest_worker import WorkerResult
from runtime.testing._oracle import compare, fresh_bot
from runtime.testing._scripts import Step, user_ids
from runtime.testing._simulation import step_event
from runtime.testing._transcript import StepResult, Transcript

__all__ = ["check_clients", "reply_key", "wire_reply_key"]

_SOLO_SESSION = "loadtest-alone"


@dataclasses.dataclass(frozen=True, repr=False)
class _Opening(Step):
    """Step 0 of a compared transcript: the session's opening (the gateway sends it)."""

    def describe(self) -> str:
        return "(the session's opening)"


_OPENING = _Opening("event", "open", payload={})


def reply_key(reply: Reply) -> str:
    """Return a typed reply as the comparison sees it: the text, or kind, text and content."""
    if reply.kind == "text":
        return str(reply)
    return _keyed(reply.kind, str(reply), reply.content)


def wire_reply_key(reply: Mapping[str, Any]) -> str:
    """Return a reply of a ``replies`` frame as :func:`reply_key` sees its ``Reply``."""
    kind = reply.get("kind")
    if kind == "text":
        return str(reply.get("text"))
    return _keyed(str(kind), str(reply.get("text")), reply.get("content"))


def _keyed(kind: str, text: str, content: Any) -> str:
    data = {"kind": kind, "text": text, "content": content}
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def _frame_result(frames: Sequence[bytes]) -> StepResult:
    """Return one step's result from its frames (``replies``; ``error``: no replies)."""
    replies: list[str] = []
    error = None
    for data in frames:
        frame = orjson.loads(data)
        if frame.get("type") == "error":
            error = error or str(frame.get("code"))
        else:
            replies += [wire_reply_key(reply) for reply in frame.get("replies", ())]
    return StepResult(tuple(replies), error=error)


def _together(client: ClientResult) -> Transcript:
    transcript = Transcript(f"client-{client.number}")
    transcript.steps.append(_frame_result(client.opening))
    for data, error in zip(client.replies, client.step_errors, strict=True):
        transcript.steps.append(StepResult((), error=error) if error else _frame_result([data]))
    return transcript


def _alone(
    spec: str, name: str, session_id: str, steps: Sequence[Step], timeout: float
) -> Transcript:
    from runtime.platforms.web._gate import error_code  # noqa: PLC0415 (the gateway's codes)

    transcript = Transcript(name)
    events = [Event(session_id, TurnKind.OPEN), *(step_event(session_id, s) for s in steps)]
    with Runtime(fresh_bot(spec), store="memory") as rt:
        for event in events:
            future = rt.submit(event)
            try:
                replies = (
                    future.typed_result(timeout)
                    if isinstance(future, ReplyFuture)
                    else typed(future.result(timeout))
                )
            except TimeoutError:
                transcript.steps.append(StepResult((), error=f"no reply within {timeout:g} s"))
            except Exception as exc:
                transcript.steps.append(StepResult((), error=error_code(exc)))
            else:
                transcript.steps.append(StepResult(tuple(reply_key(r) for r in replies)))
    return transcript


def check_clients(
    report: LoadTestReport,
    spec: str,
    scripts: Mapping[str, Sequence[Step]],
    results: Sequence[WorkerResult],
    *,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
) -> LoadTestReport:
    """Replay each complete client alone and add the comparison to ``report``.

    Args:
        report: the load test's report.
        spec: the bot (path or module name) the server serves.
        scripts: each generated user's steps (``user-N`` is client N).
        results: the workers' results, replies kept.
        progress: told ``("each client alone", done, total)`` as the solo runs advance.
        timeout: seconds to wait for any one solo reply.

    Returns:
        ``report`` with its ``isolation`` filled in.
    """
    began = time.perf_counter()
    users = user_ids(report.clients)
    clients = sorted(
        (client for result in results for client in result.clients), key=lambda c: c.number
    )
    complete = [
        c
        for c in clients
        if c.connected and c.failure is None and len(c.replies) == report.messages
    ]
    together: dict[str, Transcript] = {}
    alone: dict[str, Transcript] = {}
    steps: dict[str, tuple[Step, ...]] = {}
    for done, client in enumerate(complete, start=1):
        name = f"client-{client.number}"
        script = tuple(scripts[users[client.number]])
        steps[name] = (_OPENING, *script)
        together[name] = _together(client)
        session_id = client.session_id or _SOLO_SESSION
        alone[name] = _alone(spec, name, session_id, script, timeout)
        if progress is not None:
            progress("each client alone", done, len(complete))
    found = compare(alone, together, steps, mode="load", replay=report.command())
    check = IsolationCheck(
        checked=len(complete),
        skipped=report.clients - len(complete),
        divergences=tuple(found),
        seconds=time.perf_counter() - began,
    )
    return dataclasses.replace(report, isolation=check)
