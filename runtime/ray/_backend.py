"""RayBackend: the Runtime's sessions on K shard actors of a Ray cluster, fed in batches.

The Runtime in the driver (or in ``serve``) is the gateway: each event goes to the shard its
session hashes to (blake2b of the ``session_id``, modulo K: stable across processes and runs,
unlike ``hash()``), through that shard's :class:`~runtime.ray._batcher.ShardLink`. Every shard
(:class:`~runtime.ray._shard.ShardHost`) hosts an ordinary Runtime with pooled session actors
and opens the Runtime's store in its own process: Redis for a cluster, SQLite or memory on
one machine. See the README's "Ray" section for the order and failure semantics.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runtime._checks import check_positive_int, check_seconds
from runtime._future import ReplyFuture
from runtime.errors import OverloadedError, RuntimeStoppedError, describe_exception
from runtime.log import get_logger
from runtime.ray._batcher import Entry, ShardLink
from runtime.ray._fencing import spec_for
from runtime.ray._shard import ShardHost, ShardInfo, ShardSetup, snapshot_or_none
from runtime.ray._wire import EVENT, FORGET, KIND_CODES, PASSIVATE, SNAPSHOT, dumps_bot
from runtime.stats import RuntimeStats
from runtime.subscriptions import ReplyCallback, Subscription, Subscriptions

if TYPE_CHECKING:
    from runtime.backends import RuntimeConfig
    from runtime.bot import Bot
    from runtime.event import Event
    from runtime.session import SessionSnapshot
    from runtime.store import SessionStore

__all__ = ["RayBackend"]

_INSTALL = "RayBackend needs Ray: pip install -e '.[ray]' (or 'ray==2.60.0')"

Replies = concurrent.futures.Future[list[str]]

#: ``ray.init`` options used when this backend starts Ray itself (no ``address``, not running).
DEFAULT_INIT: Mapping[str, Any] = {
    "include_dashboard": False,
    "logging_level": logging.WARNING,
}


def _import_ray() -> Any:
    try:
        import ray  # noqa: PLC0415  # the optional extra
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    return ray


class RayBackend:
    """Run a Runtime's sessions on ``shards`` Ray actors, each hosting a pooled Runtime.

    Use it as ``Runtime(bot, store=..., backend=RayBackend(shards=4))``: the Runtime's calls
    and futures are the same as in one process. Events are batched per shard (``batch_size``
    items or ``batch_window`` seconds, whichever comes first), numbered per session so each
    session's events run in the order they were sent, and sent again with the same
    ``message_id`` when a shard is lost, so none runs twice. A shard that dies is restarted by
    Ray (on another node if its node is gone) and loads its sessions back from a durable
    store; with a memory store they start over. Give the Runtime a store every shard can open:
    ``"redis://..."`` for a cluster, ``"sqlite:///..."`` or ``"memory"`` on one machine.

    Args:
        address: the Ray cluster to join (``"auto"``, ``"ray://host:10001"``, ``host:port``);
            None starts a local Ray with every core, unless this process is already connected
            to Ray (then that connection is used, and left running at stop).
        shards: how many shard actors (K); a session's shard is fixed by its id and K.
        name: this deployment's name: a new incarnation of shard *i* fences the writes of the
            older ones through the store under ``{name}:{i}``. Two backends running at once on
            one store need different names.
        bot_path: a BOT spec (``path/to/bot.py`` or ``package.module``) each shard loads
            itself; None ships the Runtime's bot object to the shards (cloudpickle).
        workers: dispatcher threads of each shard's Runtime.
        max_workers: the most dispatcher threads of each shard's Runtime.
        batch_size: the most items in one call to a shard.
        batch_window: seconds the first queued item waits for others before its batch goes.
        max_in_flight: calls outstanding per shard; more items wait in the queue.
        straggle: seconds a shard holds a batch's answer for its slowest turns; past it the
            settled replies come back and the rest follow in another call.
        resend_timeout: seconds an item is sent again while its shard is unreachable before
            its future fails with ``ShardUnavailableError``.
        gap_timeout: seconds a shard holds an item whose session's earlier item has not come
            before failing it.
        start_timeout: seconds ``start`` waits for every shard to be up.
        shard_cpus: Ray CPUs reserved per shard (a shard runs Python: one core at most).
        actor_options: more Ray actor options for the shards (say ``scheduling_strategy``).
        init_options: ``ray.init`` options when this backend starts or joins Ray.

    Raises:
        TypeError, ValueError: an argument is invalid (the message says which).
        ImportError: Ray is not installed (``pip install -e '.[ray]'``).
    """

    def __init__(
        self,
        address: str | None = None,
        shards: int = 2,
        *,
        name: str = "runtime",
        bot_path: str | None = None,
        workers: int = 2,
        max_workers: int = 128,
        batch_size: int = 1000,
        batch_window: float = 0.002,
        max_in_flight: int = 4,
        straggle: float = 0.05,
        resend_timeout: float = 60.0,
        gap_timeout: float = 120.0,
        start_timeout: float = 120.0,
        shard_cpus: float = 1.0,
        actor_options: Mapping[str, Any] | None = None,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise TypeError(f"address must be a non-empty str or None, got {address!r}")
        check_positive_int("shards", shards)
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"name must be a non-empty str without ':', got {name!r}")
        if bot_path is not None and (not isinstance(bot_path, str) or not bot_path.strip()):
            raise TypeError(f"bot_path must be a BOT spec (a str) or None, got {bot_path!r}")
        for option, value in (
            ("workers", workers),
            ("max_workers", max_workers),
            ("batch_size", batch_size),
            ("max_in_flight", max_in_flight),
        ):
            check_positive_int(option, value)
        if max_workers < workers:
            raise ValueError(f"max_workers ({max_workers}) must be >= workers ({workers})")
        check_seconds("batch_window", batch_window, allow_zero=True)
        for option, seconds in (
            ("straggle", straggle),
            ("resend_timeout", resend_timeout),
            ("gap_timeout", gap_timeout),
            ("start_timeout", start_timeout),
        ):
            check_seconds(option, seconds)
        if (
            isinstance(shard_cpus, bool)
            or not isinstance(shard_cpus, int | float)
            or not shard_cpus >= 0
        ):
            raise ValueError(f"shard_cpus must be a number >= 0, got {shard_cpus!r}")
        for option, mapping in (("actor_options", actor_options), ("init_options", init_options)):
            if mapping is not None and not isinstance(mapping, Mapping):
                raise TypeError(f"{option} must be a mapping or None, got {mapping!r}")
        _import_ray()  # fail here, with the install hint, not at start()
        self.address = address
        self.shards = shards
        self.name = name
        self.bot_path = bot_path
        self.workers = workers
        self.max_workers = max_workers
        self.batch_size = batch_size
        self.batch_window = float(batch_window)
        self.max_in_flight = max_in_flight
        self.straggle = float(straggle)
        self.resend_timeout = float(resend_timeout)
        self.gap_timeout = float(gap_timeout)
        self.start_timeout = float(start_timeout)
        self.shard_cpus = shard_cpus
        self.actor_options = dict(actor_options or {})
        self.init_options = dict(init_options or {})
        self.namespace = f"runtime-{name}-{uuid.uuid4().hex[:8]}"
        self._started = False
        self._running = False
        self._owns_ray = False
        self._links: list[ShardLink] = []
        self._unsettled: list[Mapping[int, Entry]] = []  # each link's items not settled
        self._actors: list[Any] = []
        self._route: dict[str, ShardLink] = {}
        self._subscriptions = Subscriptions()
        self._settled = threading.Condition()
        self._rejected = 0
        self._message_ids = itertools.count(1)
        self._id_prefix = f"~{uuid.uuid4().hex[:12]}:"
        self._log = get_logger(backend="ray")

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, bot: Bot, store: SessionStore, config: RuntimeConfig) -> None:
        """Join (or start) Ray, start the shards and wait until each is up.

        Raises:
            TypeError: the store is one shards cannot open (see ``spec_for``).
            TimeoutError: a shard did not start within ``start_timeout`` (too few free CPUs
                for ``shards * shard_cpus``, or its bot failed to load: see its log).
        """
        if self._started:
            raise RuntimeStoppedError("a backend serves one Runtime once; create a new one")
        self._started = True
        ray = _import_ray()
        spec = spec_for(store)
        self._setup = ShardSetup(
            name=self.name,
            bot_blob=None if self.bot_path else dumps_bot(bot),
            bot_path=self.bot_path,
            store=spec,
            config=config,
            workers=self.workers,
            max_workers=self.max_workers,
            straggle=self.straggle,
            gap_timeout=self.gap_timeout,
        )
        self._config = config
        if not ray.is_initialized():
            options = dict(DEFAULT_INIT) if self.address is None else {}
            options.update(self.init_options)
            ray.init(address=self.address, **options)
            self._owns_ray = True
        self._remote = ray.remote(ShardHost)
        try:
            self._actors = [self._make_actor(index) for index in range(self.shards)]
            infos: list[ShardInfo] = ray.get(
                [actor.info.remote() for actor in self._actors], timeout=self.start_timeout
            )
        except BaseException as exc:
            self._abort_start()
            if isinstance(exc, ray.exceptions.GetTimeoutError):
                raise TimeoutError(
                    f"the {self.shards} shards did not all start within {self.start_timeout:g} "
                    f"s: does the cluster have {self.shards * self.shard_cpus:g} free CPUs "
                    "(shard_cpus per shard)? A shard whose bot fails to load logs why"
                ) from exc
            raise
        self._links = [
            ShardLink(
                index,
                actor,
                deliver=self._deliver,
                publish=self._subscriptions.publish,
                on_settled=self._on_settled,
                revive=self._make_actor,
                batch_size=self.batch_size,
                window=self.batch_window,
                max_in_flight=self.max_in_flight,
                resend_timeout=self.resend_timeout,
                incarnation=(infos[index].generation, infos[index].pid),
            )
            for index, actor in enumerate(self._actors)
        ]
        self._unsettled = [link.unsettled for link in self._links]
        self._running = True

    def _make_actor(self, index: int) -> Any:
        options: dict[str, Any] = {
            "name": f"shard-{index}",
            "namespace": self.namespace,
            # Ray restarts a dead shard forever, and never runs a call twice by itself: the
            # gateway resends, with the same message_id, knowing what was settled.
            "max_restarts": -1,
            "max_task_retries": 0,
            "enable_task_events": False,  # else the GCS keeps a record of every call
            "num_cpus": self.shard_cpus,
            "scheduling_strategy": "SPREAD",
        }
        options.update(self.actor_options)
        actor = self._remote.options(**options).remote(index, self._setup)
        if index < len(self._actors):
            self._actors[index] = actor
        return actor

    def _abort_start(self) -> None:
        ray = _import_ray()
        for actor in self._actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception as exc:  # best effort: a start that failed
                self._log.warning("shard_kill_failed", error=describe_exception(exc))
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    @property
    def running(self) -> bool:
        """Whether the backend accepts events."""
        return self._running

    def close(self, timeout: float) -> bool:
        """Drain for at most ``timeout`` seconds, stop the shards, fail what is left.

        Returns:
            True if every accepted event was handled, False if some were failed.
        """
        if not self._started or not self._links:
            return True
        ray = _import_ray()
        deadline = time.monotonic() + timeout
        self._running = False
        failed_before = sum(link.failed for link in self._links)
        for link in self._links:
            link.flush()
        drained = self._wait_settled(timeout)
        stops = []
        for actor in self._actors:
            try:
                stops.append(actor.stop.remote(_left(deadline)))
            except Exception as exc:  # a shard that is gone has nothing to stop
                self._log.warning("shard_stop_failed", error=describe_exception(exc))
        try:
            ray.get(stops, timeout=_left(deadline) + 10.0)
        except Exception as exc:  # its events fail below, with the reason
            self._log.warning("shard_stop_failed", error=describe_exception(exc))
        # The shards answered every batch they held (failed ones with RuntimeStoppedError):
        # wait for those answers briefly, then fail whatever never came back.
        self._wait_settled(min(2.0, _left(deadline) + 2.0))
        for link in self._links:
            link.close(timeout=5.0)
        for actor in self._actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception as exc:
                self._log.warning("shard_kill_failed", error=describe_exception(exc))
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
        failed_after = sum(link.failed for link in self._links)
        return drained and failed_after == failed_before

    def _pending(self) -> int:
        return sum(map(len, self._unsettled))

    def _on_settled(self) -> None:
        if self._running:
            return
        with self._settled:
            self._settled.notify_all()

    def _wait_settled(self, timeout: float) -> bool:
        with self._settled:
            return self._settled.wait_for(lambda: self._pending() == 0, timeout=timeout)

    # -- events -----------------------------------------------------------------------------

    def _link(self, session_id: str) -> ShardLink:
        link = self._route.get(session_id)
        if link is None:
            link = self._route[session_id] = self._links[self.shard_of(session_id)]
        return link

    def shard_of(self, session_id: str) -> int:
        """Return the index of the shard that holds ``session_id``."""
        digest = hashlib.blake2b(session_id.encode("utf-8", "surrogatepass"), digest_size=8)
        return int.from_bytes(digest.digest(), "big") % self.shards

    def submit(self, event: Event) -> Replies:
        """Queue ``event`` for its session's shard (see ``Backend.submit``)."""
        if not self._running:
            raise RuntimeStoppedError("the runtime is not running")
        future: Replies = ReplyFuture()
        max_pending = self._config.max_pending
        if max_pending is not None:
            pending = sum(map(len, self._unsettled))
            if pending >= max_pending:
                self._rejected += 1
                future.set_exception(OverloadedError("pending_events", pending, max_pending))
                return future
        session_id, kind, payload, message_id = event
        if message_id is None:
            # Every event gets an id, so a resend after a lost shard is answered from the
            # session's memory when its turn committed, instead of running again.
            message_id = f"{self._id_prefix}{next(self._message_ids)}"
        link = self._route.get(session_id) or self._link(session_id)
        link.put(EVENT, session_id, (KIND_CODES[kind], payload, message_id), future, event)
        return future

    def _deliver(self, entry: Entry, ok: bool, value: Any) -> None:
        future = entry.future
        try:
            if not ok:
                future.set_exception(value)
            elif entry.item[1] == EVENT:
                texts, typed = value
                if typed is not None:
                    future._typed = typed  # type: ignore[attr-defined]  # see runtime._future
                future.set_result(texts)
            else:
                future.set_result(value)
        except concurrent.futures.InvalidStateError:
            pass  # settled meanwhile (cancelled by its caller)

    # -- session operations -----------------------------------------------------------------

    def _control(self, op: int, session_id: str, payload: Any = None) -> Any:
        if not self._running:
            raise RuntimeStoppedError("the runtime is not running")
        future: concurrent.futures.Future[Any] = ReplyFuture()
        self._link(session_id).put(op, session_id, payload, future)
        return future

    def snapshot(self, session_id: str, timeout: float) -> SessionSnapshot | None:
        """Return the session's committed snapshot, asked of its shard after earlier events."""
        future = self._control(SNAPSHOT, session_id, timeout)
        try:
            return snapshot_or_none(future.result(timeout))
        except concurrent.futures.TimeoutError as exc:
            raise TimeoutError(
                f"session {session_id!r} did not answer within {timeout} s (its shard is "
                "busy or restarting, or a body is still running)"
            ) from exc

    def passivate(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Move a live session to the store on its shard (see ``Backend.passivate``)."""
        result: concurrent.futures.Future[bool] = self._control(PASSIVATE, session_id)
        return result

    def forget(self, session_id: str) -> concurrent.futures.Future[bool]:
        """Erase a session on its shard (see ``Backend.forget``)."""
        result: concurrent.futures.Future[bool] = self._control(FORGET, session_id)
        return result

    def subscribe(self, session_id: str, callback: ReplyCallback) -> Subscription:
        """Deliver the session's committed turns sent through this gateway, in turn order."""
        subscription = self._subscriptions.subscribe(session_id, callback)
        if self._links:
            self._link(session_id).watch(session_id)
        return subscription

    # -- inspection -------------------------------------------------------------------------

    def _ask_all(self, method: str, timeout: float = 30.0) -> list[Any]:
        ray = _import_ray()
        refs = [getattr(actor, method).remote() for actor in self._actors]
        return list(ray.get(refs, timeout=timeout))

    def shard_info(self, timeout: float = 30.0) -> list[ShardInfo]:
        """Return where each shard runs now (node, pid, generation, held items)."""
        if not self._links:
            return []
        result: list[ShardInfo] = self._ask_all("info", timeout)
        return result

    def session_ids(self) -> list[str]:
        """Return the ids of every session, live or stored, on every shard."""
        if not self._running:
            return []
        return list(dict.fromkeys(sid for ids in self._ask_all("session_ids") for sid in ids))

    def stats(self) -> RuntimeStats:
        """Return the shards' counters summed, with this gateway's event counts."""
        fields = [f.name for f in dataclasses.fields(RuntimeStats)]
        totals = dict.fromkeys(fields, 0)
        if self._running:
            try:
                for shard_stats in self._ask_all("stats", timeout=10.0):
                    for key in fields:
                        totals[key] += getattr(shard_stats, key)
            except Exception as exc:  # the gateway's own counts still stand
                self._log.warning("shard_stats_failed", error=describe_exception(exc))
        links = self._links
        accepted = sum(link.accepted for link in links)
        processed = sum(link.processed for link in links)
        failed = sum(link.failed for link in links)
        totals.update(
            events_accepted=accepted,
            events_processed=processed,
            events_failed=failed,
            events_pending=accepted - processed - failed,
            events_rejected=totals["events_rejected"] + self._rejected,
            subscribers=len(self._subscriptions),
        )
        return RuntimeStats(**totals)

    def statistics(self) -> dict[str, int]:
        """Return the gateway's own counts: shard restarts seen and items sent again."""
        return {
            "shard_restarts": sum(link.restarts for link in self._links),
            "resends": sum(link.resends for link in self._links),
            "pending": self._pending(),
        }

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped" if self._started else "new"
        return f"RayBackend(shards={self.shards}, name={self.name!r}, {state})"


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
