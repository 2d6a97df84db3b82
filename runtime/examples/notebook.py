"""A notebook bot: it keeps a few notes and a picture, and relays reminders.

It uses every kind of transition: intents; "no intent matched" (the note's own text); a
variable (``note_count`` reaching ``MAX_NOTES`` makes the notebook full); a file (PNG or JPEG
pictures only, other files get the fallback reply); and a custom event (a ``reminder`` that a
timer or webhook sends with ``Runtime.send_event``). Besides text it sends rich replies: the
menu as option buttons, and the saved picture back as an image.

Chat with it in a terminal, or in a browser with ``python -m runtime serve
runtime/examples/notebook.py`` (the page shows the options as buttons and the picture)::

    python -m runtime chat runtime/examples/notebook.py
    bot> Hi! I am your notebook and I keep up to 3 notes.
    bot> Say "add a note", "list my notes" or "clear notes", or send me a picture.
    bot> [options] 1) add a note  2) list my notes  3) clear notes
    you> add a note
    bot> What should I write down?
    you> buy milk
    bot> Noted: buy milk (1/3)
    you> /file cat.png
    bot> Saved picture cat.png
    bot> [image] cat.png (image/png, 1,024 bytes)
    you> /event reminder {"text": "stretch your legs"}
    bot> Reminder: stretch your legs
"""

from __future__ import annotations

import operator
from typing import Any

from runtime import Bot, Session

MAX_NOTES = 3
HELP = 'Say "add a note", "list my notes" or "clear notes", or send me a picture.'
#: The menu as buttons, sent after the help text; pressing one sends its text.
MENU = ["add a note", "list my notes", "clear notes"]
#: What a full notebook still understands, as buttons.
FULL_MENU = ["list my notes", "clear notes"]

bot = Bot("notebook")

start = bot.new_state("start", initial=True)
menu = bot.new_state("menu")
writing = bot.new_state("writing")
saving = bot.new_state("saving")
listing = bot.new_state("listing")
clearing = bot.new_state("clearing")
full = bot.new_state("full")
picture = bot.new_state("picture")
reminder = bot.new_state("reminder")

list_notes = bot.new_intent("list_notes", ["list my notes", "show my notes", "read my notes"])
add_note = bot.new_intent("add_note", ["add a note", "new note", "take a note", "remember this"])
clear_notes = bot.new_intent("clear_notes", ["clear notes", "delete all notes"])


def start_body(session: Session) -> None:
    """Welcome the user with an empty notebook."""
    # note_count must always be a number: the full-notebook check runs operator.ge on it,
    # and operator.ge(None, 3) raises.
    session.set("note_count", 0)
    session.reply(f"Hi! I am your notebook and I keep up to {MAX_NOTES} notes.")
    session.reply(HELP)
    session.reply_options(MENU)


def help_body(session: Session) -> None:
    """Say what the notebook understands (the fallback of the menu)."""
    session.reply(f"Sorry, I didn't get that. {HELP}")
    session.reply_options(MENU)


def writing_body(session: Session) -> None:
    """Ask for the note's text; the next message is the note, whatever it says."""
    session.reply("What should I write down?")


def saving_body(session: Session) -> None:
    """Store the message as a note and count it."""
    text = session.message or ""
    # A new list, not append(): a crashed turn is undone by putting the previous values back,
    # which cannot undo a change made inside a stored list.
    session.set("notes", [*(session.get("notes") or []), text])
    session.set("note_count", session.get("note_count") + 1)
    session.reply(f"Noted: {text} ({session.get('note_count')}/{MAX_NOTES})")


def listing_body(session: Session) -> None:
    """Reply with every note, one per line."""
    notes: list[str] = session.get("notes") or []
    if not notes:
        session.reply("You have no notes yet.")
        return
    session.reply(f"Your notes ({len(notes)}/{MAX_NOTES}):")
    for number, note in enumerate(notes, start=1):
        session.reply(f"{number}. {note}")


def clearing_body(session: Session) -> None:
    """Throw every note away."""
    if session.get("notes") is not None:
        session.delete("notes")  # delete raises KeyError for an absent key, as in BBF
    session.set("note_count", 0)
    session.reply("Your notebook is empty now.")


def full_body(session: Session) -> None:
    """Tell the user no more notes fit."""
    session.reply(f'Your notebook is full ({MAX_NOTES} notes). Say "clear notes" to make room.')
    session.reply_options(FULL_MENU)


def full_fallback_body(session: Session) -> None:
    """Say what a full notebook still understands."""
    session.reply('Your notebook is full: say "list my notes" or "clear notes".')
    session.reply_options(FULL_MENU)


def picture_body(session: Session) -> None:
    """Keep the name of the picture the user sent, and show the picture back."""
    file = session.file
    name = file.name if file is not None else "?"
    session.set("picture", name)
    session.reply(f"Saved picture {name}")
    if file is not None:  # the transition lets only PNG and JPEG files in: image/* types
        session.reply_image(file)


def reminder_event(session: Session, params: dict[str, Any]) -> bool:
    """Hold when the event being handled is the one named ``params["name"]``."""
    return session.event is not None and session.event.name == params["name"]


def reminder_body(session: Session) -> None:
    """Relay the reminder's text."""
    payload = session.event.payload if session.event is not None else {}
    session.reply(f"Reminder: {payload.get('text', '(no text)')}")


start.set_body(start_body)
start.go_to(menu)

# The variable transition comes first: it is checked every time the menu is entered, so a full
# notebook moves on to `full` before the menu waits for a message. Listing is the first intent:
# a vague message such as "my notes" ties between intents, ties go to the first one, and
# listing is the harmless guess.
menu.when_variable_matches_operation_go_to("note_count", operator.ge, MAX_NOTES, full)
menu.when_intent_matched_go_to(list_notes, listing)
menu.when_intent_matched_go_to(add_note, writing)
menu.when_intent_matched_go_to(clear_notes, clearing)
menu.when_file_received_go_to(picture, allowed_types=["image/png", "image/jpeg"])
menu.when_event_go_to(reminder_event, reminder, {"name": "reminder"})
menu.set_fallback_body(help_body)

writing.set_body(writing_body)
writing.when_no_intent_matched_go_to(saving)

saving.set_body(saving_body)
saving.go_to(menu)

listing.set_body(listing_body)
listing.go_to(menu)

clearing.set_body(clearing_body)
clearing.go_to(menu)

full.set_body(full_body)
full.when_intent_matched_go_to(list_notes, listing)
full.when_intent_matched_go_to(clear_notes, clearing)
# Without add_note here, "add a note" would be classified among the other two intents only,
# and its one word "note" reaches the classifier's default threshold (0.5) for either.
full.when_intent_matched_go_to(add_note, full)
full.set_fallback_body(full_fallback_body)

picture.set_body(picture_body)
picture.go_to(menu)

reminder.set_body(reminder_body)
reminder.go_to(menu)
