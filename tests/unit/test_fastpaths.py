"""The shortcuts an idle node takes for every heartbeat (issue 10) against the general code
they stand in for, both shipped: the flat netstring parser and renderer (heartbeat.core.codec),
the datagrams an authenticator remembers having signed (heartbeat.core.auth), the bare-hex
number reader (heartbeat.core.membership.parse_hex) and the name index of
heartbeat.core.message.Message. Each shortcut either declines (and the general code runs) or
gives exactly what the general code gives, on real packets, on mutations of them and on
random messages."""

from __future__ import annotations

from types import MappingProxyType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartbeat.config.authkeys import AuthKey, AuthKeys
from heartbeat.core import codec
from heartbeat.core.auth import Authenticator
from heartbeat.core.codec import WireError, decode, encode
from heartbeat.core.membership import _scan_hex, parse_hex
from heartbeat.core.message import BINARY, LIST, STRING, STRUCT, Field, Message, from_bytes
from tests.unit.test_codec_fuzz import REAL, any_messages, mutated

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AUTH = Authenticator(AuthKeys("/etc/ha.d/authkeys", 1, MappingProxyType(
    {1: AuthKey(1, "md5", b"halab-shared-secret")})))


def general_parse(data: bytes) -> tuple[Message, int] | WireError:
    try:
        return codec._parse_netstring(data, 0, codec._Budget())
    except WireError as e:
        return e


def check_flat_parse(data: bytes) -> bool:
    """The flat parser declines ``data`` or agrees with the general one; True if it took it."""
    flat = codec._flat_netstring(data)
    if flat is None:
        return False
    assert general_parse(data) == flat
    return True


# -- parsing ----------------------------------------------------------------------------------

def test_real_packets_take_the_flat_parser():
    """Heartbeats, ACKs and ping replies of the real 3.0.6: string and binary fields only."""
    taken = [check_flat_parse(wire) for wire in REAL]
    assert sum(taken) >= len(REAL) - 2, "the lab's packets are nearly all flat"


# what the flat parser must tell from a well-formed field: bytes at its edges and in its head
EDGES = [b"###\n", b"%%%\n", b"\x00", b"=", b"(", b")", b",", b":", b"(0)", b"(1)", b"(2)", b"(3)",
         b"(9)", b"0", b"9", b"12345678:", b"-1:", b" 1:", b"+1:", b"1:", b"\n"]
netstrings = st.one_of(
    st.sampled_from(REAL),
    mutated([w for w in REAL if w.startswith(b"###\n")]),
    st.lists(st.one_of(st.sampled_from(EDGES), st.binary(max_size=6)), max_size=12).map(
        lambda parts: b"###\n" + b"".join(parts)),
)


@FAST
@given(netstrings)
def test_flat_parser_agrees_with_the_general_one(data):
    check_flat_parse(data)


flat_fields = st.one_of(
    st.builds(Field, st.binary(min_size=1, max_size=5).map(from_bytes), st.just(STRING),
              st.binary(max_size=10).map(from_bytes)),
    st.builds(Field, st.binary(min_size=1, max_size=5).map(from_bytes), st.just(BINARY), st.binary(max_size=10)),
)
payloads = st.lists(flat_fields, max_size=8).map(Message).map(codec.render_netstring)


@FAST
@given(payloads, st.binary(max_size=8))
def test_flat_parser_on_rendered_payloads(payload, tail):
    """Any names and values, NUL, "=" and "," included: taken when the general parser takes
    them, with the same fields and end."""
    check_flat_parse(payload + tail)


def test_flat_parser_takes_the_bounds_of_the_general_one():
    field = b"6:(0)a=b,"
    assert codec._flat_netstring(b"###\n" + field * codec.MAX_FIELDS + b"%%%\n") is not None
    too_many = b"###\n" + field * (codec.MAX_FIELDS + 1) + b"%%%\n"
    assert codec._flat_netstring(too_many) is None
    assert isinstance(general_parse(too_many), WireError)
    assert check_flat_parse(b"###\n0000006:(0)a=b,%%%\n")          # 7 digits of length are read
    eight_digits = b"###\n00000006:(0)a=b,%%%\n"                     # 8 are not
    assert codec._flat_netstring(eight_digits) is None
    assert isinstance(general_parse(eight_digits), WireError)


# -- rendering --------------------------------------------------------------------------------

def check_flat_render(msg: Message) -> bool:
    """The flat renderer declines ``msg`` or gives the general encoder's bytes; True if it took it."""
    try:
        general: bytes | type[ValueError] = codec._encode_general(msg, AUTH, "classic", "netstring")
    except ValueError:
        general = ValueError
    try:
        flat = codec._flat_signed_netstring(msg, AUTH)
    except ValueError:
        assert general is ValueError
        return True
    if flat is None:
        return False
    assert flat == general
    return True


def test_real_messages_take_the_flat_renderer():
    """Every flat message of the catalog (its auth field taken off) comes out byte for byte."""
    taken = 0
    for wire in REAL:
        msg = decode(wire, codec_auth_of_catalog())
        msg.remove("auth")
        taken += check_flat_render(msg)
    assert taken >= len(REAL) - 2


def codec_auth_of_catalog() -> Authenticator:
    from tests.unit.test_codec_fuzz import AUTH as CATALOG_AUTH
    return CATALOG_AUTH


names = st.one_of(st.sampled_from(["t", "src", "auth", "(x", "\rx", "a=b", "a\nb", "a\0", "", "é", "\udc80"]),
                  st.text(max_size=4))
# "\udcc3\udca9" is written as the UTF-8 of "é", and read back as "é"
values = st.one_of(st.text(max_size=6), st.sampled_from(["a\nb", "a\x13b", "\0", "\udc80", "é", "\udcc3\udca9"]))
odd_fields = st.one_of(
    st.builds(Field, names, st.just(STRING), values),
    st.builds(Field, names, st.just(BINARY), st.one_of(st.binary(max_size=6), st.binary(max_size=6).map(bytearray))),
    st.builds(Field, names, st.just(LIST), st.lists(st.text(min_size=1, max_size=3), max_size=3).map(tuple)),
    st.builds(Field, names, st.just(STRUCT), st.just(Message.of(a="b"))),
    st.builds(Field, names, st.just(STRING), st.binary(max_size=3)),     # a value of the wrong kind
)


@FAST
@given(st.lists(odd_fields, max_size=6).map(Message))
def test_flat_renderer_agrees_with_the_general_one(msg):
    check_flat_render(msg)


@FAST
@given(any_messages)
def test_flat_renderer_on_any_message(msg):
    check_flat_render(msg)


def test_a_heartbeat_takes_both_flat_paths():
    msg = Message.of(t="status", st="active", dt="1388", protocol="1", src="node1")
    msg.append("srcuuid", b"node1" + bytes(11), BINARY)
    for name, value in (("seq", "2f"), ("hg", "5"), ("ts", "6553f524"), ("ld", "0.08 0.02 0.01 1/99 42"),
                        ("ttl", "4")):
        msg.append(name, value)
    assert check_flat_render(msg)
    wire = encode(msg, AUTH)
    assert check_flat_parse(wire)
    assert decode(wire, AUTH).names() == msg.names() + ["auth"]


# -- numbers ----------------------------------------------------------------------------------

@FAST
@given(st.one_of(st.text(alphabet="0123456789abcdefABCDEFxXgz +-_ \t\u0660", max_size=20),
                 st.integers(0, 2**70).map(lambda n: format(n, "x")),
                 st.integers(0, 2**66).map(lambda n: "0x" + format(n, "x"))))
def test_parse_hex_agrees_with_the_scanner(text):
    assert parse_hex(text) == _scan_hex(text)


# -- the name index of Message ----------------------------------------------------------------

def first(fields: list[Field], name: str) -> Field | None:
    return next((f for f in fields if f.name == name), None)


operations = st.lists(st.tuples(st.sampled_from(["append", "set", "setdefault", "remove", "copy", "look"]),
                                st.sampled_from(["a", "b", "c"]), st.integers(0, 9)), max_size=20)


@FAST
@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=4), operations)
def test_message_lookups_follow_every_change(initial, steps):
    msg = Message([Field(name, STRING, "0") for name in initial])
    for op, name, value in steps:
        if op == "copy":
            msg = msg.copy()
        elif op == "look":
            msg.field(name)       # builds the index
        elif op == "remove":
            msg.remove(name)
        else:
            getattr(msg, op)(name, str(value))
        fields = list(msg)
        for looked in ("a", "b", "c"):
            assert msg.field(looked) == first(fields, looked)
            assert (looked in msg) == (first(fields, looked) is not None)


# -- datagrams read back by their sender ------------------------------------------------------

KEYS = AUTH._keys


def check_remembered(msg: Message) -> bool:
    """What a remembering authenticator gives back for its own datagram is what any other
    decodes it to; True if it was remembered."""
    sender = Authenticator(KEYS, remember=2)
    try:
        wire = encode(msg, sender)
    except ValueError:
        return False
    remembered = sender.recall(wire)
    try:
        expected: Message | type[WireError] = decode(wire, Authenticator(KEYS))
    except WireError:
        expected = WireError
    if remembered is None:
        return False
    assert remembered == expected
    assert decode(wire, sender) == expected
    return True


@FAST
@given(st.lists(st.one_of(st.builds(Field, names, st.just(STRING), values),
                          st.builds(Field, names, st.just(BINARY), st.binary(max_size=6))), max_size=4).map(Message))
def test_a_remembered_datagram_decodes_as_any_other(msg):
    check_remembered(msg)


@FAST
@given(any_messages)
def test_any_remembered_datagram_decodes_as_any_other(msg):
    check_remembered(msg)


def test_own_heartbeats_are_remembered_a_few_at_a_time():
    sender = Authenticator(KEYS, remember=2)
    wires = [encode(Message.of(t="status", seq=str(n)), sender) for n in range(3)]
    assert sender.recall(wires[0]) is None                 # the oldest is forgotten
    assert [decode(w, sender).get("seq") for w in wires] == ["0", "1", "2"]
    mine = decode(wires[2], sender)
    mine.set("seq", "changed")
    assert decode(wires[2], sender).get("seq") == "2"      # each caller gets its own copy
    assert Authenticator(KEYS).recall(wires[2]) is None    # only the signer remembers
    assert not check_remembered(Message.of(t="status", info="\udcc3\udca9"))   # not ASCII: parsed
    assert not check_remembered(Message([Field("_compressed_payload", BINARY, b"x")]))
