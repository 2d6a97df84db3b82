"""File: BBF's constructor, validation and round trip."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from runtime import File


def test_a_file_from_bytes_is_base64_encoded() -> None:
    file = File(file_name="cat.png", file_data=b"\x89PNG")
    assert file.name == "cat.png"
    assert file.type == "image/png"
    assert file.base64 == base64.b64encode(b"\x89PNG").decode()
    assert file.data == b"\x89PNG"


def test_a_file_from_a_path_takes_its_name_and_type(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello")
    file = File(file_path=path)
    assert (file.name, file.type, file.data) == ("notes.txt", "text/plain", b"hello")


def test_an_explicit_type_wins_and_unknown_types_default_to_octet_stream() -> None:
    assert File(file_name="x.png", file_type="image/webp", file_data=b"x").type == "image/webp"
    assert File(file_data=b"x").type == "application/octet-stream"
    assert File(file_base64="eA==").name == "file"


def test_a_file_needs_content() -> None:
    with pytest.raises(ValueError, match="pass file_base64, file_path or file_data"):
        File(file_name="empty.txt")


def test_invalid_base64_is_refused() -> None:
    with pytest.raises(ValueError, match="not valid base64"):
        File(file_base64="not base64!")


def test_wrong_types_are_refused() -> None:
    with pytest.raises(TypeError, match="file_data must be bytes"):
        File(file_data="text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="file_name must be a str"):
        File(file_name=3, file_data=b"x")  # type: ignore[arg-type]


def test_a_missing_path_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        File(file_path=tmp_path / "absent.bin")


def test_to_dict_round_trips() -> None:
    file = File(file_name="a.png", file_data=b"abc")
    assert File.from_dict(file.to_dict()) == file
    assert hash(File.from_dict(file.to_dict())) == hash(file)
