"""Load mode: every user's script sent at once to one Runtime, from many threads, with jitter.

One Runtime serves one fresh copy of the bot. Users are spread over ``concurrency`` sender
threads; each thread interleaves its users' steps in a seeded random order and, like a person
waiting for an answer, sends a user's next step once the previous one was answered. Between
sends it waits a seeded random moment (jitter), and for the whole run the interpreter switches
threads every microsecond (``sys.setswitchinterval``), so turns of different sessions overlap
and are preempted mid-body. This is the mode that sees races *inside* a turn.

Thread scheduling is not seeded: a seed fixes the scripts, the interleaving plan and the
jitter, which makes a race likely to come back on replay, not certain.
"""

from __future__ import annotations

import concurrent.futures
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from runtime.bot import Bot
from runtime.runtime import Runtime
from runtime.testing._scripts import Scripts, Step
from runtime.testing._simulation import step_event
from runtime.testing._transcript import StepResult, Transcript, describe_failure

__all__ = ["DEFAULT_CONCURRENCY", "LoadRun", "ProgressCallback", "run_load"]

DEFAULT_CONCURRENCY: Final = 8
SWITCH_INTERVAL: Final = 1e-6
"""Seconds between forced thread switches during a load run (Python's default is 0.005)."""

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``; phases are "solo", "simulate" and "load"."""

Replies = concurrent.futures.Future[list[str]]


@dataclass(frozen=True)
class LoadRun:
    """The outcome of a load run.

    Attributes:
        transcripts: each user's transcript (``body_errors`` unknown per step: None).
        seconds: wall time from the first send to the last reply.
        body_errors: bodies and event functions that raised, over the whole run.
    """

    transcripts: dict[str, Transcript]
    seconds: float
    body_errors: int


def run_load(
    bot: Bot,
    scripts: Scripts,
    *,
    seed: int,
    concurrency: int = DEFAULT_CONCURRENCY,
    workers: int = 4,
    max_jitter: float = 0.0005,
    timeout: float = 30.0,
    progress: ProgressCallback | None = None,
) -> LoadRun:
    """Send every user's script to one Runtime serving ``bot``, all at once.

    Args:
        bot: a fresh copy of the bot (a Runtime freezes it).
        scripts: each user's steps.
        seed: fixes which thread sends for which user, the interleaving and the jitter.
        concurrency: sender threads (at most one per user).
        workers: the Runtime's dispatcher threads.
        max_jitter: the longest pause, in seconds, between two sends of one thread.
        timeout: seconds to wait for any one reply.
        progress: told how many steps were answered, now and then.

    Returns:
        The transcripts, the time taken and the body errors counted.

    Raises:
        ValueError: ``concurrency`` is below 1.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    rng = random.Random(f"runtime.testing.load:{seed}")
    plans = _plans(scripts, rng, concurrency)
    total = sum(len(script) for script in scripts.values())
    start = threading.Barrier(len(plans) + 1)
    with Runtime(bot, workers=workers) as rt:
        senders = [
            _Sender(
                rt,
                scripts,
                plan,
                seed=rng.random(),
                start=start,
                max_jitter=max_jitter,
                timeout=timeout,
            )
            for plan in plans
        ]
        for sender in senders:
            sender.start()
        old_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        try:
            start.wait(timeout)
            began = time.perf_counter()
            for sender in senders:
                while sender.is_alive():
                    sender.join(0.05)
                    if progress is not None:
                        progress("load", sum(len(s.answered) for s in senders), total)
            sent = {user: futures for s in senders for user, futures in s.futures.items()}
            transcripts = {user: _collect(user, sent[user], timeout) for user in scripts}
            seconds = time.perf_counter() - began
        finally:
            sys.setswitchinterval(old_interval)
        if progress is not None:
            progress("load", total, total)
        for user, transcript in transcripts.items():
            snapshot = rt.snapshot(user, timeout=timeout)
            transcript.data = {} if snapshot is None else dict(snapshot.data)
        stats = rt.stats()
    return LoadRun(transcripts, seconds, stats.body_errors + stats.event_errors)


def _plans(scripts: Scripts, rng: random.Random, concurrency: int) -> list[list[str]]:
    """Spread users over at most ``concurrency`` senders; shuffle each sender's steps.

    A plan names a user once per step; the sender pops that user's next step, so each user's
    steps keep their order whatever the shuffle.
    """
    users = rng.sample(list(scripts), len(scripts))
    count = min(concurrency, len(users))
    plans = []
    for number in range(count):
        plan = [user for user in users[number::count] for _ in scripts[user]]
        rng.shuffle(plan)
        plans.append(plan)
    return plans


class _Sender(threading.Thread):
    """Send the steps of a plan, each once its user's previous step was answered."""

    def __init__(
        self,
        rt: Runtime,
        scripts: Scripts,
        plan: list[str],
        *,
        seed: float,
        start: threading.Barrier,
        max_jitter: float,
        timeout: float,
    ) -> None:
        super().__init__(name="isolation-sender", daemon=True)
        self.rt = rt
        self.scripts = scripts
        self.plan = plan
        self.jitter = random.Random(seed)
        self.start_together = start
        self.max_jitter = max_jitter
        self.timeout = timeout
        self.futures: dict[str, list[Replies | BaseException]] = {user: [] for user in plan}
        self.answered: list[None] = []  # list.append is atomic: a lock-free progress counter

    def run(self) -> None:
        pause = threading.Event()
        self.start_together.wait(self.timeout)
        for user in self.plan:
            mine = self.futures[user]
            if mine and isinstance(mine[-1], concurrent.futures.Future):
                concurrent.futures.wait([mine[-1]], self.timeout)
            if self.jitter.random() < 0.5:
                pause.wait(self.jitter.random() * self.max_jitter)
            step = self.scripts[user][len(mine)]
            try:
                future = _submit(self.rt, user, step)
            except Exception as exc:  # refused at the door: recorded as the step's failure
                mine.append(exc)
                self.answered.append(None)
                continue
            future.add_done_callback(lambda _: self.answered.append(None))
            mine.append(future)


def _submit(rt: Runtime, user: str, step: Step) -> Replies:
    return rt.submit(step_event(user, step))


def _collect(user: str, sent: list[Replies | BaseException], timeout: float) -> Transcript:
    transcript = Transcript(user)
    for future in sent:
        if isinstance(future, BaseException):
            transcript.steps.append(StepResult((), error=describe_failure(future)))
            continue
        try:
            # Every reply, rich ones too: the solo run (the engine's own list) has them all.
            typed_result = getattr(future, "typed_result", None)
            replies = future.result(timeout) if typed_result is None else typed_result(timeout)
        except TimeoutError:
            transcript.steps.append(StepResult((), error=f"no reply within {timeout:g} s"))
        except Exception as exc:
            transcript.steps.append(StepResult((), error=describe_failure(exc)))
        else:
            transcript.steps.append(StepResult(tuple(replies)))
    return transcript
