"""The terminal platform: chat with one session of a running Runtime, line by line.

Rich replies are shown as text with their kind in brackets: ``bot> [markdown] **hi**``,
``bot> [options] 1) yes  2) no``, ``bot> [image] cat.png (image/png, 1,024 bytes)``,
``bot> [location] 48.85, 2.35``. The user picks an option by typing its text.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import stat
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TextIO

from runtime._future import ReplyFuture
from runtime.bot import File
from runtime.errors import SessionRuntimeError
from runtime.replies import Reply, typed
from runtime.runtime import Runtime

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREADABLE_INPUT",
    "MAX_FILE_BYTES",
    "REPLY_TIMEOUT",
    "TerminalChat",
]

EXIT_OK = 0
EXIT_UNREADABLE_INPUT = 2  # stdin is closed or cannot be read: like a usage error
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C

REPLY_TIMEOUT = 30.0
"""Seconds the terminal waits for the replies to one line before giving up on them."""

MAX_FILE_BYTES = 50 * 1024 * 1024
"""The largest file ``/file`` sends, 50 MiB: a file is read whole into memory and
base64-encoded before it is sent."""


_HELP = """\
Type a message and press Enter to send it. Commands:
  /file PATH [MIME]   send a file (its type is guessed from its name if not given)
  /event NAME [JSON]  send an event, with a JSON object as its payload
  /reset              forget this session and start it again
  /state              show the session's current state and data
  /help               show this help
  /quit               leave (so does end of input: Ctrl-D)
Start a line with // to send a message that begins with /.
To pick one of the [options] a bot shows, type its text (not its number)."""


class TerminalChat:
    """Chat with one session of a running Runtime, one line at a time.

    Replies are printed as ``bot> text`` (a rich reply with its kind in brackets, see the
    module doc); problems as ``error: ...`` lines on ``stderr``, after which the chat goes on.
    A line that is not valid text in ``stdin``'s encoding is reported and skipped. The
    ``you> `` prompt is shown only when ``stdin`` is a terminal.

    Args:
        runtime: a started Runtime.
        session_id: the session to chat as.
        stdin: where lines are read (``sys.stdin`` when None).
        stdout: where replies go (``sys.stdout`` when None).
        stderr: where errors go (``sys.stderr`` when None).
        timeout: seconds to wait for the replies to one line.
    """

    def __init__(
        self,
        runtime: Runtime,
        session_id: str,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        timeout: float = REPLY_TIMEOUT,
    ) -> None:
        self._rt = runtime
        self._session_id = session_id
        self._stdin = sys.stdin if stdin is None else stdin
        self._stdout = sys.stdout if stdout is None else stdout
        self._stderr = sys.stderr if stderr is None else stderr
        self._timeout = timeout
        # Each command takes the rest of its line and returns whether the chat goes on.
        self._commands: dict[str, Callable[[str], bool]] = {
            "/file": self._send_file,
            "/event": self._send_event,
            "/reset": self._reset,
            "/state": self._show_state,
            "/help": self._show_help,
            "/quit": self._quit,
        }

    def run(self) -> int:
        """Open the session, print its greeting, then chat until end of input or ``/quit``.

        Returns:
            The exit code: 0, 2 when ``stdin`` is closed or cannot be read, or 130 when
            interrupted with Ctrl-C.
        """
        if self._stdin is None:  # started with stdin closed (<&-)
            self._error("there is no standard input to read the chat from")
            return EXIT_UNREADABLE_INPUT
        interactive = self._stdin.isatty()
        if interactive:
            self._print(
                f"Chatting with bot {self._rt.bot.name!r} as session {self._session_id!r}. "
                "Type /help for commands."
            )
        try:
            self._wait(lambda: self._rt.open_session(self._session_id))
            with _undecodable_bytes_escaped(self._stdin):
                return self._chat(interactive)
        except KeyboardInterrupt:
            self._print("")
            return EXIT_INTERRUPTED

    def _chat(self, interactive: bool) -> int:
        number = 0
        while True:
            if interactive:
                self._stdout.write("you> ")
                self._stdout.flush()
            try:
                line = self._stdin.readline()
            except (OSError, UnicodeDecodeError) as exc:  # a directory, a stream without escapes
                self._error(f"cannot read standard input: {exc}")
                return EXIT_UNREADABLE_INPUT
            number += 1
            if not line:
                if interactive:
                    self._print("")
                return EXIT_OK
            if not _is_text(line):
                encoding = getattr(self._stdin, "encoding", None) or "UTF-8"
                self._error(f"line {number} is not valid {encoding} text; it was not sent")
                continue
            if not self._handle(line.strip()):
                return EXIT_OK

    def _handle(self, line: str) -> bool:
        if not line:
            return True
        if line.startswith("//"):
            text = line[1:]
            self._wait(lambda: self._rt.send_message(self._session_id, text))
            return True
        if not line.startswith("/"):
            self._wait(lambda: self._rt.send_message(self._session_id, line))
            return True
        name, _, rest = line.partition(" ")
        command = self._commands.get(name.lower())
        if command is None:
            self._error(f"unknown command {name}; type /help to list the commands")
            return True
        return command(rest.strip())

    # -- commands ---------------------------------------------------------------------------

    def _send_file(self, rest: str) -> bool:
        try:
            words = shlex.split(rest)
        except ValueError as exc:
            self._error(f"cannot read the /file line ({exc}); usage: /file PATH [MIME]")
            return True
        if not 1 <= len(words) <= 2:
            self._error('usage: /file PATH [MIME] (quote a path with spaces: /file "my cat.png")')
            return True
        file = self._read_file(os.path.expanduser(words[0]), words[1] if len(words) == 2 else None)
        if file is not None:
            self._wait(lambda: self._rt.send_file(self._session_id, file))
        return True

    def _read_file(self, path: str, mime: str | None) -> File | None:
        """Return the file at ``path``, or print why it cannot be sent and return None."""
        try:
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode):  # a directory, or /dev/zero that never ends
                self._error(f"{path} is not a regular file; give the path of a file")
                return None
            if info.st_size > MAX_FILE_BYTES:
                self._error(
                    f"{path} has {info.st_size:,} bytes; /file sends at most {MAX_FILE_BYTES:,}"
                )
                return None
            return File(file_path=path, file_type=mime)
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self._error(f"cannot read {path}: {reason}; check the path")
            return None

    def _send_event(self, rest: str) -> bool:
        name, _, raw = rest.partition(" ")
        if not name:
            self._error('usage: /event NAME [JSON], e.g. /event reminder {"text": "stretch"}')
            return True
        payload = None
        if raw.strip():
            try:
                payload = json.loads(raw)
            except RecursionError:
                self._error(
                    "the payload of /event is nested too deeply to read; give a JSON object"
                )
                return True
            except ValueError as exc:  # not JSON, or a number with too many digits
                self._error(
                    f"the payload of /event is not valid JSON ({exc}); give a JSON object, "
                    'e.g. /event reminder {"text": "stretch"}'
                )
                return True
            if not isinstance(payload, dict):
                self._error(
                    f"the payload of /event must be a JSON object {{...}}, not a "
                    f"{type(payload).__name__}"
                )
                return True
        self._wait(lambda: self._rt.send_event(self._session_id, name, payload))
        return True

    def _reset(self, rest: str) -> bool:
        self._print(f"(session {self._session_id!r} reset)")
        self._wait(lambda: self._rt.reset(self._session_id))
        return True

    def _show_state(self, rest: str) -> bool:
        try:
            snapshot = self._rt.snapshot(self._session_id, timeout=self._timeout)
        except (TimeoutError, SessionRuntimeError) as exc:
            self._error(f"cannot read the session: {exc or type(exc).__name__}")
            return True
        if snapshot is None:
            self._print("state: (no session yet)")
            return True
        self._print(f"state: {snapshot.state}")
        try:
            data = json.dumps(dict(snapshot.data), default=repr, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError, RecursionError) as exc:  # cycles, odd keys, deep nesting
            self._error(f"cannot show the session data: {exc}")
            return True
        self._print(f"data: {data}")
        return True

    def _show_help(self, rest: str) -> bool:
        self._print(_HELP)
        return True

    def _quit(self, rest: str) -> bool:
        return False

    # -- output -----------------------------------------------------------------------------

    def _wait(self, submit: Callable[[], Future[list[str]]]) -> None:
        """Submit an event, wait for its replies and print them (or the error)."""
        try:
            future = submit()
            replies = (
                future.typed_result(self._timeout)
                if isinstance(future, ReplyFuture)
                else typed(future.result(self._timeout))  # another backend's future
            )
        except TimeoutError:
            self._error(
                f"no reply within {self._timeout:g} s: a body may be stuck; the reply is "
                "dropped, the chat goes on"
            )
            return
        except SessionRuntimeError as exc:
            self._error(str(exc))
            return
        except Exception as exc:  # a bad argument, or anything a future can carry
            self._error(f"{type(exc).__name__}: {exc}")
            return
        for reply in replies:
            # Later lines of a multi-line reply line up under the first one's text.
            self._print("bot> " + _shown(reply).replace("\n", "\n     "))

    def _print(self, text: str) -> None:
        _write_line(text, self._stdout)

    def _error(self, text: str) -> None:
        _write_line(f"error: {text}", self._stderr)


def _shown(reply: Reply) -> str:
    """Return how the terminal shows ``reply``: its text, after its kind if it is rich."""
    kind = reply.kind
    if kind == "text":
        return str(reply)
    content = reply.content
    try:
        if kind == "options":
            return "[options] " + "  ".join(f"{i}) {option}" for i, option in enumerate(content, 1))
        if kind in ("file", "image"):
            size = _decoded_size(content["base64"])
            return f"[{kind}] {content['name']} ({content['type']}, {size:,} bytes)"
    except (TypeError, KeyError):  # a Reply a body built by hand: shown by its text
        pass
    return f"[{kind}] {reply}"


def _decoded_size(data: str) -> int:
    """Return how many bytes the base64 text ``data`` holds, without decoding it."""
    return len(data) // 4 * 3 - data[-2:].count("=")


def _write_line(text: str, stream: TextIO) -> None:
    """Print ``text``, escaping what ``stream``'s encoding cannot write (a lone surrogate)."""
    try:
        print(text, file=stream, flush=True)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        print(text.encode(encoding, "backslashreplace").decode(encoding), file=stream, flush=True)


def _is_text(line: str) -> bool:
    """Return whether ``line`` is valid Unicode, free of escaped undecodable bytes."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextmanager
def _undecodable_bytes_escaped(stream: TextIO) -> Iterator[None]:
    """Let ``stream`` decode bytes that are not text as lone surrogates, not raise.

    A strict text stream that meets a bad byte raises and drops the rest of the bytes it had
    read, so no later line could be trusted; escaped, the one bad line is found and skipped.
    ``sys.stdin`` is strict under most locales (escaping already under C.UTF-8).
    """
    if not isinstance(stream, io.TextIOWrapper) or stream.errors != "strict":
        yield
        return
    stream.reconfigure(errors="surrogateescape")
    try:
        yield
    finally:
        stream.reconfigure(errors="strict")
