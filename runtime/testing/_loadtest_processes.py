"""Running the load test's workers: here on one event loop, or in worker processes.

Worker processes are spawned (not forked: the caller may run threads) and talk to this one
over pipes: "connected" after their ramp, the go, progress now and then, "finished", then
their results. Times from different processes are compared on ``time.perf_counter()``,
which is the system-wide monotonic clock on Linux and macOS.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from runtime.testing._load import ProgressCallback
from runtime.testing._loadtest_worker import Worker, WorkerResult, WorkerTask

__all__ = ["PhaseHook", "run_tasks"]

_PROGRESS_EVERY = 0.1  # seconds between two progress reports
_SPARE_FILES = 64  # descriptors a process needs besides its sockets

PhaseHook = Callable[[str], None]
"""Called with ``"messages"`` when the message phase starts and ``"done"`` when it is over."""


def run_tasks(
    tasks: list[WorkerTask], progress: ProgressCallback | None, on_phase: PhaseHook | None
) -> list[WorkerResult]:
    """Run ``tasks``: one here, several in as many worker processes; return their results.

    Raises:
        ValueError: this process may not open enough sockets for its clients.
        RuntimeError: a worker process died.
    """
    # Worker processes inherit the limit raised here.
    _raise_file_limit(max(len(task.numbers) for task in tasks) + _SPARE_FILES)
    if len(tasks) == 1:
        return [_run_here(tasks[0], progress, on_phase)]
    return _run_in_processes(tasks, progress, on_phase)


def _raise_file_limit(needed: int) -> None:
    """Raise this process's open-file limit to ``needed`` if the hard limit allows."""
    try:
        import resource  # noqa: PLC0415 (Unix only)
    except ImportError:  # pragma: no cover - Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise ValueError(
            f"{needed - _SPARE_FILES:,} connections in one process need {needed:,} open files; "
            f"the limit is {hard:,}: use more --processes or raise `ulimit -n`"
        )


def _new_loop() -> asyncio.AbstractEventLoop:
    """Return uvloop's event loop if it is installed (less CPU per frame), else asyncio's."""
    try:
        import uvloop  # noqa: PLC0415 (optional: comes with uvicorn[standard])
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


@contextlib.contextmanager
def _event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = _new_loop()
    try:
        yield loop
    finally:
        loop.close()


def _run_here(
    task: WorkerTask, progress: ProgressCallback | None, on_phase: PhaseHook | None
) -> WorkerResult:
    clients = len(task.numbers)
    total = sum(len(bodies) for bodies in task.bodies)

    async def run() -> WorkerResult:
        worker = Worker(task)
        if progress is not None:
            progress("connecting", 0, clients)
        await worker.connect()
        if progress is not None:
            progress("connecting", clients, clients)
        if on_phase is not None:
            on_phase("messages")
        if progress is None:
            await worker.run_messages()
        else:

            def answered() -> None:
                progress("messages answered", worker.answered, total)

            with _every(_PROGRESS_EVERY, answered):
                await worker.run_messages()
            answered()
        if on_phase is not None:
            on_phase("done")
        await worker.close()
        return worker.result()

    with _event_loop() as loop:
        return loop.run_until_complete(run())


@contextlib.contextmanager
def _every(interval: float, callback: Callable[[], object]) -> Iterator[None]:
    """Call ``callback`` every ``interval`` seconds on the running loop during the block."""
    loop = asyncio.get_running_loop()
    handle: asyncio.TimerHandle | None = None

    def tick() -> None:
        nonlocal handle
        callback()
        handle = loop.call_later(interval, tick)

    handle = loop.call_later(interval, tick)
    try:
        yield
    finally:
        handle.cancel()


# -- worker processes -------------------------------------------------------------------------


def _worker_process(task: WorkerTask, pipe: Connection) -> None:
    """A worker process's main: connect, report, wait for the go, run, send the results."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        worker = Worker(task)
        pipe.send(("connected", await worker.connect()))
        go: asyncio.Future[None] = loop.create_future()

        def read_go() -> None:
            pipe.recv()
            if not go.done():
                go.set_result(None)

        loop.add_reader(pipe.fileno(), read_go)
        await go
        loop.remove_reader(pipe.fileno())

        with _every(_PROGRESS_EVERY, lambda: pipe.send(("progress", worker.answered))):
            await worker.run_messages()
        pipe.send(("progress", worker.answered))
        pipe.send(("finished", None))
        await worker.close()
        pipe.send(("result", worker.result()))

    with _event_loop() as loop:
        loop.run_until_complete(run())


def _run_in_processes(
    tasks: list[WorkerTask], progress: ProgressCallback | None, on_phase: PhaseHook | None
) -> list[WorkerResult]:
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    children = []
    for task in tasks:
        mine, theirs = context.Pipe()
        child = context.Process(
            target=_worker_process, args=(task, theirs), name="loadtest-worker", daemon=True
        )
        child.start()
        theirs.close()
        pipes.append(mine)
        children.append(child)
    clients = sum(len(task.numbers) for task in tasks)
    total = sum(len(bodies) for task in tasks for bodies in task.bodies)
    try:
        if progress is not None:
            progress("connecting", 0, clients)
        _gather(pipes, "connected", children)
        if progress is not None:
            progress("connecting", clients, clients)
        if on_phase is not None:
            on_phase("messages")
        for pipe in pipes:
            pipe.send("go")
        answered = [0] * len(pipes)

        def counted(index: int, value: Any) -> None:
            answered[index] = value
            if progress is not None:
                progress("messages answered", sum(answered), total)

        _gather(pipes, "finished", children, counted)
        if on_phase is not None:
            on_phase("done")
        results: list[WorkerResult] = _gather(pipes, "result", children, counted)
    except BaseException:
        for child in children:  # interrupted, or a worker died: the others have no use
            child.kill()
        raise
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()
                child.join()
        for pipe in pipes:
            pipe.close()
    return results


def _gather(
    pipes: list[Connection],
    wanted: str,
    children: list[Any],
    on_progress: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Wait for one ``wanted`` message from every worker; pass progress messages on."""
    got: dict[int, Any] = {}
    while len(got) < len(pipes):
        ready = wait([pipe for index, pipe in enumerate(pipes) if index not in got], 1.0)
        for pipe in ready:
            assert isinstance(pipe, Connection)
            index = pipes.index(pipe)
            try:
                kind, value = pipe.recv()
            except EOFError:
                code = children[index].exitcode
                raise RuntimeError(
                    f"a loadtest worker process died (exit code {code}); see its error above"
                ) from None
            if kind == wanted:
                got[index] = value
            elif kind == "progress" and on_progress is not None:
                on_progress(index, value)
    return [got[index] for index in range(len(pipes))]
