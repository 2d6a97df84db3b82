"""Codecs: session records to bytes and back, exactly, or a clear refusal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import io
import json
import math
import pickle
import struct
import sys
import textwrap
import threading
import types
import zoneinfo
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import (
    Bot,
    File,
    Intent,
    IntentClassifierPrediction,
    MatchedParameter,
    Reply,
    fallback_intent,
)
from runtime.errors import SessionValueError, StoreCorruptError
from runtime.session import SessionData
from runtime.store._codec import Codec, JsonCodec, PickleCodec

# -- a bot module: the bot's functions and the types its sessions hold live in one module ------

_BOT_SOURCE = """
from __future__ import annotations

import dataclasses
import enum
from typing import Any

post_init_calls = []


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@dataclasses.dataclass(slots=True)
class Item:
    name: str
    price: Any
    tags: Any = ()


@dataclasses.dataclass
class Box:
    label: str
    content: Any
    count: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        post_init_calls.append(self.label)


class Shop:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Receipt:
        total: Any


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Perm(enum.Flag):
    R = 1
    W = 2
    X = 4


def start_body(session: Any) -> None:
    session.reply("hello")
"""

bot_module = types.ModuleType("codec_test_bot_module")
sys.modules[bot_module.__name__] = bot_module  # dataclasses look their module up while created
exec(compile(textwrap.dedent(_BOT_SOURCE), "<codec_test_bot_module>", "exec"), vars(bot_module))
Point = bot_module.Point
Item = bot_module.Item
Box = bot_module.Box
Receipt = bot_module.Shop.Receipt
Color = bot_module.Color
Level = bot_module.Level
Perm = bot_module.Perm


@dataclasses.dataclass
class Stranger:
    """A dataclass outside the bot's modules: refused unless passed in ``types``."""

    name: str


class MyDict(dict[str, Any]):
    pass


class MyStr(str):
    pass


def make_bot() -> Bot:
    bot = Bot("codec")
    bot.new_state("start", initial=True).set_body(bot_module.start_body)
    bot.new_intent("hello", ["hello", "hi"])
    return bot


def bound_codec(**kwargs: Any) -> JsonCodec:
    codec = JsonCodec(**kwargs)
    codec.bind(make_bot())
    return codec


def round_trip(codec: Codec, data: dict[str, Any]) -> dict[str, Any]:
    return codec.decode("s", codec.encode(SessionData("s", "start", data))).data


def typed(value: Any) -> Any:
    """Return a hashable picture of ``value`` that tells apart every type (and nan, -0.0)."""
    kind = type(value)
    if kind is float:
        return kind, repr(value)
    if kind in (list, tuple):
        return kind, tuple(typed(v) for v in value)
    if kind in (set, frozenset):
        return kind, frozenset(typed(v) for v in value)
    if kind is dict:
        return kind, tuple((typed(k), typed(v)) for k, v in value.items())
    if kind is Decimal:
        return kind, str(value)
    if kind in (dt.datetime, dt.time):
        return kind, value.replace(tzinfo=None).isoformat(), value.fold, typed(value.tzinfo)
    if kind is dt.timezone:
        return kind, value.utcoffset(None), value.tzname(None)
    if dataclasses.is_dataclass(value):
        fields = dataclasses.fields(value)
        return kind, tuple((f.name, typed(getattr(value, f.name))) for f in fields)
    return kind, value


# -- strategies -------------------------------------------------------------------------------

_offsets = st.timedeltas(
    min_value=-dt.timedelta(hours=23, minutes=59), max_value=dt.timedelta(hours=23, minutes=59)
)
_zones = st.one_of(
    st.none(),
    st.just(dt.UTC),
    st.builds(dt.timezone, _offsets),
    st.builds(dt.timezone, _offsets, st.text(min_size=1, max_size=4)),
    st.timezones(),
)


def _scalars(*, nan: bool) -> st.SearchStrategy[Any]:
    """Leaves that are hashable (set items, dict keys)."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=nan, allow_infinity=nan),
        st.text(max_size=8),
        st.binary(max_size=8),
        st.datetimes(timezones=_zones),
        st.dates(),
        st.times(timezones=_zones),
        st.timedeltas(),
        st.decimals(allow_nan=False, allow_infinity=nan),
        st.uuids(),
        st.builds(File, file_name=st.text(max_size=6), file_data=st.binary(max_size=8)),
        st.builds(Point, st.integers(), st.integers()),
        st.sampled_from([*Color, *Level, Perm.R, Perm.R | Perm.W, Perm(0)]),
    )


def _values(*, nan: bool) -> st.SearchStrategy[Any]:
    hashables = st.recursive(
        _scalars(nan=nan),
        lambda inner: st.one_of(
            st.tuples(inner, inner),
            st.frozensets(inner, max_size=3),
            st.builds(Receipt, inner),
        ),
        max_leaves=6,
    )
    keys = st.one_of(st.just("$t"), st.just("v"), st.text(max_size=4))
    leaves = st.one_of(hashables, st.decimals(allow_nan=nan)) if nan else hashables
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(tuple),
            st.sets(hashables, max_size=4),
            st.frozensets(hashables, max_size=4),
            st.dictionaries(keys, children, max_size=4),
            st.dictionaries(hashables, children, max_size=3),
            st.builds(Item, st.text(max_size=4), children, children),
            st.builds(Box, st.text(max_size=4), children),
        ),
        max_leaves=24,
    )


_session_keys = st.one_of(st.just("$t"), st.text(max_size=6))


# -- round trips ------------------------------------------------------------------------------


@given(st.dictionaries(_session_keys, _values(nan=False), max_size=4))
def test_every_accepted_value_comes_back_equal_and_of_the_same_types(
    data: dict[str, Any],
) -> None:
    codec = bound_codec()
    for key, value in data.items():
        codec.check(key, value)
    decoded = round_trip(codec, data)
    assert decoded == data
    assert typed(decoded) == typed(data)


@given(st.dictionaries(_session_keys, _values(nan=True), max_size=4))
def test_nan_infinities_and_nan_decimals_come_back_exactly(data: dict[str, Any]) -> None:
    assert typed(round_trip(bound_codec(), data)) == typed(data)


def test_a_full_record_comes_back_with_the_bound_bots_own_intent_file_and_memory_order() -> None:
    bot = make_bot()
    codec = JsonCodec()
    codec.bind(bot)
    hello = bot.get_intent("hello")
    assert hello is not None
    memory: OrderedDict[str, tuple[str, ...]] = OrderedDict(
        (f"m{i}", (f"reply {i}", "again")) for i in (5, 1, 9, 3)
    )
    record = SessionData(
        "user-1",
        "start",
        {"name": "Ada", "point": Point(1, 2)},
        [("hi", 1), ("hello", 0)],
        IntentClassifierPrediction(
            hello,
            0.75,
            "hi",
            [MatchedParameter("when", dt.date(2024, 5, 1), {"day": True}), MatchedParameter("x")],
        ),
        File(file_name="cat.png", file_data=b"\x89PNG"),
        "hi",
        memory,
    )
    decoded = codec.decode("user-1", codec.encode(record))
    assert decoded == record
    assert decoded.predicted_intent is not None
    assert decoded.predicted_intent.intent is hello
    assert all(type(entry) is tuple for entry in decoded.chat_history)
    assert decoded.replies_by_message_id is not None
    assert list(decoded.replies_by_message_id) == ["m5", "m1", "m9", "m3"]
    assert all(type(replies) is tuple for replies in decoded.replies_by_message_id.values())


def test_an_empty_record_comes_back_equal() -> None:
    codec = bound_codec()
    assert codec.decode("s", codec.encode(SessionData("s"))) == SessionData("s")


def test_the_payload_is_utf8_json_with_a_format_version() -> None:
    payload = bound_codec().encode(SessionData("s", data={"café": "crème"}))
    document = json.loads(payload.decode("utf-8"))
    assert document["v"] == 1
    assert "café" in payload.decode("utf-8")


def test_intents_the_bot_does_not_know_become_stand_ins_and_fallback_stays_itself() -> None:
    bot = make_bot()
    codec = JsonCodec()
    codec.bind(bot)
    for intent, expected in ((fallback_intent, fallback_intent), (Intent("gone"), None)):
        record = SessionData("s", predicted_intent=IntentClassifierPrediction(intent, 0.5))
        decoded = codec.decode("s", codec.encode(record)).predicted_intent
        assert decoded is not None
        assert decoded.intent.name == intent.name
        if expected is not None:
            assert decoded.intent is expected


def test_an_unbound_codec_decodes_intents_by_name_only() -> None:
    hello = make_bot().get_intent("hello")
    assert hello is not None
    codec = JsonCodec()
    record = SessionData("s", predicted_intent=IntentClassifierPrediction(hello, 1.0))
    decoded = codec.decode("s", codec.encode(record)).predicted_intent
    assert decoded is not None
    assert decoded.intent.name == "hello"
    assert decoded.intent is not hello


def test_a_non_finite_score_and_huge_ints_are_stored_by_the_strict_pass() -> None:
    bot = make_bot()
    codec = JsonCodec()
    codec.bind(bot)
    hello = bot.get_intent("hello")
    assert hello is not None
    prediction = IntentClassifierPrediction(
        hello, math.inf, "", [MatchedParameter("n", -(10**5000))]
    )
    record = SessionData("s", data={"big": 10**5000, "x": [math.nan]}, predicted_intent=prediction)
    decoded = codec.decode("s", codec.encode(record))
    assert decoded.data["big"] == 10**5000
    assert math.isnan(decoded.data["x"][0])
    assert decoded.predicted_intent == prediction


def test_times_keep_their_zone_offset_name_fold_and_microseconds() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    named = dt.timezone(dt.timedelta(hours=5, minutes=30, microseconds=7), "IST")
    values = {
        "paris": dt.datetime(2023, 10, 29, 2, 30, 0, 123456, tzinfo=paris, fold=1),
        "named": dt.datetime(1, 1, 1, tzinfo=named),
        "utc": dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC),
        "time": dt.time(12, 0, 0, 5, tzinfo=named, fold=1),
    }
    decoded = round_trip(bound_codec(), values)
    assert typed(decoded) == typed(values)
    assert decoded["paris"].tzinfo is paris
    assert decoded["utc"].tzinfo is dt.UTC


def test_strings_with_lone_surrogates_come_back() -> None:
    assert round_trip(bound_codec(), {"s": "a\ud800b"}) == {"s": "a\ud800b"}


def test_aliased_values_come_back_equal_but_not_shared() -> None:
    shared = [1, 2]
    decoded = round_trip(bound_codec(), {"pair": [shared, shared]})
    assert decoded == {"pair": [[1, 2], [1, 2]]}
    assert decoded["pair"][0] is not decoded["pair"][1]


def test_a_dict_holding_the_tag_key_comes_back_as_that_dict() -> None:
    data = {"$t": "tuple", "v": {"$t": "bytes", "v": "AA=="}}
    assert round_trip(bound_codec(), {"$t": data}) == {"$t": data}


# -- rich replies in the chat history and the message_id memory ------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(8)


def rich_replies() -> list[Reply]:
    return [
        Reply.markdown("**hi**"),
        Reply.html("<i>hi</i>"),
        Reply.options(["yes", "no"]),
        Reply.file(File(file_name="a.txt", file_data=b"abc")),
        Reply.image(PNG, name="cat.png"),
        Reply.location(-33.8688, 151.2093),
        # Content that looks like the codec's own tags must come back as it is.
        Reply.json({"$t": "tuple", "v": [1, {"$t": "bytes"}], "n": None, "f": 0.1}),
        Reply.text("typed text"),
    ]


def exactly(texts: Any) -> list[tuple[type, str, str | None, Any]]:
    """Return what tells replies apart beyond ==: type, text, kind and content."""
    return [(type(t), str(t), getattr(t, "kind", None), getattr(t, "content", None)) for t in texts]


def rich_record(*extra: str) -> SessionData:
    replies = [*rich_replies(), *extra]
    return SessionData(
        "s",
        "start",
        {"n": 1},
        [("hi", 1), *((reply, 0) for reply in replies), ("plain", 0)],
        message="hi",
        replies_by_message_id=OrderedDict([("m1", ("plain", *replies)), ("m2", ("x",))]),
    )


@pytest.mark.parametrize("codec", [bound_codec(), PickleCodec()], ids=["json", "pickle"])
@pytest.mark.parametrize(
    ("extra", "data"),
    [((), {}), (("lone \ud800 surrogate",), {}), ((), {"nan": math.nan})],
    ids=["orjson", "surrogates", "strict-pass"],
)
def test_rich_replies_come_back_with_their_kind_text_and_content(
    codec: Codec, extra: tuple[str, ...], data: dict[str, Any]
) -> None:
    record = rich_record(*extra)
    record.data.update(data)
    decoded = codec.decode("s", codec.encode(record))
    assert exactly(text for text, _ in decoded.chat_history) == exactly(
        text for text, _ in record.chat_history
    )
    assert [sender for _, sender in decoded.chat_history] == [1, *[0] * (len(extra) + 9)]
    assert decoded.replies_by_message_id is not None
    assert record.replies_by_message_id is not None
    assert list(decoded.replies_by_message_id) == ["m1", "m2"]
    for message_id, replies in record.replies_by_message_id.items():
        stored = decoded.replies_by_message_id[message_id]
        assert type(stored) is tuple
        assert exactly(stored) == exactly(replies)


def test_a_reply_with_a_lone_surrogate_comes_back() -> None:
    codec = bound_codec()
    reply = Reply.json(["\udc80", {"k": "\ud800"}])
    record = SessionData("s", chat_history=[(Reply.markdown("a\ud800"), 0), (reply, 0)])
    decoded = codec.decode("s", codec.encode(record))
    assert exactly(t for t, _ in decoded.chat_history) == exactly(t for t, _ in record.chat_history)


def test_records_without_rich_replies_are_written_as_before() -> None:
    record = SessionData(
        "s",
        "start",
        {"n": 1},
        [("hi", 1), ("hello", 0)],
        message="hi",
        replies_by_message_id=OrderedDict([("m1", ("hello",))]),
    )
    assert bound_codec().encode(record) == (
        b'{"v":1,"id":"s","state":"start","data":{"n":1},"intent":null,"file":null,'
        b'"message":"hi","history":[["hi",1],["hello",0]],"replies":[["m1",["hello"]]]}'
    )


def test_a_rich_reply_is_written_as_kind_text_and_content_json() -> None:
    record = SessionData("s", chat_history=[(Reply.options(["a", "b"]), 0)])
    document = json.loads(bound_codec().encode(record))
    assert document["history"] == [[["options", "a | b", '["a","b"]'], 0]]


class Mood(enum.StrEnum):
    HAPPY = "happy"


@pytest.mark.parametrize("extra", [(), ("\ud800",)], ids=["orjson", "json"])
def test_other_str_subclasses_in_replies_are_stored_as_plain_text(extra: tuple[str, ...]) -> None:
    record = SessionData(
        "s",
        chat_history=[(Mood.HAPPY, 0), (MyStr("mine"), 0), *((e, 0) for e in extra)],
        replies_by_message_id=OrderedDict([("m", (Mood.HAPPY, MyStr("mine")))]),
    )
    decoded = bound_codec().decode("s", bound_codec().encode(record))
    assert exactly(t for t, _ in decoded.chat_history) == exactly(["happy", "mine", *extra])
    assert decoded.replies_by_message_id is not None
    assert exactly(decoded.replies_by_message_id["m"]) == exactly(["happy", "mine"])


def test_a_hand_made_reply_whose_content_is_not_json_is_refused_at_encode() -> None:
    record = SessionData("s", chat_history=[(Reply("json", "x", {1, 2}), 0)])
    with pytest.raises(SessionValueError, match=r"a json reply cannot be stored.*set"):
        bound_codec().encode(record)


# -- dataclasses and enums --------------------------------------------------------------------


def test_the_bot_modules_dataclasses_and_enums_come_back_without_running_init() -> None:
    box = Box("b", [Item("pen", Decimal("1.50"), tags={Color.RED}), Receipt(Level.HIGH)])
    box.count = 3
    calls = len(bot_module.post_init_calls)
    decoded = round_trip(bound_codec(), {"box": box, "perm": Perm.R | Perm.X})
    assert decoded == {"box": box, "perm": Perm.R | Perm.X}
    assert decoded["box"].count == 3
    assert type(decoded["box"].content[1]) is Receipt
    assert len(bot_module.post_init_calls) == calls


@pytest.mark.parametrize(
    "value", [Point(1, 2), Item("pen", 1), Receipt(1), Color.RED, Level.LOW, Perm.W]
)
def test_the_bot_modules_types_are_refused_before_bind(value: Any) -> None:
    with pytest.raises(SessionValueError) as raised:
        JsonCodec().check("thing", value)
    assert raised.value.key == "thing"
    assert raised.value.value_type == type(value).__name__
    assert "'thing'" in str(raised.value)
    assert type(value).__name__ in str(raised.value)


def test_a_dataclass_outside_the_bots_modules_is_refused_unless_passed_in_types() -> None:
    with pytest.raises(SessionValueError, match=r"Stranger.*JsonCodec\(types=\.\.\.\)"):
        bound_codec().check("who", Stranger("x"))
    codec = bound_codec(types=[Stranger])
    assert round_trip(codec, {"who": Stranger("x")}) == {"who": Stranger("x")}


def test_types_must_be_dataclasses_or_enums_defined_at_module_level() -> None:
    @dataclasses.dataclass
    class Local:
        x: int

    with pytest.raises(TypeError, match="dataclasses and enums"):
        JsonCodec(types=[dict])
    with pytest.raises(ValueError, match="module level"):
        JsonCodec(types=[Local])


def test_a_dataclass_defined_in_a_function_of_the_bots_module_is_refused() -> None:
    @dataclasses.dataclass
    class Local:
        x: int

    Local.__module__ = bot_module.__name__  # as if a bot function had defined it
    with pytest.raises(SessionValueError, match="cannot be found by name"):
        bound_codec().check("x", Local(1))


# -- refusals ---------------------------------------------------------------------------------


def test_a_refusal_names_the_key_the_innermost_type_and_its_path() -> None:
    lock = threading.Lock()
    value = {"items": [1, 2, Item("pen", lock)]}
    for codec_call in (
        lambda: bound_codec().check("cart", value),
        lambda: bound_codec().encode(SessionData("s", data={"cart": value})),
    ):
        with pytest.raises(SessionValueError) as raised:
            codec_call()
        message = str(raised.value)
        assert raised.value.key == "cart"
        assert raised.value.value_type == type(lock).__name__
        assert "data['cart']['items'][2].price" in message
        assert "json codec" in message
        assert "PickleCodec" in message


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"k": {threading.Lock(): 1}}, "data['x']['k'].keys()[0]"),
        ([{1, 2, object()}], "data['x'][0]{...}"),
    ],
)
def test_refusals_inside_keys_sets_and_zones_say_where(value: Any, where: str) -> None:
    with pytest.raises(SessionValueError, match=r"data\['x'\]") as raised:
        bound_codec().check("x", value)
    assert where in str(raised.value)


def test_a_zone_loaded_from_a_file_is_refused_as_the_datetimes_tzinfo() -> None:
    # The smallest TZif file: version 1, no transitions, one local time type ("ONE", +1h).
    counts = struct.pack(">6l", 0, 0, 0, 0, 1, 4)
    tzif = b"TZif" + bytes(16) + counts + struct.pack(">lBB", 3600, 0, 0) + b"ONE\0"
    zone = zoneinfo.ZoneInfo.from_file(io.BytesIO(tzif))
    with pytest.raises(SessionValueError, match=r"data\['x'\]\.tzinfo is a ZoneInfo"):
        bound_codec().check("x", dt.datetime(2024, 1, 1, tzinfo=zone))


def test_a_cyclic_value_is_refused() -> None:
    cycle: list[Any] = [1]
    cycle.append(cycle)
    with pytest.raises(SessionValueError, match=r"data\['loop'\]\[1\] is a list.*cyclic"):
        bound_codec().check("loop", cycle)


@pytest.mark.parametrize(
    ("value", "base"), [(MyDict(a=1), "dict"), (MyStr("s"), "str"), ([True, MyStr("s")], "str")]
)
def test_subclasses_of_stored_types_are_refused(value: Any, base: str) -> None:
    with pytest.raises(SessionValueError, match=f"subclass of {base}"):
        bound_codec().check("sub", value)


def test_plain_values_pass_the_check() -> None:
    codec = bound_codec()
    for value in ("s", 1, 1.5, math.nan, True, None, [1, "a"], {"a": (1,)}):
        codec.check("k", value)


def test_a_bad_matched_parameter_is_blamed_on_the_predicted_intent() -> None:
    prediction = IntentClassifierPrediction(
        fallback_intent, 0.1, "", [MatchedParameter("p", object())]
    )
    with pytest.raises(
        SessionValueError, match=r"predicted_intent\.matched_parameters\['p'\]\[0\]"
    ):
        bound_codec().encode(SessionData("s", predicted_intent=prediction))


def test_a_bad_score_is_blamed_on_the_predicted_intent() -> None:
    prediction = IntentClassifierPrediction(fallback_intent, 1j)  # type: ignore[arg-type]
    with pytest.raises(SessionValueError, match=r"predicted_intent\['score'\] is a complex"):
        bound_codec().encode(SessionData("s", predicted_intent=prediction))


def test_a_value_nested_too_deeply_is_refused_naming_its_key() -> None:
    deep: list[Any] = []
    for _ in range(sys.getrecursionlimit()):
        deep = [deep]
    with pytest.raises(SessionValueError, match="'deep' is nested too deeply") as raised:
        bound_codec().encode(SessionData("s", data={"fine": [1], "deep": deep}))
    assert raised.value.key == "deep"


# -- corrupt payloads -------------------------------------------------------------------------


def _payload(**changes: Any) -> bytes:
    document = json.loads(bound_codec().encode(SessionData("s", "start", {"a": 1})))
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe\x00", "not a json codec record"),
        (b"not json", "not a json codec record"),
        (b"[1, 2]", "not a json codec record"),
        (_payload(v=2), "format version 2"),
        (_payload(v=True), "format version True"),
        (_payload(id="other"), "session 'other'"),
        (_payload(data={"a": {"$t": "nope", "v": 1}}), "unknown value tag 'nope'"),
        (_payload(data={"a": {"$t": "tuple"}}), "no payload"),
        (_payload(data={"a": {"$t": "tuple", "v": "abc"}}), "not the expected list"),
        (_payload(data={"a": {"$t": "bytes", "v": "!!"}}), "not a json codec record"),
        (_payload(data={"a": {"$t": "set", "v": [[1]]}}), "unhashable"),
        (_payload(data=[1]), "the data is a list"),
        (_payload(history=[["hi", "1"]]), "chat history entry"),
        (_payload(history=[["hi"]]), "not a json codec record"),
        (_payload(replies=[["m", "reply"]]), "message_id memory entry"),
        (_payload(history=[[3, 0]]), "chat history entry"),
        (_payload(history=[[["markdown", "x"], 0]]), r"neither a str nor a \[kind"),
        (_payload(history=[[["markdown", "x", {"a": 1}], 0]]), r"neither a str nor a \[kind"),
        (_payload(history=[[["video", "x", '"x"'], 0]]), "unknown kind 'video'"),
        (_payload(history=[[["json", "x", "{bad"], 0]]), "json reply whose content is not JSON"),
        (_payload(history=[[["markdown", "x", '"x"'], "0"]]), "chat history entry"),
        (_payload(replies=[["m", [["markdown", 1, '"x"']]]]), "a message_id memory reply"),
        (_payload(replies=[["m", ["ok", 3]]]), "a message_id memory reply"),
        (_payload(intent=["x", 1.0]), "not a json codec record"),
        (_payload(file=["a", "b", "not base64!"]), "not valid base64"),
        (_payload(state=3), "the state is a int"),
    ],
)
def test_a_damaged_payload_is_a_store_corrupt_error(payload: bytes, reason: str) -> None:
    with pytest.raises(StoreCorruptError, match=reason) as raised:
        bound_codec().decode("s", payload)
    assert raised.value.session_id == "s"


def test_a_payload_nested_too_deeply_is_a_store_corrupt_error() -> None:
    depth = 100_000
    payload = _payload(data={"a": 1}).replace(
        b'{"a": 1}', b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    )
    with pytest.raises(StoreCorruptError, match="RecursionError"):
        bound_codec().decode("s", payload)


def test_a_missing_field_is_a_store_corrupt_error() -> None:
    document = json.loads(bound_codec().encode(SessionData("s")))
    del document["history"]
    with pytest.raises(StoreCorruptError, match="KeyError"):
        bound_codec().decode("s", json.dumps(document).encode())


def test_a_class_no_longer_accepted_or_present_is_a_store_corrupt_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = bound_codec().encode(SessionData("s", data={"p": Point(1, 2), "c": Color.RED}))
    with pytest.raises(StoreCorruptError, match="the codec serves no bot"):
        JsonCodec().decode("s", payload)
    monkeypatch.delattr(bot_module, "Point")
    with pytest.raises(StoreCorruptError, match="Point of the bot's own modules is not found"):
        bound_codec().decode("s", payload)
    assert b"@bot:Point" in payload


def test_the_bot_s_classes_decode_whatever_name_its_module_was_loaded_under(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bot file loaded by path gets a module name that depends on load order.
    payload = bound_codec().encode(SessionData("s", data={"p": Point(1, 2)}))
    assert bot_module.__name__.encode() not in payload
    renamed = types.ModuleType("a_bot_loaded_under_another_name")
    renamed.Point = Point  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, renamed.__name__, renamed)
    monkeypatch.setattr(Point, "__module__", renamed.__name__)

    def body(session: Any) -> None:
        session.reply("hello")

    body.__module__ = renamed.__name__  # a body of the renamed module: the bot's code is there
    bot = Bot("renamed")
    bot.new_state("s", initial=True).set_body(body)
    codec = JsonCodec()
    codec.bind(bot)
    assert codec.decode("s", payload).data == {"p": Point(1, 2)}


def test_a_member_no_longer_in_its_enum_is_a_store_corrupt_error() -> None:
    payload = bound_codec().encode(SessionData("s", data={"c": Color.RED}))
    with pytest.raises(StoreCorruptError, match="KeyError"):
        bound_codec().decode("s", payload.replace(b'"RED"', b'"BLUE"'))


def test_a_field_missing_from_the_record_gets_its_default() -> None:
    document = json.loads(bound_codec().encode(SessionData("s", data={"i": Item("pen", 1)})))
    del document["data"]["i"]["v"]["tags"]
    decoded = bound_codec().decode("s", json.dumps(document).encode())
    assert decoded.data == {"i": Item("pen", 1, ())}


def test_a_field_no_longer_in_its_dataclass_is_a_store_corrupt_error() -> None:
    payload = bound_codec().encode(SessionData("s", data={"p": Point(1, 2)}))
    with pytest.raises(StoreCorruptError, match="no field 'z'"):
        bound_codec().decode("s", payload.replace(b'"y"', b'"z"'))


# -- the pickle codec -------------------------------------------------------------------------


def test_both_codecs_are_codecs() -> None:
    assert isinstance(JsonCodec(), Codec)
    assert isinstance(PickleCodec(), Codec)
    assert (JsonCodec.name, PickleCodec.name) == ("json", "pickle")


def test_the_pickle_codec_round_trips_a_record_and_rebinds_intents() -> None:
    bot = make_bot()
    codec = PickleCodec()
    codec.bind(bot)
    hello = bot.get_intent("hello")
    assert hello is not None
    record = SessionData(
        "s",
        "start",
        {"anything": Stranger("x"), "cplx": 1j},
        [("hi", 1)],
        IntentClassifierPrediction(hello, 0.5, "hi", [MatchedParameter("a", 1)]),
        File(file_name="a.txt", file_data=b"abc"),
        "hi",
        OrderedDict([("m2", ("r",)), ("m1", ())]),
    )
    codec.check("anything", Stranger("x"))
    decoded = codec.decode("s", codec.encode(record))
    assert decoded == record
    assert decoded.predicted_intent is not None
    assert decoded.predicted_intent.intent is hello


def test_the_pickle_codec_refuses_what_cannot_be_pickled_naming_the_key() -> None:
    codec = PickleCodec()
    with pytest.raises(SessionValueError, match="'lock' of type lock") as raised:
        codec.check("lock", threading.Lock())
    assert raised.value.key == "lock"
    with pytest.raises(SessionValueError, match="'held'"):
        codec.encode(SessionData("s", data={"fine": 1, "held": [threading.Lock()]}))


@pytest.mark.parametrize("payload", [b"not a pickle", b"\x80\x05K\x01.", b""])
def test_the_pickle_codec_turns_damage_into_store_corrupt_errors(payload: bytes) -> None:
    with pytest.raises(StoreCorruptError) as raised:
        PickleCodec().decode("s", payload)
    assert raised.value.session_id == "s"


def test_the_pickle_codec_refuses_another_sessions_record() -> None:
    codec = PickleCodec()
    with pytest.raises(StoreCorruptError, match="session 'a'"):
        codec.decode("b", codec.encode(SessionData("a")))


@pytest.mark.parametrize("codec", [JsonCodec(), PickleCodec()], ids=["json", "pickle"])
def test_a_record_with_parameters_written_before_info_existed_still_reads(codec: Codec) -> None:
    # Before MatchedParameter, a custom classifier's parameters were a {name: value} dict.
    record = SessionData("s", predicted_intent=IntentClassifierPrediction(fallback_intent, 0.5))
    payload = codec.encode(record)
    if isinstance(codec, JsonCodec):
        old = payload.replace(
            b'"intent":["fallback_intent",0.5,"",{}]',
            b'"intent":["fallback_intent",0.5,"",{"city":"Barcelona","n":3}]',
        )
    else:
        fields = list(pickle.loads(payload))
        fields[5] = ("fallback_intent", 0.5, "", {"city": "Barcelona", "n": 3})
        old = pickle.dumps(tuple(fields))
    assert old != payload
    decoded = codec.decode("s", old).predicted_intent
    assert decoded is not None
    assert decoded.matched_parameters == [
        MatchedParameter("city", "Barcelona", {}),
        MatchedParameter("n", 3, {}),
    ]
