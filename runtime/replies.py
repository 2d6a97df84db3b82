"""Rich replies: markdown, HTML, options (buttons), files, images, locations and JSON.

A body replies text with ``session.reply(text)``; text replies stay plain ``str`` everywhere.
Every other kind is a :class:`Reply`, made by ``session.reply_markdown`` and its siblings (BBF's
``reply_markdown``, ``reply_options`` and friends). A ``Reply`` *is* a ``str``: its text form,
which the chat history keeps and a terminal shows, so code that handles replies as strings goes
on working. ``kind`` says what it is and ``content`` holds it as plain JSON data, so every
reply can be stored by any codec and sent over any wire as it is.

Which API gives what:

- ``Runtime.send_message(...)`` and its siblings resolve to the text replies only (``list[str]``
  of plain strings, as before rich replies existed);
- ``ReplyFuture.typed_result(timeout)`` on the same future gives every reply of the turn as a
  ``Reply`` (text ones with kind ``"text"``), in order;
- ``Runtime.subscribe`` callbacks receive every reply (plain ``str`` for text, ``Reply`` for
  the rest); :func:`typed` turns such a list into ``Reply`` objects.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, Final

from runtime.bot import File

__all__ = ["REPLY_KINDS", "Reply", "typed"]

#: Every kind of reply: ``"text"`` for ``session.reply``; the rest are rich.
REPLY_KINDS: Final = (
    "text",
    "markdown",
    "html",
    "options",
    "file",
    "image",
    "location",
    "json",
)
_KINDS = frozenset(REPLY_KINDS)


class Reply(str):
    """One reply of a body; a ``str`` (its text form) that also says its kind and content.

    Build one with the class methods (``Reply.markdown(text)``, ``Reply.options([...])``...),
    never by hand. Two replies are equal when their kind, text and content are; a ``Reply``
    also equals its text as a plain ``str``.

    Attributes:
        kind: one of :data:`REPLY_KINDS`.
        content: the reply as JSON data: the source text (text, markdown, html), a list of
            str (options), ``{"name", "type", "base64"}`` (file, image), ``{"latitude",
            "longitude"}`` (location), or any JSON value (json).
    """

    kind: str
    content: Any

    def __new__(cls, kind: str, text: str, content: Any) -> Reply:
        if kind not in _KINDS:
            raise ValueError(f"reply kind must be one of {', '.join(REPLY_KINDS)}, got {kind!r}")
        if not isinstance(text, str):
            raise TypeError(f"a reply's text must be a str, got {type(text).__name__}")
        self = super().__new__(cls, text)
        self.kind = kind
        self.content = content
        return self

    # -- constructors -----------------------------------------------------------------------

    @classmethod
    def text(cls, text: str) -> Reply:
        """A plain text reply (what ``session.reply`` sends), as a typed ``Reply``."""
        _check_str("text", text)
        return cls("text", text, text)

    @classmethod
    def markdown(cls, text: str) -> Reply:
        """Markdown text; clients render it (the web page sanitises it first)."""
        _check_str("markdown", text)
        return cls("markdown", text, text)

    @classmethod
    def html(cls, text: str) -> Reply:
        """HTML text; clients render it sanitised (no scripts, no event handlers)."""
        _check_str("html", text)
        return cls("html", text, text)

    @classmethod
    def options(cls, options: Sequence[str]) -> Reply:
        """Buttons the user can press; pressing one sends its text as a message."""
        if isinstance(options, str) or not isinstance(options, Sequence | set | frozenset):
            raise TypeError(f"options must be a list of str, got {type(options).__name__}")
        items = list(options)
        if not items:
            raise ValueError("options must hold at least one option")
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"every option must be a str, got {type(item).__name__}")
        return cls("options", " | ".join(items), items)

    @classmethod
    def file(cls, file: File) -> Reply:
        """A file for the user to download."""
        if not isinstance(file, File):
            raise TypeError(f"reply_file takes a runtime.File, got {type(file).__name__}")
        return cls("file", file.name, _file_content(file))

    @classmethod
    def image(cls, image: File | bytes, *, name: str = "image") -> Reply:
        """An image: a ``File`` with an ``image/*`` type, or the bytes of a PNG, JPEG, GIF or
        WebP image (the type is read from its first bytes)."""
        if isinstance(image, bytes | bytearray | memoryview):
            data = bytes(image)
            mime = _image_type(data)
            image = File(file_name=name, file_type=mime, file_data=data)
        if not isinstance(image, File):
            raise TypeError(
                f"reply_image takes a runtime.File or image bytes, got {type(image).__name__}"
            )
        if not image.type.startswith("image/"):
            raise ValueError(f"reply_image needs an image/* file, got type {image.type!r}")
        return cls("image", image.name, _file_content(image))

    @classmethod
    def location(cls, latitude: float, longitude: float) -> Reply:
        """A point on a map, in degrees."""
        for what, value, bound in (("latitude", latitude, 90), ("longitude", longitude, 180)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{what} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or abs(value) > bound:
                raise ValueError(f"{what} must be within [-{bound}, {bound}], got {value!r}")
        lat, lon = float(latitude), float(longitude)
        return cls("location", f"{lat}, {lon}", {"latitude": lat, "longitude": lon})

    @classmethod
    def json(cls, value: Any) -> Reply:
        """Any JSON value (for clients that render data: cards, tables, charts)."""
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"reply_json needs a JSON value: {exc}") from exc
        return cls("json", text, json.loads(text))

    # -- conversions ------------------------------------------------------------------------

    @property
    def as_file(self) -> File:
        """The ``File`` of a file or image reply.

        Raises:
            TypeError: this reply is of another kind.
        """
        if self.kind not in ("file", "image"):
            raise TypeError(f"a {self.kind} reply holds no file")
        content = self.content
        return File(
            file_name=content["name"], file_type=content["type"], file_base64=content["base64"]
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "text", "content"}``: plain JSON data (the web protocol's form)."""
        return {"kind": self.kind, "text": str(self), "content": self.content}

    @classmethod
    def from_dict(cls, data: Any) -> Reply:
        """Rebuild a reply from :meth:`to_dict`'s form.

        Raises:
            ValueError: ``data`` is not such a form.
        """
        if not isinstance(data, dict) or set(data) != {"kind", "text", "content"}:
            raise ValueError("a reply is a mapping with exactly kind, text and content")
        kind, text = data["kind"], data["text"]
        if not isinstance(kind, str) or not isinstance(text, str):
            raise ValueError("a reply's kind and text must be str")
        return cls(kind, text, data["content"])

    # -- str behaviour ----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Reply):
            return (
                self.kind == other.kind
                and str.__eq__(self, other)
                and self.content == other.content
            )
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        return (Reply, (self.kind, str(self), self.content))

    def __repr__(self) -> str:
        return (
            f"Reply.{self.kind}({str(self)!r})"
            if self.kind != "text"
            else f"Reply.text({str(self)!r})"
        )


def typed(replies: Iterable[str]) -> list[Reply]:
    """Return ``replies`` as ``Reply`` objects: plain ``str`` ones become text replies."""
    return [r if isinstance(r, Reply) else Reply("text", r, str(r)) for r in replies]


def _check_str(kind: str, text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"a {kind} reply takes a str, got {type(text).__name__}")


def _file_content(file: File) -> dict[str, str]:
    return {"name": file.name, "type": file.type, "base64": file.base64}


_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _image_type(data: bytes) -> str:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ValueError("image bytes must be a PNG, JPEG, GIF or WebP image")
