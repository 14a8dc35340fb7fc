"""Property tests of the codec: no input makes a decoder raise anything but WireError
(and never through the last-resort guard), every representable message survives
every encoding, and stream readers do not care how their input is chunked."""

import json
from pathlib import Path
from types import MappingProxyType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartbeat.core import codec
from heartbeat.core.auth import Authenticator
from heartbeat.config.authkeys import AuthKey, AuthKeys
from heartbeat.core.codec import (ApiDeframer, FifoReader, WireError, api_frame, decode, decode_unsigned,
                             encode, encode_api)
from heartbeat.core.message import BINARY, COMPRESS, LIST, STRING, STRUCT, UNCOMPRESS, Field, Message, from_bytes

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CATALOG = json.loads((Path(__file__).parent / "data" / "catalog_packets.json").read_text())
AUTH = Authenticator(AuthKeys("/etc/ha.d/authkeys", 1, MappingProxyType(
    {1: AuthKey(1, "md5", b"halab-shared-secret"), 2: AuthKey(2, "crc", None)})))
REAL = [bytes.fromhex(p["hex"]) for p in CATALOG["packets"]]
CLASSIC_REAL = [encode(decode(w, AUTH), AUTH, encoding="classic") for w in REAL]


def refused_cleanly(call) -> None:
    """The call returns or raises WireError of its own making, not a wrapped slip."""
    try:
        call()
    except WireError as e:
        assert not isinstance(e.__cause__, Exception) or isinstance(e.__cause__, WireError), e.__cause__
        assert all(level in ("ERROR", "WARN", "info") and isinstance(text, str) for level, text in e.log)


# -- inputs ---------------------------------------------------------------------------------

@st.composite
def mutated(draw, corpus):
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete", "splice"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8)) or b"("
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        else:
            data[pos:pos] = draw(st.sampled_from([b"###\n", b"%%%\n", b">>>\n", b"<<<\n", b"\x00",
                                                  b"(2)s=", b"(3)l=", b"(1)b=", b"99:", b"0:,", b"\x14"]))
    return bytes(data)


anything = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda b: b"###\n" + b),
    st.binary(max_size=64).map(lambda b: b">>>\n" + b),
    mutated(REAL),
    mutated(CLASSIC_REAL),
)


@FAST
@given(anything)
def test_decode_refuses_cleanly(data):
    refused_cleanly(lambda: decode(data, AUTH))
    refused_cleanly(lambda: decode_unsigned(data))


@FAST
@given(st.lists(anything, max_size=4), st.binary(max_size=16))
def test_fifo_and_api_readers_never_raise_unexpectedly(pieces, junk):
    reader = FifoReader()
    for piece in pieces:
        reader.feed(piece + junk)
    refused_cleanly(lambda: ApiDeframer().feed(b"".join(api_frame(p) for p in pieces) + junk))


# -- messages -------------------------------------------------------------------------------

# bytes a classic text can carry anywhere: no NUL, no 0x13 (stands for LF), no depth symbols
TEXT_BYTES = st.sampled_from([b for b in range(256) if b not in codec.DEPTH_SYMBOLS + b"\x00\x13"])
names = st.lists(TEXT_BYTES.filter(lambda b: b not in b"=\n\r("), min_size=1, max_size=6).map(
    lambda bs: from_bytes(bytes(bs)))
strings = st.lists(TEXT_BYTES, max_size=12).map(lambda bs: from_bytes(bytes(bs)))
elements = st.lists(TEXT_BYTES.filter(lambda b: b != 0x0A), min_size=1, max_size=6).map(
    lambda bs: from_bytes(bytes(bs)))


def fields(inner):
    return st.one_of(
        st.builds(Field, names, st.just(STRING), strings),
        st.builds(Field, names, st.just(BINARY), st.binary(max_size=20)),
        st.builds(Field, names, st.just(LIST), st.lists(elements, max_size=4).map(tuple)),
        st.builds(Field, names, st.just(COMPRESS), st.binary(max_size=20)),
        st.builds(Field, names, st.sampled_from([STRUCT, UNCOMPRESS]), inner),
    )


flat_messages = st.lists(st.one_of(st.builds(Field, names, st.just(STRING), strings),
                                   st.builds(Field, names, st.just(BINARY), st.binary(max_size=20)),
                                   st.builds(Field, names, st.just(LIST),
                                             st.lists(elements, max_size=4).map(tuple))),
                         max_size=8).map(Message)
any_messages = st.recursive(flat_messages, lambda inner: st.lists(fields(inner), max_size=5).map(Message),
                            max_leaves=12)


def without_auth(msg: Message) -> Message:
    msg.remove("auth")
    return msg


@FAST
@given(any_messages, st.sampled_from(["netstring", "classic", "serial"]), st.sampled_from(["classic", "netstring"]))
def test_every_message_survives_every_encoding(msg, encoding, msgfmt):
    msg.remove("auth")
    assert without_auth(decode(encode(msg, AUTH, encoding=encoding, msgfmt=msgfmt), AUTH)) == msg


@FAST
@given(any_messages, st.sampled_from(["classic", "netstring"]))
def test_api_bodies_round_trip(msg, msgfmt):
    assert decode_unsigned(encode_api(msg, msgfmt)) == msg


@FAST
@given(st.lists(st.builds(Field, st.binary(min_size=1, max_size=6).filter(lambda b: b"=" not in b
                                                                         and b"\0" not in b).map(from_bytes),
                          st.just(STRING),
                          st.binary(max_size=12).filter(lambda b: b"\0" not in b).map(from_bytes)),
                max_size=6).map(Message))
def test_netstring_carries_any_string_bytes(msg):
    assert decode(encode(msg, AUTH, msgfmt="netstring"), AUTH) == msg


# -- streams --------------------------------------------------------------------------------

@st.composite
def chunked(draw, data):
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


fifo_streams = st.lists(st.one_of(
    flat_messages.map(lambda m: codec.render_classic(m) if len(m) else b">>>\n<<<\n"),
    flat_messages.map(codec.render_netstring),
    st.binary(max_size=20),
    st.sampled_from([b">>>\n", b"<<<\n", b"###\n", b"\n", b"x" * 600 + b"\n"]),
), max_size=6).map(b"".join)


@FAST
@given(st.data(), fifo_streams)
def test_fifo_chunking_does_not_matter(data, stream):
    whole = FifoReader()
    expected = whole.feed(stream)
    reader, got = FifoReader(), []
    for piece in data.draw(chunked(stream)):
        got += reader.feed(piece)
    assert got == expected
    assert reader.take_log() == whole.take_log()


@FAST
@given(st.data(), st.lists(st.binary(max_size=40), max_size=5))
def test_api_chunking_does_not_matter(data, bodies):
    stream = b"".join(api_frame(b) for b in bodies)
    deframer, got = ApiDeframer(), []
    for piece in data.draw(chunked(stream)):
        got += deframer.feed(piece)
    assert got == bodies
