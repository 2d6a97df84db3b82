"""The Ray tests' gate: an actor that holds the first process passing it, for good.

A test sends one ``block`` message (see ``_ray_bots.py``); the shard process whose body passes
first stays in it until that process is killed or its node removed, so the test knows a turn
is in flight where it is about to fail. This module travels to Ray by value (it cannot be
imported there).
"""

from __future__ import annotations

import asyncio
import sys

from ray import cloudpickle

__all__ = ["Gate"]

cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Gate:
    """Hold the first process that passes for good; let every other one through."""

    def __init__(self) -> None:
        self.doomed: int | None = None
        self.arrived = asyncio.Event()

    async def pass_through(self, pid: int) -> None:
        if self.doomed is None:
            self.doomed = pid
            self.arrived.set()
        if pid == self.doomed:
            await asyncio.Event().wait()  # until its process is gone

    async def wait_arrived(self) -> None:
        await self.arrived.wait()
