"""Ray for the tests: loopback only, no token auth, a 100 MiB object store, one per module.

Each test module starts Ray once (``local_ray`` here; the cluster module builds its own) in a
temp folder of its own, and at the end shuts it down and checks by pid that every process it
started is gone (``_processes``). Never ``ray stop``: it kills every Ray on the machine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _processes import OBJECT_STORE_BYTES, TEST_NAMESPACE, ray_folder, ray_pids, stop_and_check

# Read by Ray when it starts: no token file in ~/.ray, and every listener on 127.0.0.1.
os.environ["RAY_AUTH_MODE"] = "disabled"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray (4 logical CPUs: room for shards and their restarts) for one module."""
    import ray  # noqa: PLC0415  # the modules using this skip when Ray is missing

    folder = ray_folder(tmp_path_factory)
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        object_store_memory=OBJECT_STORE_BYTES,
        _temp_dir=str(folder / "ray"),
        logging_level=logging.WARNING,
        log_to_driver=False,
        namespace=TEST_NAMESPACE,
    )
    started = ray_pids(folder)
    try:
        yield folder
    finally:
        stop_and_check(folder, started, ray.shutdown)
