"""Files sent by users: name, MIME type and base64 content (BBF's ``File``)."""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
from typing import Any

__all__ = ["File"]


class File:
    """A file received from a user.

    Give at least one of ``file_base64``, ``file_path`` or ``file_data``. The name defaults to
    the path's base name, and the type to the MIME type guessed from the name.

    Args:
        file_name: the file's name, e.g. ``"cat.png"``.
        file_type: its MIME type, e.g. ``"image/png"``.
        file_base64: the content, base64-encoded.
        file_path: a path to read the content from.
        file_data: the content as bytes.

    Raises:
        ValueError: no content was given, or ``file_base64`` is not valid base64.
        TypeError: an argument has the wrong type.
        OSError: ``file_path`` cannot be read.
    """

    __slots__ = ("_base64", "_name", "_type")

    def __init__(
        self,
        file_name: str | None = None,
        file_type: str | None = None,
        file_base64: str | None = None,
        file_path: str | os.PathLike[str] | None = None,
        file_data: bytes | None = None,
    ) -> None:
        for arg, value in (("file_name", file_name), ("file_type", file_type)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{arg} must be a str or None, got {type(value).__name__}")
        if file_base64 is not None:
            if not isinstance(file_base64, str):
                raise TypeError(
                    f"file_base64 must be a base64 str, got {type(file_base64).__name__}"
                )
            try:
                base64.b64decode(file_base64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"file_base64 is not valid base64: {exc}") from exc
            content = file_base64
        elif file_path is not None:
            with open(file_path, "rb") as fh:
                content = base64.b64encode(fh.read()).decode("ascii")
            file_name = file_name or os.path.basename(os.fspath(file_path))
        elif file_data is not None:
            if not isinstance(file_data, bytes | bytearray | memoryview):
                raise TypeError(f"file_data must be bytes, got {type(file_data).__name__}")
            content = base64.b64encode(bytes(file_data)).decode("ascii")
        else:
            raise ValueError("File needs content: pass file_base64, file_path or file_data")
        if file_type is None and file_name:
            file_type = mimetypes.guess_type(file_name)[0]
        self._name = file_name or "file"
        self._type = file_type or "application/octet-stream"
        self._base64 = content

    @property
    def name(self) -> str:
        """The file's name."""
        return self._name

    @property
    def type(self) -> str:
        """The file's MIME type."""
        return self._type

    @property
    def base64(self) -> str:
        """The file's content, base64-encoded."""
        return self._base64

    @property
    def data(self) -> bytes:
        """The file's content as bytes."""
        return base64.b64decode(self._base64)

    def to_dict(self) -> dict[str, str]:
        """Return the file as a JSON-ready dict (``name``, ``type``, ``base64``)."""
        return {"name": self._name, "type": self._type, "base64": self._base64}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> File:
        """Build a file from :meth:`to_dict`'s output."""
        return cls(
            file_name=payload.get("name"),
            file_type=payload.get("type"),
            file_base64=payload["base64"],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, File):
            return NotImplemented
        return (self._name, self._type, self._base64) == (other._name, other._type, other._base64)

    def __hash__(self) -> int:
        return hash((self._name, self._type, self._base64))

    def __repr__(self) -> str:
        return f"File(name={self._name!r}, type={self._type!r}, {len(self._base64)} base64 chars)"
