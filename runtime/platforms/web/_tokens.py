"""Session tokens: unguessable, signed, and the only way a client names its session.

A token is ``<key>.<tag>``: 24 random bytes and an HMAC-SHA256 tag of them under the
gateway's secret, both base64url. The session id is derived from the key alone
(``web-<key>``), so a token names one session; the tag proves the gateway issued it, so a
client cannot make up tokens, and nothing a client can see (session ids appear in logs) lets
it address another session. Tokens need no storage: with the same secret (``serve`` keeps it
in its data folder) they resume their sessions after a restart.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from hashlib import sha256

__all__ = ["SessionTokens"]

_KEY_BYTES = 24
_TAG_BYTES = 16
_KEY_CHARS = 32  # base64url of 24 bytes, unpadded
_TAG_CHARS = 22  # base64url of 16 bytes, unpadded
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SessionTokens:
    """Issue tokens and map them to session ids.

    Args:
        secret: the signing key (at least 32 bytes); None makes a random one.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def _tag(self, key: str) -> str:
        return _b64(hmac.new(self._secret, key.encode("ascii"), sha256).digest()[:_TAG_BYTES])

    def issue(self) -> tuple[str, str]:
        """Return a new ``(token, session_id)``."""
        key = _b64(secrets.token_bytes(_KEY_BYTES))
        return f"{key}.{self._tag(key)}", f"web-{key}"

    def session_id(self, token: object) -> str | None:
        """Return the session id ``token`` names, or None if it is not a token we issued."""
        if not isinstance(token, str) or len(token) != _KEY_CHARS + 1 + _TAG_CHARS:
            return None
        key, dot, tag = token[:_KEY_CHARS], token[_KEY_CHARS], token[_KEY_CHARS + 1 :]
        if dot != "." or not _ALPHABET.issuperset(key) or not _ALPHABET.issuperset(tag):
            return None
        if not hmac.compare_digest(tag, self._tag(key)):
            return None
        return f"web-{key}"
