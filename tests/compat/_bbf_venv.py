"""Build, once, a virtualenv with the real BESSER Bot Framework 1.5.0, and run bots in it.

``bbf_python()`` returns the virtualenv's python, building it on first use under
``.cache/bbf-venv-1.5.0/`` at the repository's root (about half a minute with a warm pip
cache); ``bbf_examples_dir()`` the example bots of the very wheel installed there;
``run_bbf(bot_file, sessions)`` runs ``_bbf_driver.py`` there and returns the transcripts.

What goes in: the wheel itself with ``--no-deps`` (its pinned requirements include
TensorFlow, Streamlit, LangChain, ...), then only the packages that importing
``besser.bot.core.bot`` and running the example bots really needs (``PACKAGES``, at the
versions BBF pins). Every other package BBF imports at module level is a stub
(``STUBS``): a module whose every attribute is a placeholder class that raises
``StubbedDependencyError`` when called, so BBF imports but a bot using such a feature fails
loudly. ``bbf-stubs/`` inside the virtualenv holds them; a ``.pth`` file puts it first on
``sys.path``.

NLTK: BBF's ``pipelines`` module downloads the Punkt tokenizer at import when it is missing,
and there is no network for that. The virtualenv's ``nltk_data/`` holds an empty
``tokenizers/punkt/`` so the import-time check passes; ``word_tokenize`` itself would still
fail (it runs only with ``nlp.pre_processing``, which ``_bbf_driver.py`` turns off).

Concurrency: a build holds an exclusive ``flock`` on ``.cache/bbf-venv-1.5.0.lock`` and writes
``manifest.json`` last; a directory without a manifest matching the current recipe (a crashed
or outdated build) is deleted and rebuilt. Two pytest processes starting at once build once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

__all__ = [
    "BBF",
    "BBF_VERSION",
    "PACKAGES",
    "STUBS",
    "BBFRunError",
    "BBFVenvError",
    "Transcript",
    "bbf",
    "bbf_examples_dir",
    "bbf_python",
    "bbf_training_sentences",
    "cache_dir",
    "ensure_built",
    "manifest",
    "run_bbf",
]

BBF_VERSION = "1.5.0"
REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("_bbf_driver.py")

PACKAGES: tuple[str, ...] = (
    # The NER's base entities: datetime (dateparser) and numbers (text_to_num).
    "dateparser==1.1.8",
    "text2num==2.5.0",
    # Text pre-processing: imported at module level even with pre-processing off.
    "nltk==3.8.1",
    "snowballstemmer==2.2.0",
    # WebSocketPlatform (the examples' platform) and the modules it imports: numpy in its
    # signatures, websockets for the server, websocket-client in the Streamlit UI's modules.
    "numpy==1.26.1",
    "websockets==11.0.3",
    "websocket-client==1.6.4",
)
"""Real packages installed beside BBF, at the versions its metadata pins."""

STUBS: Mapping[str, str] = {
    # module: the BBF module that imports it at module level (none of it runs headless)
    "cv2": "platforms.websocket.websocket_platform (image replies)",
    "keras": "nlp.intent_classifier.simple_intent_classifier (replaced by the driver)",
    "keras.src.layers": "nlp.intent_classifier.simple_intent_classifier",
    "keras.src.losses": "nlp.intent_classifier.simple_intent_classifier",
    "keras.src.optimizers": "nlp.intent_classifier.simple_intent_classifier",
    "keras.src.utils": "nlp.intent_classifier.simple_intent_classifier",
    "langchain_community.document_loaders": "nlp.rag.rag (imported by core.session)",
    "langchain_core.documents.base": "nlp.rag.rag",
    "langchain_core.vectorstores.base": "nlp.rag.rag",
    "langchain_text_splitters.base": "nlp.rag.rag",
    "librosa": "nlp.speech2text.hf_speech2text",
    "pandas": "core.session, db.monitoring_db, websocket_platform (DataFrame replies)",
    "plotly": "platforms.websocket.websocket_platform (plot replies)",
    "speech_recognition": "nlp.speech2text.api_speech2text",
    "sqlalchemy": "db.monitoring_db (the monitoring database)",
    "sqlalchemy.orm": "db.monitoring_db",
    "streamlit": "platforms.websocket.streamlit_ui (the web UI, never started)",
    "streamlit.runtime.app_session": "streamlit_ui.session_management",
    "streamlit.runtime.scriptrunner_utils.script_run_context": "streamlit_ui.initialization",
    "streamlit.web": "streamlit_ui.streamlit_ui",
    "telegram": "platforms.telegram.telegram_platform",
    "telegram.ext": "platforms.telegram.telegram_platform",
    "transformers": "nlp.speech2text.hf_speech2text",
}
"""Modules replaced by stubs, and why BBF imports them."""

_STUB_EXTRAS: Mapping[str, str] = {
    # hf_speech2text calls transformers.logging.set_verbosity_error() at import.
    "transformers": "import types as _types\n\n"
    "logging = _types.SimpleNamespace(set_verbosity_error=lambda: None)\n",
}

_STUB_BASE = '''"""Placeholders for packages BBF imports and the comparison never uses."""


class StubbedDependencyError(RuntimeError):
    """A BBF feature needed a package that the comparison virtualenv stubs out."""


class _Placeholder(type):
    # Attribute access, subscripts and | build more placeholders, so annotations such as
    # "CursorResult[Any] | None" and "plotly.graph_objs.Figure" evaluate at import.
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return placeholder(f"{cls.__qualname__}.{name}")

    def __getitem__(cls, item):
        return cls

    def __or__(cls, other):
        return cls

    __ror__ = __or__

    def __call__(cls, *args, **kwargs):
        raise StubbedDependencyError(
            f"{cls.__qualname__} is a stub in the BBF comparison virtualenv "
            "(tests/compat/_bbf_venv.py): this bot needs a BBF feature whose package is "
            "not installed there"
        )


def placeholder(qualname):
    return _Placeholder(qualname.rpartition(".")[2], (), {"__qualname__": qualname})


def module_getattr(module, name):
    if name.startswith("__"):
        raise AttributeError(name)
    return placeholder(f"{module}.{name}")
'''

_STUB_MODULE = '''"""Stub (tests/compat/_bbf_venv.py): every attribute is a placeholder."""

from _bbf_stub import module_getattr as _module_getattr


def __getattr__(name):
    return _module_getattr(__name__, name)
'''

_PTH = (
    "import os, sys; sys.path.insert(0, os.path.join(sys.prefix, 'bbf-stubs')); "
    "os.environ.setdefault('NLTK_DATA', os.path.join(sys.prefix, 'nltk_data'))\n"
)


class BBFVenvError(RuntimeError):
    """The BBF virtualenv could not be built (most often: no access to the package registry)."""


class BBFRunError(RuntimeError):
    """The BBF driver failed on a bot (the message ends with its stderr)."""


class Transcript(TypedDict):
    """One session's replies: ``open`` at creation, ``turns[i]`` for its ``i``-th message.

    Each reply is ``[kind, text]`` (``_bbf_driver.py`` lists the kinds).
    """

    open: list[list[str]]
    turns: list[list[list[str]]]


def cache_dir() -> Path:
    """Return where the BBF virtualenv, wheel and examples live (built or not)."""
    return REPO / ".cache" / f"bbf-venv-{BBF_VERSION}"


def _recipe() -> str:
    """Return a digest of everything the build depends on, so a change rebuilds."""
    parts = [
        BBF_VERSION,
        f"{sys.version_info.major}.{sys.version_info.minor}",
        *PACKAGES,
        *sorted(STUBS),
        *sorted(_STUB_EXTRAS.items(), key=str),
        _STUB_BASE,
        _STUB_MODULE,
        _PTH,
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _venv_python(root: Path) -> Path:
    return root / "venv" / "bin" / "python"


def _ready(root: Path) -> bool:
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(manifest.get("recipe") == _recipe() and _venv_python(root).exists())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(command: Sequence[str | Path], what: str) -> str:
    """Run a build step; return its stdout, or raise BBFVenvError saying what failed."""
    proc = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()
        hint = ""
        if "pip" in [str(part) for part in command]:
            hint = (
                " pip needs the package registry (PyPI, or the index in PIP_INDEX_URL / "
                "pip.conf); check the network or point pip at a mirror, then run the tests again."
            )
        raise BBFVenvError(
            f"building the BBF {BBF_VERSION} virtualenv failed: {what} "
            f"(exit {proc.returncode}).{hint}\n" + "\n".join(output[-25:])
        )
    return proc.stdout


def _write_stubs(stubs_dir: Path) -> None:
    stubs_dir.mkdir(parents=True)
    (stubs_dir / "_bbf_stub.py").write_text(_STUB_BASE)
    for dotted in STUBS:
        parts = dotted.split(".")
        for depth in range(1, len(parts) + 1):
            package = stubs_dir.joinpath(*parts[:depth])
            package.mkdir(exist_ok=True)
            init = package / "__init__.py"
            if not init.exists():
                name = ".".join(parts[:depth])
                extra = _STUB_EXTRAS.get(name, "")
                init.write_text(_STUB_MODULE + ("\n" + extra if extra else ""))


def _build(root: Path) -> None:
    started = time.monotonic()
    venv, wheel_dir, src = root / "venv", root / "wheel", root / "src"
    _run([sys.executable, "-m", "venv", venv], "python -m venv")
    python = _venv_python(root)
    pip: list[str | Path] = [python, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run(
        [*pip, "download", f"besser-bot-framework=={BBF_VERSION}", "--no-deps", "-d", wheel_dir],
        f"pip download besser-bot-framework=={BBF_VERSION}",
    )
    (wheel,) = wheel_dir.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(src)
    _run([*pip, "install", "--no-deps", wheel], f"pip install --no-deps {wheel.name}")
    _run([*pip, "install", *PACKAGES], "pip install " + " ".join(PACKAGES))
    _write_stubs(venv / "bbf-stubs")
    (venv / "nltk_data" / "tokenizers" / "punkt").mkdir(parents=True)
    # nltk 3.8.1's find() looks for Punkt under a "PY3" subdirectory.
    (venv / "nltk_data" / "tokenizers" / "punkt" / "PY3").mkdir()
    site_packages = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], "site"
        ).strip()
    )
    (site_packages / "00-bbf-stubs.pth").write_text(_PTH)
    _run([python, "-c", "import besser.bot.core.bot"], "importing BBF with the stubs")
    freeze = _run([*pip, "freeze", "--all"], "pip freeze").splitlines()
    manifest = {
        "recipe": _recipe(),
        "bbf_version": BBF_VERSION,
        "packages": freeze,
        "stubs": sorted(STUBS),
        "build_seconds": round(time.monotonic() - started, 1),
    }
    partial = root / "manifest.json.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    partial.replace(root / "manifest.json")


def ensure_built() -> Path:
    """Build the BBF virtualenv unless a complete one for this recipe exists; return its root.

    Raises:
        BBFVenvError: a build step failed (the message says which, and pip's last lines).
    """
    root = cache_dir()
    if _ready(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root.parent / f"{root.name}.lock"):
        if _ready(root):  # another process built it while we waited
            return root
        if root.exists():
            shutil.rmtree(root)
        root.mkdir()
        try:
            _build(root)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
    return root


def bbf_python() -> Path:
    """Return the BBF virtualenv's python, building the virtualenv first if needed."""
    return _venv_python(ensure_built())


def bbf_examples_dir() -> Path:
    """Return BBF's example bots (``greetings_bot.py``, ...) as unzipped from its wheel."""
    return ensure_built() / "src" / "besser" / "bot" / "test" / "examples"


def manifest() -> dict[str, Any]:
    """Return what the build recorded: packages (``pip freeze``), stubs, build time."""
    return cast(dict[str, Any], json.loads((ensure_built() / "manifest.json").read_text()))


def _driver(args: Sequence[str | Path], stdin: str, timeout: float) -> Any:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    command = [str(bbf_python()), str(DRIVER), *(str(arg) for arg in args)]
    with tempfile.TemporaryDirectory(prefix="bbf-run-") as work:
        proc = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            env=env,
            cwd=work,
            check=False,
        )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-30:])
        raise BBFRunError(f"{' '.join(command)} exited {proc.returncode}; its stderr ends:\n{tail}")
    return json.loads(proc.stdout)


def run_bbf(
    bot_file: str | Path, sessions: Mapping[str, Sequence[str]], *, timeout: float = 120.0
) -> dict[str, Transcript]:
    """Run a BBF bot file headless in the BBF virtualenv and return its transcripts.

    Args:
        bot_file: a BBF 1.5 bot file, run unchanged (``_bbf_driver.py`` says how).
        sessions: messages per session id; sessions open in this order, then messages go
            round-robin, one at a time.
        timeout: seconds before the driver is killed (``subprocess.TimeoutExpired``).

    Returns:
        ``{session_id: {"open": [[kind, text], ...], "turns": [[[kind, text], ...], ...]}}``,
        ``turns`` holding one list of replies per message sent.

    Raises:
        BBFVenvError: the virtualenv could not be built.
        BBFRunError: the driver failed (bad bot file, exception outside a body).
    """
    spec = {"sessions": {str(sid): list(messages) for sid, messages in sessions.items()}}
    return cast(dict[str, Transcript], _driver([Path(bot_file)], json.dumps(spec), timeout))


def bbf_training_sentences(bot_file: str | Path, *, timeout: float = 120.0) -> dict[str, list[str]]:
    """Return each intent's training sentences as BBF processes them for the classifier."""
    return cast(dict[str, list[str]], _driver(["--training", Path(bot_file)], "", timeout))


@dataclass(frozen=True)
class BBF:
    """A built BBF virtualenv, as the ``bbf`` fixture hands it to tests."""

    python: Path
    examples: Path

    def example(self, name: str) -> Path:
        """Return the path of one of BBF's example bots (``"greetings_bot.py"``)."""
        path = self.examples / name
        if not path.is_file():
            found = ", ".join(sorted(p.name for p in self.examples.glob("*.py")))
            raise FileNotFoundError(f"BBF {BBF_VERSION} has no example {name!r}; it has {found}")
        return path

    def run(
        self, bot_file: str | Path, sessions: Mapping[str, Sequence[str]]
    ) -> dict[str, Transcript]:
        """Run ``bot_file`` in BBF (``run_bbf``)."""
        return run_bbf(bot_file, sessions)

    def training_sentences(self, bot_file: str | Path) -> dict[str, list[str]]:
        """Return BBF's processed training sentences per intent (``bbf_training_sentences``)."""
        return bbf_training_sentences(bot_file)


def bbf() -> BBF:
    """Build (or find) the BBF virtualenv and return it."""
    return BBF(python=bbf_python(), examples=bbf_examples_dir())


if __name__ == "__main__":
    # python tests/compat/_bbf_venv.py: build (if needed) and show what is there.
    print(json.dumps({"python": str(bbf_python()), **manifest()}, indent=2))
