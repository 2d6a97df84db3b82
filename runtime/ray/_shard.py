"""The shard: a Ray actor hosting an ordinary Runtime for the sessions that hash to it.

:class:`ShardHost` is a plain class; the gateway makes it a Ray actor (an async one: its
methods are coroutines, so many batches are in it at once). Each batch's items are put in
session order (:class:`~runtime.ray._order.Reorder`) and handed to the shard's Runtime, whose
pooled session actors run them as in a single process; the call returns the results of the
batch once every item is settled, or, past ``straggle`` seconds, the settled ones and a token
the gateway passes to :meth:`ShardHost.collect` for the rest, so that one slow body does not
hold back the replies of the events batched with it.

Nothing here survives the process: a restarted shard starts with an empty Runtime and loads
sessions from the store as their events come (a durable store has every committed turn).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import inspect
import itertools
import os
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from runtime._loader import load_bot
from runtime.backends import RuntimeConfig, ThreadBackend
from runtime.errors import RuntimeStoppedError, ShardUnavailableError
from runtime.event import Event
from runtime.ray._fencing import StoreSpec, open_shard_store
from runtime.ray._order import Reorder
from runtime.ray._wire import (
    EVENT,
    FORGET,
    KINDS,
    PASSIVATE,
    Item,
    Result,
    encode_error,
    loads_bot,
    unpack_event,
)
from runtime.runtime import Runtime
from runtime.session import SessionSnapshot
from runtime.stats import RuntimeStats

__all__ = ["ShardHost", "ShardInfo", "ShardSetup"]

_new_tuple = tuple.__new__

Entry = tuple[Item, "_Batch"]


@dataclass(frozen=True)
class ShardSetup:
    """What every shard of one backend needs to start (sent once, at actor creation)."""

    name: str  # the backend's name: fences are "{name}:{index}"
    bot_blob: bytes | None  # the pickled bot (dumps_bot), or None with bot_path
    bot_path: str | None  # a BOT spec load_bot reads in the shard
    store: StoreSpec
    config: RuntimeConfig
    workers: int
    max_workers: int
    straggle: float  # seconds a batch call waits before returning what is settled
    gap_timeout: float  # seconds an item waits for an earlier one before it fails


@dataclass(frozen=True)
class ShardInfo:
    """Where one shard incarnation runs (``RayBackend.shard_info()``)."""

    index: int
    generation: int  # from the store (0 with a memory store: nothing to fence)
    node_id: str
    pid: int
    held: int  # items waiting for an earlier item of their session


class _Batch:
    """The results of one batch call, filled in from the Runtime's worker threads."""

    __slots__ = ("expected", "loop", "results", "returned", "woken")

    def __init__(self, expected: int, loop: asyncio.AbstractEventLoop) -> None:
        self.expected = expected
        self.loop = loop
        self.results: list[Result] = []  # appended from any thread (list.append is atomic)
        self.returned = 0  # results already sent back to the gateway
        self.woken: asyncio.Event = asyncio.Event()

    def add(self, result: Result) -> None:
        self.results.append(result)
        if len(self.results) >= self.expected:
            self.loop.call_soon_threadsafe(self.woken.set)  # set twice at worst: harmless

    def settled(self, ref: int, op: int, future: concurrent.futures.Future[Any]) -> None:
        exc = future.exception()
        if exc is not None:
            self.add((ref, False, encode_error(exc)))
            return
        value = future.result()
        if op == EVENT:
            value = (value, getattr(future, "_typed", None))  # rich replies (runtime._future)
        self.add((ref, True, value))

    def settled_event(self, ref: int, future: concurrent.futures.Future[Any]) -> None:
        """Add an event's result: :meth:`settled` for the most common item, inlined."""
        try:
            texts = future.result()
        except BaseException as exc:  # the turn's own failure, done already: nothing waits
            self.add((ref, False, encode_error(exc)))
            return
        results = self.results
        results.append((ref, True, (texts, getattr(future, "_typed", None))))  # runtime._future
        if len(results) >= self.expected:
            self.loop.call_soon_threadsafe(self.woken.set)

    @property
    def complete(self) -> bool:
        return len(self.results) >= self.expected


class ShardHost:
    """One shard: a Runtime for the sessions of ``index``, fed by batches from the gateway.

    Args:
        index: the shard's number (sessions hash to it).
        setup: the backend's settings.
    """

    def __init__(self, index: int, setup: ShardSetup) -> None:
        self.index = index
        self._setup = setup
        bot = load_bot(setup.bot_path) if setup.bot_path else loads_bot(setup.bot_blob or b"")
        self._store, self.generation = open_shard_store(setup.store, f"{setup.name}:{index}")
        accepted = inspect.signature(Runtime).parameters
        options = {
            key: value for key, value in dataclasses.asdict(setup.config).items() if key in accepted
        }
        self._runtime = Runtime(
            bot,
            store=self._store,
            backend=ThreadBackend(workers=setup.workers, max_workers=setup.max_workers),
            **options,
        )
        self._runtime.start()
        # The gateway's Runtime checked every event (check_event) before sending it, and it
        # crosses as checked values (runtime.ray._wire): the backend takes it directly, one
        # check and two calls fewer per event. The backend refuses it once stopped.
        self._submit = self._runtime.backend.submit
        # Names this incarnation in every answer (a memory store's generation is always 0).
        self.incarnation = (self.generation, os.getpid())
        self._order: Reorder[Entry] = Reorder()
        self._control = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix=f"shard-{index}-control"
        )
        self._leftovers: dict[int, _Batch] = {}
        self._tokens = itertools.count(1)
        self._gaps: asyncio.Task[None] | None = None
        self._stopped = False
        self._stop_lock = threading.Lock()

    # -- batches ----------------------------------------------------------------------------

    async def handle(self, batch: list[Item]) -> tuple[tuple[int, int], list[Result], int | None]:
        """Run a batch; return ``(incarnation, results, token)`` (see the module docstring)."""
        loop = asyncio.get_running_loop()
        results = _Batch(len(batch), loop)
        if self._stopped:
            stopped = encode_error(RuntimeStoppedError("the shard is stopping"))
            for item in batch:
                results.add((item[0], False, stopped))
        else:
            now = time.monotonic()
            order = self._order
            in_line = order.in_line
            submit = self._submit
            settled = results.settled_event
            for item in batch:
                ref, op, session_id, seq, floor, payload = item
                if not in_line(session_id, seq, floor):
                    for ready, owner in order.offer(session_id, seq, floor, (item, results), now):
                        self._start(ready, owner)
                elif op == EVENT:  # the common item, next in its session's line: _start inlined
                    code, data, message_id = payload
                    try:
                        future = submit(
                            _new_tuple(Event, (session_id, KINDS[code], data, message_id))
                        )
                    except Exception as exc:  # refused at once (the runtime stopped, a bound)
                        results.add((ref, False, encode_error(exc)))
                    else:
                        future.add_done_callback(partial(settled, ref))
                else:
                    self._start(item, results)
            if self._gaps is None:
                self._gaps = loop.create_task(self._watch_gaps())
        return await self._answer(results)

    async def collect(self, token: int) -> tuple[tuple[int, int], list[Result], int | None]:
        """Return more results of a batch whose call returned before all were settled."""
        results = self._leftovers.pop(token, None)
        if results is None:
            return self.incarnation, [], None
        return await self._answer(results)

    async def _answer(self, results: _Batch) -> tuple[tuple[int, int], list[Result], int | None]:
        if not results.complete:
            with contextlib.suppress(TimeoutError):  # past it, what is settled goes back
                await asyncio.wait_for(results.woken.wait(), self._setup.straggle)
        done = len(results.results)
        sent = results.results[results.returned : done]
        results.returned = done
        if done >= results.expected:
            return self.incarnation, sent, None
        token = next(self._tokens)
        self._leftovers[token] = results
        return self.incarnation, sent, token

    def _start(self, item: Item, results: _Batch) -> None:
        ref, op, session_id, _, _, payload = item
        runtime = self._runtime
        try:
            if op == EVENT:
                future: concurrent.futures.Future[Any] = self._submit(
                    unpack_event(session_id, payload)
                )
            elif op == PASSIVATE:
                future = runtime.passivate(session_id)
            elif op == FORGET:
                future = runtime.forget(session_id)
            else:  # SNAPSHOT; its payload is the timeout
                future = self._control.submit(runtime.snapshot, session_id, timeout=payload)
        except Exception as exc:  # refused at once (the runtime stopped, a bound)
            results.add((ref, False, encode_error(exc)))
            return
        future.add_done_callback(partial(results.settled, ref, op))

    async def _watch_gaps(self) -> None:
        gap = self._setup.gap_timeout
        while not self._stopped:
            await asyncio.sleep(gap / 4)
            for item, results in self._order.expire(time.monotonic(), gap):
                error = ShardUnavailableError(
                    f"an earlier event of session {item[2]!r} did not reach shard "
                    f"{self.index} within {gap:g} s, so this one was not run (its outcome "
                    "is settled: nothing of it was committed)",
                    shard=self.index,
                )
                results.add((item[0], False, encode_error(error)))

    # -- inspection and life ----------------------------------------------------------------

    async def info(self) -> ShardInfo:
        """Return where this incarnation runs."""
        import ray  # noqa: PLC0415  # only ever called inside a Ray worker

        node_id = ray.get_runtime_context().get_node_id()
        return ShardInfo(self.index, self.generation, node_id, os.getpid(), self._order.held)

    async def stats(self) -> RuntimeStats:
        """Return the shard Runtime's counters."""
        return self._runtime.stats()

    async def session_ids(self) -> list[str]:
        """Return the ids of the shard's sessions, live or stored (store reads off the loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._control, self._runtime.session_ids)

    async def stop(self, timeout: float) -> bool:
        """Drain for at most ``timeout`` s, fail what is left, close the store.

        Returns:
            True if every accepted event was handled.
        """
        with self._stop_lock:
            if self._stopped:
                return True
            self._stopped = True
        stopped = encode_error(RuntimeStoppedError("the shard stopped before this was run"))
        for item, results in self._order.drain():
            results.add((item[0], False, stopped))
        loop = asyncio.get_running_loop()
        try:
            drained: bool = await loop.run_in_executor(self._control, self._runtime.stop, timeout)
        finally:
            self._control.shutdown(wait=False)
            self._store.close()
        return drained


def snapshot_or_none(value: object) -> SessionSnapshot | None:
    """Check what a SNAPSHOT item returned."""
    assert value is None or isinstance(value, SessionSnapshot)
    return value
