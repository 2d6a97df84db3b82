"""What a web gateway allows: sizes, rates, origins and waits, checked once at start."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime._checks import check_positive_int, check_seconds

__all__ = ["WebSettings"]


@dataclass(frozen=True)
class WebSettings:
    """The limits and choices of one gateway (``create_app(runtime, settings)``).

    Attributes:
        max_text_chars: the longest user message (``message`` frames, HTTP messages).
        max_file_bytes: the largest uploaded file, decoded.
        max_frame_bytes: the largest WebSocket frame or HTTP body handled; larger frames get
            a ``too_large`` error frame and are dropped (the connection stays). Frames above
            twice this are refused by the server itself (close code 1009).
        rate: messages per second a connection may send on average (token bucket); frames
            beyond it get a ``rate_limited`` error with the seconds to wait.
        burst: how many messages a connection may send at once before the rate applies.
        byte_rate: bytes per second a connection may send on average (bursts of two frames
            of ``max_frame_bytes``); beyond it, ``rate_limited``: big frames cost loop time.
        session_rate: new sessions per second one client address may start (WebSocket or
            HTTP), on average; beyond it, ``rate_limited``. Each session is kept in the store.
        session_burst: how many new sessions one address may start at once (many users can
            share an address behind a NAT or proxy).
        allowed_origins: origins (``"https://chat.example.com"``) whose browser pages may open
            WebSockets besides the gateway's own; ``"*"`` allows any. A browser page from
            another origin is refused at the handshake (HTTP 403). Clients that send no
            ``Origin`` header (programs, BBF's clients) are not browsers and are let in.
        max_connections: WebSocket connections the server holds at once; the next get HTTP
            503 until one closes. HTTP requests get 503 once WebSocket and HTTP connections
            together reach twice this (uvicorn counts both).
        reply_timeout: seconds an HTTP request waits for its turn's replies (504 after).
        drain_timeout: seconds a shutdown (SIGTERM) waits for accepted turns to finish.
        forget_bbf_sessions: erase a BBF-protocol connection's session when it closes, as
            BBF 1.5 does (its clients cannot resume one).
        secret: the key that signs session tokens (32+ random bytes); None makes one per
            process, so tokens do not survive a restart. ``serve`` keeps one in its data folder.
    """

    max_text_chars: int = 10_000
    max_file_bytes: int = 8 * 1024 * 1024
    max_frame_bytes: int = 12 * 1024 * 1024
    rate: float = 30.0
    burst: int = 60
    byte_rate: float = 4 * 1024 * 1024
    session_rate: float = 50.0
    session_burst: int = 1000
    allowed_origins: tuple[str, ...] = ()
    max_connections: int = 10_000
    reply_timeout: float = 30.0
    drain_timeout: float = 30.0
    forget_bbf_sessions: bool = True
    secret: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_positive_int("max_text_chars", self.max_text_chars)
        check_positive_int("max_file_bytes", self.max_file_bytes)
        check_positive_int("max_frame_bytes", self.max_frame_bytes)
        check_positive_int("burst", self.burst)
        check_positive_int("session_burst", self.session_burst)
        check_positive_int("max_connections", self.max_connections)
        check_seconds("reply_timeout", self.reply_timeout)
        check_seconds("drain_timeout", self.drain_timeout, allow_zero=True)
        for name in ("rate", "byte_rate", "session_rate"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 < value < float("inf"))
            ):
                raise ValueError(f"{name} must be a positive number per second, got {value!r}")
        if isinstance(self.allowed_origins, str) or not all(
            isinstance(origin, str) for origin in self.allowed_origins
        ):
            raise TypeError("allowed_origins must be a tuple of str")
        if self.max_frame_bytes < self.max_file_bytes:
            raise ValueError(
                "max_frame_bytes must hold a whole file: at least max_file_bytes "
                f"({self.max_file_bytes}), and base64 makes files a third larger"
            )
        if self.secret is not None and (
            not isinstance(self.secret, bytes) or len(self.secret) < 32
        ):
            raise ValueError("secret must be at least 32 bytes")
