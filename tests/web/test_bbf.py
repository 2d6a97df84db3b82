"""BBF 1.5's WebSocket payload protocol at the root path, spoken by a client sending exactly
BBF's frames (``json.dumps(payload, cls=PayloadEncoder)``: ``{"action": ..., "message": ...}``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from _web import LiveServer, WsClient, live_server

from runtime import Bot, File, MemoryStore, Runtime, Session
from runtime.examples.greetings import bot as greetings

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def bbf_frame(action: str, message: object = None) -> str:
    """A frame as BBF 1.5's clients build it (PayloadEncoder: json.dumps of the two keys)."""
    return json.dumps({"action": action, "message": message})


def bbf_file_message(name: str, mime: str, data: bytes) -> str:
    """BBF's ``File.get_json_string()``."""
    return json.dumps({"name": name, "type": mime, "base64": base64.b64encode(data).decode()})


def make_rich_bot() -> Bot:
    bot = Bot("bbf-rich")
    start = bot.new_state("start", initial=True)
    shown = bot.new_state("shown")
    got_file = bot.new_state("got_file")
    start.when_file_received_go_to(got_file)
    start.when_no_intent_matched_go_to(shown)

    def start_body(session: Session) -> None:
        session.reply("Hello from BBF land")

    def shown_body(session: Session) -> None:
        session.reply("plain")
        session.reply_markdown("# title")
        session.reply_html("<b>bold</b>")
        session.reply_options(["yes", "no"])
        session.reply_file(File(file_name="notes.txt", file_type="text/plain", file_data=b"hi"))
        session.reply_image(PNG)
        session.reply_location(46.5, 6.6)

    def got_file_body(session: Session) -> None:
        assert session.file is not None
        session.reply(f"got {session.file.name} {session.file.type}")

    start.set_body(start_body)
    shown.set_body(shown_body)
    shown.go_to(start)
    got_file.set_body(got_file_body)
    got_file.go_to(start)
    return bot


@pytest.fixture
def rich() -> Iterator[LiveServer]:
    with Runtime(make_rich_bot()) as rt, live_server(rt) as srv:
        yield srv


def test_a_bbf_client_chats_with_the_greetings_bot_unchanged(server: LiveServer) -> None:
    with WsClient(server.ws_url + "/") as client:
        client.send(bbf_frame("user_message", "hi"))
        assert client.recv() == {"action": "bot_reply_str", "message": "Hi! How are you?"}
        client.send(bbf_frame("user_message", "great"))
        assert client.recv() == {"action": "bot_reply_str", "message": "I am glad to hear that!"}


def test_every_rich_reply_has_bbf_s_action_and_message_form(rich: LiveServer) -> None:
    with WsClient(rich.ws_url + "/") as client:
        assert client.recv() == {"action": "bot_reply_str", "message": "Hello from BBF land"}
        client.send(bbf_frame("user_message", "show"))
        frames = [client.recv() for _ in range(7)]
    assert frames[0] == {"action": "bot_reply_str", "message": "plain"}
    assert frames[1] == {"action": "bot_reply_markdown", "message": "# title"}
    assert frames[2] == {"action": "bot_reply_html", "message": "<b>bold</b>"}
    # BBF: json.dumps({0: "yes", 1: "no"}), a JSON string inside the payload
    assert frames[3] == {"action": "bot_reply_options", "message": '{"0": "yes", "1": "no"}'}
    assert frames[4] == {
        "action": "bot_reply_file",
        "message": {"name": "notes.txt", "type": "text/plain", "base64": "aGk="},
    }
    assert frames[5] == {"action": "bot_reply_image", "message": base64.b64encode(PNG).decode()}
    assert frames[6] == {
        "action": "bot_reply_location",
        "message": {"latitude": 46.5, "longitude": 6.6},
    }


def test_a_bbf_user_file_and_reset_are_understood(rich: LiveServer) -> None:
    with WsClient(rich.ws_url + "/") as client:
        client.recv()  # the greeting
        client.send(bbf_frame("user_file", bbf_file_message("cat.png", "image/png", PNG)))
        assert client.recv() == {"action": "bot_reply_str", "message": "got cat.png image/png"}
        client.send(bbf_frame("reset"))
        assert client.recv() == {"action": "bot_reply_str", "message": "Hello from BBF land"}


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '"a string"',
        '{"message": "no action"}',
        bbf_frame("user_message", 5),
        bbf_frame("user_file", "not a file"),
        bbf_frame("user_voice", "AAAA"),
        bbf_frame("dance", "now"),
    ],
)
def test_a_bad_bbf_frame_gets_an_error_payload_and_the_connection_goes_on(
    server: LiveServer, frame: str
) -> None:
    with WsClient(server.ws_url + "/") as client:
        client.send(frame)
        error = client.recv()
        assert error["action"] == "error"
        assert error["message"]
        client.send(bbf_frame("user_message", "hi"))
        assert client.recv() == {"action": "bot_reply_str", "message": "Hi! How are you?"}


def test_each_connection_is_its_own_session_and_is_forgotten_when_it_closes() -> None:
    store = MemoryStore()
    with (
        Runtime(greetings, store=store) as rt,
        live_server(rt) as srv,
        WsClient(srv.ws_url + "/") as first,
        WsClient(srv.ws_url + "/") as second,
    ):
        first.send(bbf_frame("user_message", "hi"))
        assert first.recv()["message"] == "Hi! How are you?"
        second.send(bbf_frame("user_message", "great"))  # not in the hello state
        assert second.recv()["action"] == "bot_reply_str"
        assert len([s for s in rt.session_ids() if s.startswith("bbf-")]) == 2
    # The server stopped after its connection handlers ended, which asked to forget
    # their sessions; stop() drains those requests.
    assert [s for s in store.session_ids() if s.startswith("bbf-")] == []
