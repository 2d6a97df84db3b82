"""Just enough of RFC 6455 for the load-test client: the handshake, frames out, frames in.

The load-test client shares the machine with the server it measures, so its bytes are
handled here in a few lines rather than by websockets' sans-I/O protocol, whose generator-based
parser costs 4x as much per frame (measured: 7.2 us against 1.7 us for an ``ack`` and a
``replies`` frame; about a sixth of the client's CPU per message). What a gateway sends is
plain: unmasked text frames, the odd ping, a close. Continuation frames are put together all
the same.

Client frames are masked, as the RFC requires, with a key from ``random`` rather than
``os.urandom``: unpredictable masks protect browsers' proxies from pages that forge frames,
which a load generator is not.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
from typing import Final

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask


__all__ = [
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "FrameReader",
    "WireError",
    "check_response",
    "encode",
    "handshake",
]

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_MESSAGE = 64 * 1024 * 1024
_getrandbits = random.getrandbits


class WireError(Exception):
    """The server broke the protocol (the message says how)."""


def handshake(host: str, path: str) -> tuple[bytes, bytes]:
    """Return the opening handshake's request for ``host`` (``name:port``) and ``path``, and the
    ``Sec-WebSocket-Accept`` value the answer must carry."""
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode("latin-1")
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    return request, accept


def check_response(head: bytes, accept: bytes) -> None:
    """Check the handshake's answer (status line and headers, without the blank line).

    Raises:
        WireError: it is not a ``101`` switching to WebSocket with the expected accept value.
    """
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        raise WireError(f"the server answered {lines[0]!r}, not 101 Switching Protocols")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("sec-websocket-accept", "").encode("latin-1") != accept:
        raise WireError("the server's Sec-WebSocket-Accept does not match the key sent")


def encode(payload: bytes, opcode: int = TEXT) -> bytes:
    """Return one masked, final client frame carrying ``payload``."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        header = bytes((0x80 | opcode, 0xFE)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0xFF)) + size.to_bytes(8, "big")
    mask = _getrandbits(32).to_bytes(4, "big")
    return b"".join((header, mask, apply_mask(payload, mask)))


class FrameReader:
    """Cut a stream of server bytes into whole messages."""

    __slots__ = ("_buffer", "_fragments", "_opcode")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._opcode = TEXT

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Take ``data``; return the messages it completes, as ``(opcode, payload)``.

        Raises:
            WireError: a frame is malformed, or a message is over 64 MiB.
        """
        buffer = self._buffer
        buffer += data
        messages = []
        at = 0
        end = len(buffer)
        while end - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            size = second & 0x7F
            start = at + 2
            if size == 126:
                if end - at < 4:
                    break
                size = int.from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif size == 127:
                if end - at < 10:
                    break
                size = int.from_bytes(buffer[start : start + 8], "big")
                start += 8
            masked = second & 0x80
            if masked:  # servers do not mask; tolerated
                start += 4
            if size > _MAX_MESSAGE:
                raise WireError(f"a frame of {size:,} bytes: over {_MAX_MESSAGE:,}")
            stop = start + size
            if stop > end:
                break
            payload = bytes(buffer[start:stop])
            if masked:
                payload = apply_mask(payload, bytes(buffer[start - 4 : start]))
            at = stop
            message = self._message(first, payload)
            if message is not None:
                messages.append(message)
        del buffer[:at]
        return messages

    def _message(self, first: int, payload: bytes) -> tuple[int, bytes] | None:
        opcode = first & 0x0F
        final = first & 0x80
        if opcode >= CLOSE:  # control frames are never fragmented
            return opcode, payload
        if opcode == CONTINUATION:
            if not self._fragments:
                raise WireError("a continuation frame with no message to continue")
            self._fragments.append(payload)
            if not final:
                return None
            whole = b"".join(self._fragments)
            self._fragments = []
            return self._opcode, whole
        if self._fragments:
            raise WireError("a new message before the last one was finished")
        if final:
            return opcode, payload
        self._opcode = opcode
        self._fragments = [payload]
        return None
