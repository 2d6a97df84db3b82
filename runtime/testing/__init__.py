"""runtime.testing: find races in your bot and prove that users stay isolated.

- :func:`check_isolation` runs each user's script alone on a fresh copy of the bot, then all
  users together (a deterministic simulation, then a real load), and reports every user whose
  replies or final session data differ: an :class:`IsolationReport` of :class:`Divergence`.
- :class:`Simulation` runs many users' turns on one thread in an order a seeded scheduler picks
  (races between turns; replays exactly); :func:`run_load` is the threaded load mode (races
  inside turns too).
- Hypothesis strategies drawn from the bot's own definition (:func:`conversations`,
  :func:`steps`, :func:`messages`, :func:`files`, :func:`events`) and a ready-made property
  test, :func:`isolation_test`. These need Hypothesis (``pip install hypothesis``); the rest
  does not.
- :class:`FlakyStore` wraps a session store and fails chosen operations on demand, to test what
  happens when storage breaks.

The same runs are on the command line: ``python -m runtime check-isolation BOT``.
"""

import typing

from runtime.testing._faults import FlakyStore, StoreFault
from runtime.testing._load import LoadRun, ProgressCallback, run_load
from runtime.testing._oracle import (
    BotSpec,
    Normaliser,
    check_isolation,
    compare,
    solo_transcripts,
)
from runtime.testing._report import Divergence, IsolationReport, ModeResult, replay_command
from runtime.testing._scripts import (
    Step,
    Vocabulary,
    dump_scripts,
    generate_scripts,
    load_scripts,
    paraphrase,
    vocabulary,
)
from runtime.testing._shrink import Shrunk, shrink
from runtime.testing._simulation import Chooser, Simulation, seeded_chooser
from runtime.testing._transcript import StepResult, Transcript

if typing.TYPE_CHECKING:
    from runtime.testing._strategies import (
        conversations,
        events,
        files,
        isolation_test,
        messages,
        steps,
    )

__all__ = [
    "BotSpec",
    "Chooser",
    "Divergence",
    "FlakyStore",
    "IsolationReport",
    "LoadRun",
    "ModeResult",
    "Normaliser",
    "ProgressCallback",
    "Shrunk",
    "Simulation",
    "Step",
    "StepResult",
    "StoreFault",
    "Transcript",
    "Vocabulary",
    "check_isolation",
    "compare",
    "conversations",
    "dump_scripts",
    "events",
    "files",
    "generate_scripts",
    "isolation_test",
    "load_scripts",
    "messages",
    "paraphrase",
    "replay_command",
    "run_load",
    "seeded_chooser",
    "shrink",
    "solo_transcripts",
    "steps",
    "vocabulary",
]

_NEED_HYPOTHESIS = frozenset(
    {"conversations", "events", "files", "isolation_test", "messages", "steps"}
)


def __getattr__(name: str) -> typing.Any:
    # The Hypothesis-backed names load on first use: the CLI and check_isolation work where
    # Hypothesis (a test dependency) is not installed.
    if name in _NEED_HYPOTHESIS:
        try:
            from runtime.testing import _strategies  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(
                f"runtime.testing.{name} needs Hypothesis: pip install hypothesis"
            ) from exc
        return getattr(_strategies, name)
    raise AttributeError(f"module 'runtime.testing' has no attribute {name!r}")
