"""Replies on the wire: the web protocol's reply objects and BBF 1.5's payloads.

Markdown and HTML replies carry an ``html`` field that is safe to insert into a page:
markdown is rendered by markdown-it-py with raw HTML off, then every HTML goes through nh3
(the Rust ``ammonia`` sanitiser): no scripts, no event handlers, no ``javascript:`` links.
User-supplied text never reaches a page as HTML at all: the page inserts text as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt

from runtime.replies import Reply

__all__ = ["bbf_payload", "reply_dict", "reply_dicts", "safe_html"]

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


@lru_cache(maxsize=1024)  # bots send the same few markdown texts over and over
def safe_html(kind: str, source: str) -> str:
    """Return sanitised HTML for a markdown or HTML reply's source."""
    rendered = _MARKDOWN.render(source) if kind == "markdown" else source
    return nh3.clean(rendered, link_rel="noopener noreferrer nofollow")


def reply_dict(reply: str) -> dict[str, Any]:
    """The web protocol's form of one reply: ``{"kind", "text"[, "content"][, "html"]}``."""
    if type(reply) is str:
        return {"kind": "text", "text": reply}
    if not isinstance(reply, Reply):  # a str subclass a bot passed to session.reply
        return {"kind": "text", "text": str(reply)}
    kind = reply.kind
    out: dict[str, Any] = {"kind": kind, "text": str(reply)}
    if kind == "text":
        return out
    out["content"] = reply.content
    if kind in ("markdown", "html"):
        out["html"] = safe_html(kind, reply.content)
    return out


def reply_dicts(replies: Iterable[str]) -> list[dict[str, Any]]:
    """:func:`reply_dict` of each reply, in order."""
    return [reply_dict(reply) for reply in replies]


_BBF_ACTION = {
    "text": "bot_reply_str",
    "markdown": "bot_reply_markdown",
    "html": "bot_reply_html",
    "options": "bot_reply_options",
    "file": "bot_reply_file",
    "image": "bot_reply_image",
    "location": "bot_reply_location",
    "json": "bot_reply_str",  # BBF has no JSON reply: its clients show the JSON text
}


def bbf_payload(reply: str) -> dict[str, Any]:
    """BBF 1.5's payload for one reply, exactly as its WebSocket platform sends it.

    Text, markdown and HTML: the text. Options: a JSON string of ``{"0": first, ...}``.
    File: ``{"name", "type", "base64"}``. Image: the base64 string. Location:
    ``{"latitude", "longitude"}``.
    """
    if not isinstance(reply, Reply):
        return {"action": "bot_reply_str", "message": str(reply)}
    kind = reply.kind
    message: Any
    if kind == "options":
        message = json.dumps({str(i): option for i, option in enumerate(reply.content)})
    elif kind == "image":
        message = reply.content["base64"]
    elif kind in ("file", "location"):
        message = reply.content
    else:
        message = str(reply)
    return {"action": _BBF_ACTION[kind], "message": message}
