"""The chat page in a real browser: Debian's Chromium, driven by Playwright, on a real gateway.

Every test also checks that the page logged no error: a Content-Security-Policy violation
(an inline script or style, a remote resource) shows up as one, and so would a script error.
The browser is never downloaded: without /usr/bin/chromium the tests fail and say what to do.
"""

from __future__ import annotations

import json
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _web import LiveServer, live_server
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    expect,
    sync_playwright,
)

from runtime import Bot, File, Runtime, Session
from runtime.examples.notebook import bot as notebook
from runtime.platforms.web import WebSettings
from runtime.platforms.web._server import bind

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output"
TIMEOUT_MS = 15_000

WELCOME = [
    "Hi! I am your notebook and I keep up to 3 notes.",
    'Say "add a note", "list my notes" or "clear notes", or send me a picture.',
]
HELP = (
    'Sorry, I didn\'t get that. Say "add a note", "list my notes" or "clear notes", or send me '
    "a picture."
)
ASK = "What should I write down?"
MARKUP = "<img src=x onerror=alert(1)>"


def png(width: int = 96, height: int = 64) -> bytes:
    """A real PNG image of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes((37, 99, 235)) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class Problems:
    """What went wrong in a page: console errors, uncaught errors and dialogs (``alert``)."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(message.text)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_none(self, *, ignore: str | None = None) -> None:
        console = [m for m in self.console if ignore is None or not re.search(ignore, m)]
        assert (console, self.errors, self.dialogs) == ([], [], [])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"the chat page tests drive Debian's Chromium at {CHROMIUM}, which is missing: "
            "install it with `apt-get install chromium` (.ci/run does); Playwright's own "
            "browser downloads are not used",
            pytrace=False,
        )
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


OpenPage = Callable[..., tuple[Page, Problems]]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """Open pages in fresh browser contexts (no token stored); they are closed after the test."""
    contexts = []

    def open_(**context_options: object) -> tuple[Page, Problems]:
        # Options pass through as the test gives them; Playwright types each one.
        context = browser.new_context(**context_options)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        problems = Problems()
        page.on("console", problems.on_console)
        page.on("pageerror", lambda error: problems.errors.append(str(error)))
        page.on("dialog", problems.on_dialog)
        return page, problems

    yield open_
    for context in contexts:
        context.close()


def say(page: Page, text: str) -> None:
    """Type ``text`` into the message field and press Enter."""
    field = page.get_by_label("Message")
    field.fill(text)
    field.press("Enter")


def bot_bubbles(page: Page) -> Locator:
    return page.locator("#messages .bot .bubble")


def screenshot(page: Page, name: str, record_property: Callable[[str, object], None]) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    record_property("screenshot", str(path))
    print(f"screenshot: {path}")
    return path


# -- the notebook, end to end -------------------------------------------------------------------


def test_a_notebook_conversation_with_buttons_and_a_picture_is_restored_after_a_reload(
    tmp_path: Path, open_page: OpenPage, record_property: Callable[[str, object], None]
) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(png())
    page, problems = open_page(viewport={"width": 1000, "height": 900})
    with (
        Runtime(notebook, store=f"sqlite:///{tmp_path}/s.db") as rt,
        live_server(rt) as server,
    ):
        page.goto(server.url)
        expect(bot_bubbles(page)).to_have_text(WELCOME)
        expect(page.locator("#status")).to_have_text("Online")
        expect(page).to_have_title("notebook")  # the bot's name, from /health
        menu = page.locator("#messages .options").first
        expect(menu.get_by_role("button")).to_have_text(
            ["add a note", "list my notes", "clear notes"]
        )

        say(page, "add a note")
        expect(bot_bubbles(page).last).to_have_text(ASK)
        expect(menu.get_by_role("button", name="add a note")).to_be_disabled()  # answered
        page.get_by_label("Message").fill("buy milk")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(bot_bubbles(page).last).to_have_text("Noted: buy milk (1/3)")

        say(page, "hmm?")
        expect(bot_bubbles(page).last).to_have_text(HELP)
        page.locator("#messages .options").last.get_by_role("button", name="list my notes").click()
        expect(page.locator("#messages .user .bubble").last).to_have_text("list my notes")
        expect(bot_bubbles(page).last).to_have_text("1. buy milk")

        page.locator("#file-input").set_input_files(str(picture))
        expect(page.locator("#messages .user .upload .file-name")).to_have_text("cat.png")
        expect(page.locator("#messages .bot .bubble", has_text="Saved picture")).to_have_text(
            "Saved picture cat.png"
        )
        image = page.locator("#messages .bot .bubble.image img")
        expect(image).to_have_attribute("alt", "cat.png")
        expect(image).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
        expect(image).to_have_js_property("naturalWidth", 96)  # it really is decoded and shown

        say(page, "add a note")
        expect(bot_bubbles(page).last).to_have_text(ASK)
        say(page, MARKUP)
        expect(bot_bubbles(page).last).to_have_text(f"Noted: {MARKUP} (2/3)")
        expect(page.locator("#messages .user .bubble").last).to_have_text(MARKUP)
        # Text stays text: the only images are the upload's preview and the bot's picture.
        assert page.locator('#messages img[src="x"]').count() == 0
        assert page.locator("#messages img").count() == 2

        items = page.locator("#messages > li")
        before = items.all_inner_texts()
        upload = page.locator("#messages > li", has=page.locator(".upload")).inner_text()
        assert page.evaluate("localStorage.getItem('runtime-chat-token')")

        page.reload()
        expect(bot_bubbles(page).last).to_have_text(f"Noted: {MARKUP} (2/3)")
        # The whole conversation comes back from the store, but for the upload, which the
        # history does not keep (a file is not a message); answered buttons stay disabled.
        assert items.all_inner_texts() == [text for text in before if text != upload]
        assert page.locator("#messages img").count() == 1
        expect(page.locator("#messages button.option:enabled")).to_have_count(0)
        expect(page.locator("#messages .user .bubble").last).to_have_text(MARKUP)

        screenshot(page, "page.png", record_property)
    problems.assert_none()


# -- every kind of reply --------------------------------------------------------------------------


def kinds_bot() -> Bot:
    """A bot that opens with one reply of every kind."""
    bot = Bot("kinds")
    start = bot.new_state("start", initial=True)

    def body(session: Session) -> None:
        session.reply("plain <b>text</b>")
        session.reply_markdown("**bold** and `code`\n\n<script>alert('markdown')</script>")
        session.reply_html(
            '<p><em>html</em><script>alert("html")</script>'
            '<a href="javascript:alert(1)">bad link</a></p>'
        )
        session.reply_file(File(file_name="notes.txt", file_data=b"hello\n"))
        session.reply_image(png(), name="dot.png")
        session.reply_location(48.8584, 2.2945)
        session.reply_json({"b": [1, 2], "a": None})
        session.reply_options(["yes", "no"])

    start.set_body(body)
    return bot


def test_every_reply_kind_is_rendered_on_a_phone_without_markup_from_text(
    open_page: OpenPage, record_property: Callable[[str, object], None]
) -> None:
    page, problems = open_page(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    with Runtime(kinds_bot()) as rt, live_server(rt) as server:
        page.goto(server.url)
        messages = page.locator("#messages")
        expect(messages.get_by_role("button")).to_have_text(["yes", "no"])

        expect(bot_bubbles(page).first).to_have_text("plain <b>text</b>")
        assert messages.locator("b").count() == 0
        expect(messages.locator(".rich strong")).to_have_text("bold")
        expect(messages.locator(".rich code")).to_have_text("code")
        expect(messages.locator(".rich em")).to_have_text("html")
        assert messages.locator("script").count() == 0
        assert messages.locator('[href^="javascript"]').count() == 0

        link = messages.locator(".file a")
        expect(link).to_have_text("notes.txt")
        expect(link).to_have_attribute("download", "notes.txt")
        expect(link).to_have_attribute("href", re.compile(r"^blob:"))
        with page.expect_download() as download:
            link.click()
        assert Path(download.value.path()).read_bytes() == b"hello\n"

        expect(messages.locator(".image img")).to_have_js_property("naturalWidth", 96)
        expect(messages.locator(".location .coordinates")).to_have_text("48.8584, 2.2945")
        expect(messages.locator(".location a")).to_have_attribute(
            "href", "https://www.openstreetmap.org/?mlat=48.8584&mlon=2.2945#map=16/48.8584/2.2945"
        )
        expect(messages.locator(".json pre")).to_have_text(
            json.dumps({"a": None, "b": [1, 2]}, indent=2)
        )

        messages.get_by_role("button", name="yes").click()
        expect(bot_bubbles(page).last).to_have_text("Sorry, I didn't get it")
        expect(messages.get_by_role("button", name="no")).to_be_disabled()

        # On a phone: only the conversation scrolls, and the composer is at the screen's bottom.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.evaluate("document.documentElement.scrollHeight") <= 844
        composer = page.locator("#composer").bounding_box()
        assert composer is not None
        assert composer["y"] + composer["height"] == pytest.approx(844, abs=1)
        screenshot(page, "page-phone.png", record_property)
    problems.assert_none()


# -- typing and errors ----------------------------------------------------------------------------


def test_typing_shows_while_a_turn_runs_and_a_refused_message_is_marked_not_delivered(
    open_page: OpenPage,
) -> None:
    release = threading.Event()
    bot = Bot("slow")
    start = bot.new_state("start", initial=True)

    def body(session: Session) -> None:
        release.wait(TIMEOUT_MS / 1000)
        session.reply(f"done: {session.message}")

    start.set_fallback_body(body)
    page, problems = open_page()
    with Runtime(bot) as rt, live_server(rt, WebSettings(max_text_chars=20)) as server:
        try:
            page.goto(server.url)
            expect(page.locator("#status")).to_have_text("Online")
            typing = page.locator("#typing")
            expect(typing).to_be_hidden()

            say(page, "take your time")
            expect(typing).to_be_visible()
            release.set()
            expect(bot_bubbles(page)).to_have_text(["done: take your time"])
            expect(typing).to_be_hidden()

            say(page, "x" * 21)
            refused = page.locator("#messages .user.failed")
            expect(refused.locator(".bubble")).to_have_text("x" * 21)
            expect(refused.locator(".failure")).to_have_text("Not delivered")
            expect(page.locator("#notice")).to_have_text("the message is over 20 characters")
            expect(typing).to_be_hidden()
        finally:
            release.set()
    problems.assert_none()


# -- reconnecting -------------------------------------------------------------------------------


class _ServerOnPort(LiveServer):
    """A test gateway on a given port (to stand in for a restarted server)."""

    def __init__(self, runtime: Runtime, settings: WebSettings, port: int) -> None:
        super().__init__(runtime, settings)
        self._sock.close()
        self._sock = bind("127.0.0.1", port)
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


def test_after_a_server_restart_the_page_resumes_and_sends_what_it_kept(
    open_page: OpenPage,
) -> None:
    settings = WebSettings(secret=b"k" * 32)  # tokens survive the restart
    page, problems = open_page()
    with Runtime(notebook) as rt:
        with live_server(rt, settings) as server:
            page.goto(server.url)
            expect(bot_bubbles(page)).to_have_text(WELCOME)
        port = int(server.url.rsplit(":", 1)[1])
        expect(page.locator("#status")).to_have_attribute("data-state", "offline")

        say(page, "list my notes")  # kept by the page while the server is away
        expect(page.locator("#messages .user .bubble")).to_have_text(["list my notes"])

        restarted = _ServerOnPort(rt, settings, port).start()
        try:
            expect(bot_bubbles(page).last).to_have_text("You have no notes yet.")
            expect(page.locator("#status")).to_have_text("Online")
            # The history came back once, and the message was sent once.
            expect(bot_bubbles(page)).to_have_text([*WELCOME, "You have no notes yet."])
            expect(page.locator("#messages .user .bubble")).to_have_text(["list my notes"])
        finally:
            restarted.stop()
    # While the server was away, the browser logged each failed connection.
    problems.assert_none(ignore=r"^WebSocket connection to .* failed")
