"""Wire encodings of cluster messages (wire-protocol §3, §4, §11): pure functions, no I/O.

Two self-identifying encodings carry a :class:`~heartbeat.core.message.Message`:

* netstring, ``###\\n`` + ``len:(type)name=value,`` per field + ``%%%\\n``, followed on
  the network by the trailer ``len:"<index> <digest>",`` over those payload bytes;
  this is what heartbeat 3.0.6 sends on every UDP/ICMP medium;
* classic, ``>>>\\n`` + ``[(type)]name=value\\n`` per field + ``<<<\\n``; on the network
  (2.1.4) followed by a NUL, and authenticated by an ``auth`` field inside.

The classic rendering without framing and without ``auth`` fields is also what the
``auth`` field's digest covers, whatever encoding the message travels in; one
renderer produces all of these forms so the digest always matches the bytes.

Anything the decoders reject raises :class:`WireError`, never another exception;
its ``log`` holds the lines the real daemon logs for the same input (level, text),
so the daemon can log them (subject to ``log_badpack``). Where the real daemon
crashes on an input (malformed field headers, NUL in a string) the wording is ours.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zlib

from heartbeat.core.auth import Authenticator
from heartbeat.core.message import (BINARY, COMPRESS, FIELD_TYPES, LIST, STRING, STRUCT, UNCOMPRESS,
                               Field, Message, from_bytes, to_bytes)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Any, Callable, Protocol
    from collections.abc import Iterable

    from heartbeat.core.message import Value

    class _Decompressor(Protocol):
        """What zlib's and bz2's decompressor objects have in common, and all we use."""
        @property
        def eof(self) -> bool: ...
        def decompress(self, data: bytes, max_length: int, /) -> bytes: ...

MAXMSG = 262144                 # largest datagram a medium reads (less one byte), ipc.h
MAXUNCOMPRESSED = 2 * 1024 * 1024
MAXMSGLINE = 512                # stream lines are read into a buffer of this size, NUL included
MAXLISTLEN = 1024               # a packed list must be shorter than this
MAXDEPTH = 16                   # struct nesting
# Fields in one message, nested ones included. The original bounds only bytes
# (MAXMSG a datagram, MAXUNCOMPRESSED a decompressed one) and grows its field
# arrays 30 at a time, so a 3 KB zlib bomb of 250,000 fields costs it dearly;
# v1 messages have under 20 fields.
MAX_FIELDS = 1000
API_MAGIC = 0x0000ABCD

NETSTRING_START = b"###\n"
NETSTRING_END = b"%%%\n"
CLASSIC_START = b">>>\n"
CLASSIC_END = b"<<<\n"

AUTH_FIELD = "auth"
COMPRESSED_PAYLOAD = "_compressed_payload"
COMPRESSION_ALGORITHM = "_compression_algorithm"

# classic: LF inside a string value travels as 0x13; inside a struct at nesting
# depth d every LF of the nested rendering travels as DEPTH_SYMBOLS[d]
STRING_LF = b"\x13"
DEPTH_SYMBOLS = bytes(range(0x14, 0x20)) + bytes((0x0F, 0x10, 0x11, 0x12))
assert len(DEPTH_SYMBOLS) == MAXDEPTH

Log = list[tuple[str, str]]

_API_HEADER = struct.Struct("=iI")     # host byte order, as ipcsocket.c writes it
_LOGGED_BYTES = 1024                   # the daemon prints whole buffers; we cap them
DUMPED_FIELDS = 20                     # ... and whole messages, field by field


class WireError(Exception):
    """A datagram, FIFO or API body that cannot be accepted.

    ``log`` is a list of ``(level, text)`` lines, level one of
    ``"ERROR"``, ``"WARN"``, ``"info"``; it may be empty (silently dropped input).
    """

    def __init__(self, reason: str, log: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.log: Log = list(log)


class _Truncated(WireError):
    """The data stops before the element being read is complete (streams wait for more)."""


def _c_text(data: bytes) -> str:
    """``data`` as C's ``%s`` prints it: up to the first NUL (capped for our logs)."""
    return from_bytes(data.split(b"\0", 1)[0][:_LOGGED_BYTES])


# -- rendering -----------------------------------------------------------------
# One table: for each field type, how its value is written in netstring and in
# classic text. Struct values recurse through the message renderers below.

def _pack_list(elements: Iterable[str]) -> bytes:
    return b"".join(b"%d:%s," % (len(raw), raw) for raw in map(to_bytes, elements))


def _refuse_nesting(depth: int) -> None:
    """What we write must be what a reader takes back: no struct deeper than MAXDEPTH."""
    if depth >= MAXDEPTH:
        raise ValueError(f"struct nesting deeper than {MAXDEPTH}")


def _classic_struct(value: Message, depth: int) -> bytes:
    _refuse_nesting(depth)
    nested = render_classic(value, depth + 1)
    symbol = DEPTH_SYMBOLS[depth:depth + 1]
    if symbol in nested:
        # the original refuses too: the symbol would turn into LF on the way in
        raise ValueError(f"byte {symbol!r} inside a struct at depth {depth}")
    return nested.replace(b"\n", symbol)


def _netstring_struct(value: Message, depth: int) -> bytes:
    _refuse_nesting(depth)
    return render_netstring(value, depth + 1)


# Any: a field's type says which of Value's kinds its value is, which no static type can
_RENDER: dict[int, tuple[Callable[[Any, int], bytes], Callable[[Any, int], bytes]]] = {
    #            netstring                                classic
    STRING:     (lambda v, d: to_bytes(v),                lambda v, d: to_bytes(v).replace(b"\n", STRING_LF)),
    BINARY:     (lambda v, d: bytes(v),                   lambda v, d: base64.b64encode(v)),
    STRUCT:     (_netstring_struct,                       _classic_struct),
    LIST:       (lambda v, d: _pack_list(v),              lambda v, d: _pack_list(v)),
    # compressed fields stay opaque bytes; classic text has no form of its own for
    # them (they always travel as netstring), so it borrows the binary one
    COMPRESS:   (lambda v, d: bytes(v),                   lambda v, d: base64.b64encode(v)),
    UNCOMPRESS: (_netstring_struct,                       _classic_struct),
}


def _render_fields(msg: Message, classic: bool, depth: int, *, skip_auth: bool = False) -> bytes:
    out = []
    for f in msg:
        if skip_auth and f.name == AUTH_FIELD:
            continue
        name = to_bytes(f.name)
        value = _RENDER[f.type][classic](f.value, depth)
        if classic:
            prefix = b"" if f.type == STRING else b"(%d)" % f.type
            out.append(b"%s%s=%s\n" % (prefix, name, value))
        else:
            body = b"(%d)%s=%s" % (f.type, name, value)
            out.append(b"%d:%s," % (len(body), body))
    return b"".join(out)


def render_netstring(msg: Message, depth: int = 0) -> bytes:
    """The netstring payload ``###\\n...%%%\\n`` (no trailer)."""
    return NETSTRING_START + _render_fields(msg, False, depth) + NETSTRING_END


def render_classic(msg: Message, depth: int = 0) -> bytes:
    """Classic text ``>>>\\n...<<<\\n`` (no NUL)."""
    return CLASSIC_START + _render_fields(msg, True, depth) + CLASSIC_END


def auth_input(msg: Message) -> bytes:
    """What the classic ``auth`` field is a digest of: every other field, classic, unframed."""
    return _render_fields(msg, True, 0, skip_auth=True)


def _with_auth_field(msg: Message, auth: Authenticator) -> Message:
    signed = msg.copy()
    signed.set(AUTH_FIELD, auth.sign(auth_input(msg)))
    return signed


def _netstring_only(msg: Message) -> bool:
    """Messages with nested or compressed fields always travel as netstring, without auth field."""
    return any(f.type in (STRUCT, COMPRESS, UNCOMPRESS) for f in msg)


def _check_encodable(msg: Message, classic: bool, depth: int = 0) -> None:
    """Refuse what the decoders would not give back unchanged (ValueError)."""
    for f in msg:
        _check_name(f, classic)
        if f.type not in FIELD_TYPES:
            raise ValueError(f"field {f.name!r}: unknown type {f.type!r}")
        if f.type == STRING:
            _check_string(f, classic)
        elif f.type in (BINARY, COMPRESS):
            if not isinstance(f.value, (bytes, bytearray, memoryview)):
                raise ValueError(f"field {f.name!r}: binary value must be bytes")
        elif f.type == LIST:
            _check_list(f, classic)
        elif not isinstance(f.value, Message):
            raise ValueError(f"field {f.name!r}: struct value must be a Message")
        else:
            _check_struct(f.value, classic, depth)


def _check_name(f: Field, classic: bool) -> None:
    """A name the parsers split off unchanged: no `=` or NUL; in classic text no newline,
    nor, on a string field, a leading `(` or CR, which the classic parser reads otherwise."""
    name = to_bytes(f.name)
    if not name or b"=" in name or b"\0" in name:
        raise ValueError(f"bad field name {f.name!r}")
    if classic and (b"\n" in name or (f.type == STRING and name[:1] in (b"(", b"\r"))):
        raise ValueError(f"field name {f.name!r} cannot be written as classic text")


def _check_string(f: Field, classic: bool) -> None:
    if not isinstance(f.value, str):
        raise ValueError(f"field {f.name!r}: string value must be str")
    raw = to_bytes(f.value)
    if b"\0" in raw or (classic and STRING_LF in raw):
        raise ValueError(f"field {f.name!r}: value cannot be represented")


def _check_list(f: Field, classic: bool) -> None:
    """Non-empty str elements without NUL (nor newline in classic text), packed under MAXLISTLEN."""
    value = f.value
    if not isinstance(value, tuple) or not all(isinstance(e, str) for e in value):
        raise ValueError(f"field {f.name!r}: list value must be a tuple of str")
    elements = [to_bytes(e) for e in value]
    if any(not e or b"\0" in e or (classic and b"\n" in e) for e in elements):
        raise ValueError(f"field {f.name!r}: list element cannot be represented")
    if len(_pack_list(value)) >= MAXLISTLEN:
        raise ValueError(f"field {f.name!r}: list longer than {MAXLISTLEN - 1} bytes")


def _check_struct(value: Message, classic: bool, depth: int) -> None:
    _refuse_nesting(depth + 1)
    _check_encodable(value, classic, depth + 1)


def _flat_renderings(msg: Message) -> tuple[bytes, bytes] | None:
    """The unframed classic rendering (what the ``auth`` field signs) and netstring rendering
    of a message of string and binary fields only, none named ``auth`` (replaced in place)
    or ``_compressed_payload`` (which decode would take as compressed), that ``encode``
    accepts for netstring; None for any other message.

    This is every message the membership layer stamps, rendered in one pass over its
    fields: ``encode``'s general path checks, copies and renders it three times (issue 10's
    idle CPU). The general path handles whatever this declines, with the same result
    (tests/unit/test_fastpaths.py)."""
    classic, netstring = [], []
    for f in msg:
        name, ftype, value = f.name, f.type, f.value
        raw_name = name.encode("utf-8", "surrogateescape")
        if (not raw_name or b"=" in raw_name or b"\0" in raw_name
                or name == AUTH_FIELD or name == COMPRESSED_PAYLOAD):
            return None
        if ftype == STRING and type(value) is str:
            text = value.encode("utf-8", "surrogateescape")
            if b"\0" in text:
                return None
            classic.append(b"%s=%s\n" % (raw_name, text.replace(b"\n", STRING_LF)))
            body = b"(0)%s=%s" % (raw_name, text)
        elif ftype == BINARY and type(value) is bytes:
            classic.append(b"(1)%s=%s\n" % (raw_name, base64.b64encode(value)))
            body = b"(1)%s=%s" % (raw_name, value)
        else:
            return None
        netstring.append(b"%d:%s," % (len(body), body))
    return b"".join(classic), b"".join(netstring)


def _flat_signed_netstring(msg: Message, auth: Authenticator) -> bytes | None:
    """``encode``'s default (msgfmt classic, netstring on the wire) for a message
    ``_flat_renderings`` takes: the ``auth`` field appended, then the trailer. None otherwise.

    ``auth`` remembers the datagram with the message ``decode`` makes of it: the message and
    its ``auth`` field, when every name and string is ASCII (others might not decode to the
    very same ``str``, e.g. surrogates that stand for a valid UTF-8 sequence)."""
    renderings = _flat_renderings(msg)
    if renderings is None:
        return None
    classic, fields = renderings
    auth_token = auth.sign(classic)
    auth_body = b"(0)auth=%s" % auth_token.encode()
    payload = b"%s%s%d:%s,%s" % (NETSTRING_START, fields, len(auth_body), auth_body, NETSTRING_END)
    token = auth.sign(payload).encode()
    wire = b"%s%d:%s," % (payload, len(token), token)
    if len(wire) >= MAXMSG:
        return None
    if classic.isascii():     # binary values are there in base64
        auth.remember(wire, Message([*msg, Field(AUTH_FIELD, STRING, auth_token)]))
    return wire


def _unsigned_wire(msg: Message, msgfmt: str) -> bytes:
    """A message as written to API clients and as compressed: no digest anywhere."""
    if msgfmt == "classic" and not _netstring_only(msg):
        return render_classic(msg) + b"\0"
    return render_netstring(msg)


def _signed_netstring(msg: Message, auth: Authenticator) -> bytes:
    payload = render_netstring(msg)
    token = auth.sign(payload).encode()
    return payload + b"%d:%s," % (len(token), token)


def _compressed(inner: bytes, auth: Authenticator) -> bytes:
    if len(inner) > MAXUNCOMPRESSED:
        raise ValueError(f"message too large to send ({len(inner)} bytes)")
    outer = Message([Field(COMPRESSED_PAYLOAD, BINARY, zlib.compress(inner)),
                     Field(COMPRESSION_ALGORITHM, STRING, "zlib")])
    wire = _signed_netstring(outer, auth)
    if len(wire) >= MAXMSG:
        raise ValueError(f"message too large to send even compressed ({len(wire)} bytes)")
    return wire


def encode(msg: Message, auth: Authenticator, *, msgfmt: str = "classic",
           encoding: str = "netstring") -> bytes:
    """The bytes a node sends for ``msg``.

    ``encoding``:

    * ``"netstring"`` (3.0.6 on UDP/ICMP): netstring payload + trailer. With
      ``msgfmt="classic"`` (heartbeat's default) the ``auth`` field is first added
      as the last field, or replaced in place, unless the message has nested or
      compressed fields; with ``msgfmt="netstring"`` the fields are sent as given.
    * ``"classic"`` (2.1.4 on UDP): classic text with the ``auth`` field, plus a NUL.
      Messages with nested or compressed fields go as netstring + trailer instead,
      as every version does.
    * ``"serial"``: classic text with the ``auth`` field, no NUL, whatever the fields.

    UDP forms of ``MAXMSG`` bytes or more are sent compressed (§3.5): the unsigned
    serialization is zlib-compressed into a ``_compressed_payload`` message.
    Raises ValueError for a message the encoding cannot carry.
    """
    if msgfmt not in ("classic", "netstring"):
        raise ValueError(f"unknown msgfmt {msgfmt!r}")
    if encoding not in ("netstring", "classic", "serial"):
        raise ValueError(f"unknown encoding {encoding!r}")
    if msgfmt == "classic" and encoding == "netstring":
        wire = _flat_signed_netstring(msg, auth)
        if wire is not None:
            return wire
    return _encode_general(msg, auth, msgfmt, encoding)


def _encode_general(msg: Message, auth: Authenticator, msgfmt: str, encoding: str) -> bytes:
    """``encode`` for any message (valid ``msgfmt`` and ``encoding``)."""
    netstring_only = _netstring_only(msg)
    as_text = encoding == "serial" or (encoding == "classic" and not netstring_only)
    _check_encodable(msg, as_text)
    if encoding == "serial":
        return render_classic(_with_auth_field(msg, auth))
    if as_text:
        signed = _with_auth_field(msg, auth)
        wire = render_classic(signed) + b"\0"
        inner_fmt = "classic"
    else:
        signed = _with_auth_field(msg, auth) if msgfmt == "classic" and not netstring_only else msg
        wire = _signed_netstring(signed, auth)
        inner_fmt = "netstring"
    if len(wire) >= MAXMSG:
        return _compressed(_unsigned_wire(signed, inner_fmt), auth)
    return wire


def encode_api(msg: Message, msgfmt: str = "classic") -> bytes:
    """An API socket body (§11.2): classic text + NUL, or a netstring payload without trailer."""
    if msgfmt not in ("classic", "netstring"):
        raise ValueError(f"unknown msgfmt {msgfmt!r}")
    _check_encodable(msg, msgfmt == "classic" and not _netstring_only(msg))
    return _unsigned_wire(msg, msgfmt)


# -- parsing -------------------------------------------------------------------

# bytes of the offending input quoted in "Couldn't parse an int" lines
ERROR_CONTEXT = 5


def _read_netstring(data: bytes, pos: int) -> tuple[bytes, int]:
    """One ``len:data,`` element at ``pos``: (data, position after the comma)."""
    digits_end = pos
    while digits_end < len(data) and 0x30 <= data[digits_end] <= 0x39 and digits_end - pos < 7:
        digits_end += 1
    if digits_end == pos:
        if pos >= len(data):
            raise _Truncated("netstring cut short")
        raise WireError("netstring length expected", [
            ("ERROR", f"peel_netstring: Couldn't parse an int starting at: {_c_text(data[pos:pos + ERROR_CONTEXT])}")])
    if digits_end >= len(data):
        raise _Truncated("netstring cut short")
    if data[digits_end] != 0x3A:
        raise WireError("netstring length without ':'", [
            ("ERROR", f"peel_netstring: Couldn't parse an int starting at: {_c_text(data[pos:pos + ERROR_CONTEXT])}")])
    start = digits_end + 1
    end = start + int(data[pos:digits_end])
    if end >= len(data):
        raise _Truncated("netstring cut short")
    if data[end] != 0x2C:
        raise WireError("netstring without ','")
    return data[start:end], end + 1


def _unpack_list(packed: bytes) -> tuple[str, ...]:
    elements, pos = [], 0
    while pos < len(packed):
        try:
            element, pos = _read_netstring(packed, pos)
        except WireError as e:
            raise WireError("bad list field", e.log + [
                ("ERROR", "netstring2list: unpacking string list failed")]) from None
        if not element:
            raise WireError("empty list element", [
                ("ERROR", "unpack_string_list:reading len of string error")])
        elements.append(from_bytes(element))
    return tuple(elements)


def _string_value(raw: bytes, name: bytes) -> str:
    if b"\0" in raw:
        # the original aborts in its message audit; we refuse the message instead
        raise WireError("NUL in a string field", [
            ("ERROR", f"string field [{from_bytes(name)}] contains a NUL byte")])
    return from_bytes(raw)


def _base64_value(raw: bytes, name: bytes) -> bytes:
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise WireError("bad base64", [("ERROR", "base64_to_binary() failed")]) from None


def _check_depth(depth: int) -> None:
    if depth >= MAXDEPTH:
        raise WireError("structs nested too deep", [("ERROR", f"convert(): MAXDEPTH exceeded: {depth}")])


class _Budget:
    """The fields one message may still have; parsing stops as soon as it is spent."""
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_FIELDS

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise WireError("too many fields", [("ERROR", f"message of more than {MAX_FIELDS} fields dropped")])


def _netstring_nested(raw: bytes, depth: int, budget: _Budget) -> Message:
    _check_depth(depth)
    try:
        nested, end = _parse_netstring(raw, depth + 1, budget)
    except WireError as e:
        raise WireError("bad struct field", e.log + [
            ("ERROR", "netstring2struct:netstring2msg failed")]) from None
    if end != len(raw):
        raise WireError("bytes after a struct", [("ERROR", "netstring2struct:netstring2msg failed")])
    return nested


def _classic_nested(raw: bytes, depth: int, budget: _Budget) -> Message:
    _check_depth(depth)
    # an LF cannot be in a line; the depth symbol stands for the nested LFs
    text = raw.replace(DEPTH_SYMBOLS[depth:depth + 1], b"\n")
    if not text.startswith(CLASSIC_START):
        raise WireError("struct field without '>>>'", [
            ("WARN", "string2msg_ll: no MSG_START"), ("ERROR", "string2struct(): string2msg_ll failed")])
    try:
        return _parse_classic(text, depth + 1, budget)
    except WireError as e:
        raise WireError("bad struct field", e.log + [
            ("ERROR", "string2struct(): string2msg_ll failed")]) from None


if TYPE_CHECKING:
    _Parser = Callable[[bytes, bytes, int, _Budget], Value]

# per type: value bytes -> field value, (netstring, classic); name bytes only for messages
_PARSE: dict[int, tuple[_Parser, _Parser]] = {
    STRING:     (lambda r, n, d, b: _string_value(r, n),
                 lambda r, n, d, b: _string_value(r.replace(STRING_LF, b"\n"), n)),
    BINARY:     (lambda r, n, d, b: r,                          lambda r, n, d, b: _base64_value(r, n)),
    STRUCT:     (lambda r, n, d, b: _netstring_nested(r, d, b), lambda r, n, d, b: _classic_nested(r, d, b)),
    LIST:       (lambda r, n, d, b: _unpack_list(r),            lambda r, n, d, b: _unpack_list(r)),
    COMPRESS:   (lambda r, n, d, b: r,                          lambda r, n, d, b: _base64_value(r, n)),
    UNCOMPRESS: (lambda r, n, d, b: _netstring_nested(r, d, b), lambda r, n, d, b: _classic_nested(r, d, b)),
}


def _netstring_field(body: bytes, depth: int, budget: _Budget) -> Field:
    if len(body) < 3 or body[0] != 0x28 or body[2] != 0x29 or not 0x30 <= body[1] <= 0x35:
        # the original asserts here and dies; never send it such a field
        raise WireError("bad netstring field header", [
            ("ERROR", f"process_netstring_nvpair: bad field header [{_c_text(body[:16])}]")])
    ftype = body[1] - 0x30
    eq = body.find(b"=", 3)
    name = body[3:eq]
    if eq <= 3 or b"\0" in name:
        raise WireError("netstring field without name", [
            ("WARN", "process_netstring_nvpair: line doesn't contain '='"),
            ("info", _c_text(body[3:]))])
    return Field(from_bytes(name), ftype, _PARSE[ftype][0](body[eq + 1:], name, depth, budget))


def _parse_netstring(data: bytes, depth: int, budget: _Budget) -> tuple[Message, int]:
    """The payload at the start of ``data``: (message, position after ``%%%\\n``)."""
    if not data.startswith(NETSTRING_START):
        raise WireError("no '###'", [("WARN", "netstring2msg_rec: no MSG_START")])
    fields, pos = [], len(NETSTRING_START)
    while not data.startswith(NETSTRING_END, pos):
        if pos >= len(data):
            raise _Truncated("netstring payload without '%%%'", [
                ("ERROR", "netstring2msg_rec: no MSG_END")])
        try:
            body, pos = _read_netstring(data, pos)
        except _Truncated as e:
            raise _Truncated("netstring field cut short", e.log + [
                ("ERROR", "netstring2msg_rec:peel_netstring fails for name/value pair")]) from None
        except WireError as e:
            raise WireError("bad netstring field", e.log + [
                ("ERROR", "netstring2msg_rec:peel_netstring fails for name/value pair"),
                ("ERROR", f"sp={_c_text(data[pos:])}")]) from None
        budget.take()
        fields.append(_netstring_field(body, depth, budget))
    return Message(fields), pos + len(NETSTRING_END)


# The head of a flat field: length (at most 7 digits, as _read_netstring), ":", type 0 or 1,
# a name without NUL up to the first "=".
_FLAT_FIELD = re.compile(rb"([0-9]{1,7}):\(([01])\)([^=\0]+)=")


def _flat_netstring(data: bytes) -> tuple[Message, int] | None:
    """``_parse_netstring`` at depth 0 for a payload of string and binary fields only, each
    well formed; None for anything else, which the general parser then takes (and refuses
    with the original's log lines where it must).

    Every heartbeat, ACK and ping reply has this shape; the general parser's per-field
    calls cost most of an idle node's CPU (issue 10). Same result as the general parser
    on everything it accepts (tests/unit/test_fastpaths.py)."""
    if not data.startswith(NETSTRING_START):
        return None
    fields: list[Field] = []
    pos, size = len(NETSTRING_START), len(data)
    head = _FLAT_FIELD.match
    while not data.startswith(NETSTRING_END, pos):
        m = head(data, pos)
        if m is None or len(fields) == MAX_FIELDS:
            return None
        length, kind, name = m.groups()
        value_at = m.end()
        end = pos + len(length) + 1 + int(length)
        # the "=" must be inside the body, and the body followed by its comma
        if value_at > end or end >= size or data[end] != 0x2C:
            return None
        value = data[value_at:end]
        if kind == b"1":
            fields.append(Field(name.decode("utf-8", "surrogateescape"), BINARY, value))
        elif b"\0" in value:
            return None
        else:
            fields.append(Field(name.decode("utf-8", "surrogateescape"), STRING,
                                value.decode("utf-8", "surrogateescape")))
        pos = end + 1
    return Message(fields), pos + len(NETSTRING_END)


def _classic_field(line: bytes, depth: int, budget: _Budget) -> Field:
    eq = line.find(b"=")
    if eq <= 0:
        raise WireError("classic line without '='", [
            ("ERROR", "ha_msg_add_nv_depth: line doesn't contain '='")])
    name, ftype = line[:eq], STRING
    if name.startswith(b"("):
        if len(name) < 3 or name[2] != 0x29:
            problem = "ha_msg_addraw_ll(): no closing parentheses"
        elif not 0x30 <= name[1] <= 0x39:
            problem = "ha_msg_addraw_ll(): not a number."
        elif name[1] == 0x30:
            problem = "ha_msg_addraw_ll(): wrong type"     # strings carry no prefix
        elif name[1] - 0x30 not in FIELD_TYPES:
            problem = f"add_string_field(): wrong type {name[1] - 0x30}"
        else:
            problem = "ha_msg_addraw_ll: illegal field" if len(name) == 3 else ""
        if problem:
            raise WireError("bad classic field type", [("ERROR", problem)])
        name, ftype = name[3:], name[1] - 0x30
    return Field(from_bytes(name), ftype, _PARSE[ftype][1](line[eq + 1:], name, depth, budget))


def _parse_classic(text: bytes, depth: int, budget: _Budget) -> Message:
    """Classic text starting with ``>>>\\n``: lines up to ``<<<`` or the end; blank lines and
    CR/LF at the start of a line are skipped, a CR before an LF stays in the value."""
    fields, pos, end = [], len(CLASSIC_START), len(text)
    while pos < end:
        while pos < end and text[pos] in b"\r\n":
            pos += 1
        if pos >= end:
            break
        eol = text.find(b"\n", pos)
        eol = end if eol < 0 else eol
        line = text[pos:eol]
        if line == b"<<<":
            break
        budget.take()
        try:
            fields.append(_classic_field(line, depth, budget))
        except WireError as e:
            raise WireError(e.reason, e.log + [
                ("ERROR", "NV failure (string2msg_ll):"),
                ("ERROR", f"Input string: [{_c_text(text)}]"),
                ("ERROR", f"sp={_c_text(text[pos:])}")]) from None
        pos = eol + 1
    return Message(fields)


def _dump(msg: Message) -> Log:
    """The field dump the daemon logs after an authentication failure; the original
    dumps every field, we the first DUMPED_FIELDS of each (nested) message."""
    lines = [("ERROR", f"MSG: Dumping message with {len(msg)} fields")]
    for i, f in enumerate(msg):
        if i == DUMPED_FIELDS:
            lines.append(("ERROR", f"MSG: ... {len(msg) - i} more fields not dumped"))
            break
        # the decoders give each type its kind of value: str, tuple, Message or bytes
        if isinstance(f.value, str):
            lines.append(("ERROR", f"MSG[{i}] : [{f.name}={f.value}]"))
        elif isinstance(f.value, tuple):
            lines.append(("ERROR", f"MSG[{i}] :[(3){f.name}={' '.join(f.value)}]"))
        elif isinstance(f.value, Message):
            lines.append(("ERROR", f"MSG[{i}] : [({f.type}){f.name}=(struct)]"))
            lines.extend(_dump(f.value))
        else:
            lines.append(("ERROR", f"MSG[{i}] : [({f.type}){f.name}=({len(f.value)} bytes)]"))
    return lines


def _verify_trailer(data: bytes, end: int, msg: Message, auth: Authenticator) -> None:
    try:
        trailer, _ = _read_netstring(data, end)
    except WireError as e:
        raise WireError("no authentication trailer", e.log + [
            ("ERROR", "peel_netstring() error in getting auth string")]) from None
    verdict = auth.check(trailer, data[:end])
    if verdict.ok:
        return
    if verdict.index is None:
        problem = [("WARN", "Bad/invalid netstring auth string")]
    elif verdict.computed is None:
        problem = [("WARN", f"Invalid authentication [{verdict.index}] in message!")]
    else:
        problem = [("ERROR", f"authtoken does not match, authtoken={verdict.received}, "
                             f"authstr={verdict.computed}")]
    raise WireError("netstring authentication failed", problem + [
        ("ERROR", f"netstring authentication failed, s={_c_text(data)}, autotoken={_c_text(data[end:])}")]
        + _dump(msg))


def _verify_auth_field(msg: Message, auth: Authenticator) -> None:
    token = msg.get(AUTH_FIELD)
    try:
        data = auth_input(msg)
    except ValueError:        # a struct the original could not render either
        data = None
    verdict = auth.check(token, data or b"") if isinstance(token, str) else None
    if verdict is not None and verdict.ok and data is not None:
        return
    if verdict is None or verdict.index is None:
        shown = "(nil)" if token is None else repr(token)
        problem = [("WARN", f"Bad/invalid auth token, authtoken={shown}")]
    elif verdict.computed is None:
        problem = [("WARN", f"Invalid authentication type [{verdict.index}] in message!")]
    else:
        problem = []
    src = msg.get("src")
    raise WireError("classic authentication failed", problem + [
        ("WARN", f"string2msg_ll: node [{src if isinstance(src, str) else '?'}] failed authentication")])


def _bz2_decompressor() -> _Decompressor:
    # bz2 only for a peer that compresses with it: cl_status loads this module (issue 10)
    import bz2
    return bz2.BZ2Decompressor()


_DECOMPRESSORS: dict[str, Callable[[], _Decompressor]] = {
    "zlib": zlib.decompressobj,
    "bz2": _bz2_decompressor,
}


def _decompress(msg: Message) -> Message:
    """Whole-message compression (§3.5): the inner message, parsed without authentication."""
    payload = msg.field(COMPRESSED_PAYLOAD)
    if payload is None or payload.type != BINARY or not isinstance(payload.value, bytes):
        return msg
    algorithm = msg.get(COMPRESSION_ALGORITHM)
    failure = [("ERROR", "decompress msg failed")]
    if not isinstance(algorithm, str):
        raise WireError("compressed message without algorithm", [
            ("ERROR", "compress name not found")] + failure)
    if algorithm not in _DECOMPRESSORS:
        raise WireError("unknown compression", [
            ("ERROR", f"cl_decompressmsg: compress method({algorithm}) is not supported in this machine")]
            + failure)
    if len(payload.value) > MAXMSG:
        raise WireError("compressed payload too long", [
            ("ERROR", f"cl_decompressmsg: field too long({len(payload.value)})")] + failure)
    decompressor = _DECOMPRESSORS[algorithm]()
    try:
        inner = decompressor.decompress(payload.value, MAXUNCOMPRESSED + 1)
        complete = decompressor.eof
    except (zlib.error, OSError, ValueError, EOFError):
        inner, complete = b"", False
    if not complete or len(inner) > MAXUNCOMPRESSED:
        raise WireError("decompression failed", [("ERROR", "cl_decompressmsg: decompression failed")] + failure)
    try:
        result = _parse_unsigned(inner)
    except WireError as e:
        raise WireError("bad compressed message", e.log + [
            ("ERROR", "cl_decompressmsg: wirefmt to msg failed")] + failure) from None
    if result.field(COMPRESSED_PAYLOAD) is not None:
        raise WireError("compressed message inside a compressed message", failure)
    return result


def _classic_text(data: bytes) -> bytes:
    # the daemon reads C strings: nothing after the first NUL exists
    return data.split(b"\0", 1)[0]


def _parse_unsigned(data: bytes) -> Message:
    if data.startswith(NETSTRING_START):
        return _parse_netstring(data, 0, _Budget())[0]
    if data.startswith(CLASSIC_START):
        return _parse_classic(_classic_text(data), 0, _Budget())
    raise WireError("not a heartbeat message")


def _guarded(parse: Callable[[], Message]) -> Message:
    """Run a parse; any slip other than WireError is a bug we still must not leak."""
    try:
        return parse()
    except WireError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, RecursionError, MemoryError) as e:
        raise WireError(f"unparsable message ({type(e).__name__})") from e


def decode(data: bytes, auth: Authenticator) -> Message:
    """A received datagram (any medium), authenticated: netstring by its trailer (the inner
    ``auth`` field is ignored, as by 3.0.6), classic by its ``auth`` field."""
    remembered = auth.recall(data)
    if remembered is not None:
        return remembered
    def parse() -> Message:
        if len(data) >= MAXMSG:
            raise WireError("datagram too long")
        if data.startswith(NETSTRING_START):
            msg, end = _flat_netstring(data) or _parse_netstring(data, 0, _Budget())
            _verify_trailer(data, end, msg, auth)
        elif data.startswith(CLASSIC_START):
            msg = _parse_classic(_classic_text(data), 0, _Budget())
            _verify_auth_field(msg, auth)
        else:
            raise WireError("not a heartbeat message")
        return _decompress(msg)
    return _guarded(parse)


def decode_unsigned(data: bytes) -> Message:
    """A message that carries no authentication: FIFO and API bodies, classic or
    netstring (anything after the payload, e.g. a trailer, is ignored)."""
    def parse() -> Message:
        if len(data) > MAXUNCOMPRESSED:
            raise WireError("message too long")
        return _decompress(_parse_unsigned(data))
    return _guarded(parse)


# -- streams -------------------------------------------------------------------

class FifoReader:
    """Incremental reader of ``/var/lib/heartbeat/fifo`` (§11.1).

    Bytes before a line ``>>>`` or ``###`` are skipped. A classic message is
    read line by line up to ``<<<``; every line, LF included, must fit in
    ``MAXMSGLINE - 1`` bytes. A netstring message is read field by field up to
    ``%%%``. A malformed message is dropped and reading resumes at the next
    start line; what was wrong is collected for :meth:`take_log`. Never raises.
    """

    _SKIP, _CLASSIC, _NETSTRING, _DISCARD = range(4)

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = self._SKIP
        self._message = bytearray()
        self._long_line = False          # inside a line longer than MAXMSGLINE - 1
        self._log: Log = []

    def take_log(self) -> Log:
        """The log lines collected since the last call."""
        log, self._log = self._log, []
        return log

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        while True:
            if self._state == self._NETSTRING:
                if not self._netstring_step(out):
                    return out
            else:
                line = self._next_line()
                if line is None:
                    return out
                self._line_step(line, out)

    def _next_line(self) -> bytes | None:
        """The next whole line (LF included); None until one is complete.
        Over-long lines come back as b"" once their LF has been seen."""
        eol = self._buf.find(b"\n")
        if eol < 0:
            if len(self._buf) >= MAXMSGLINE - 1:
                self._long_line = True
                del self._buf[:]
            return None
        line = bytes(self._buf[:eol + 1])
        del self._buf[:eol + 1]
        if self._long_line or len(line) > MAXMSGLINE - 1:
            self._long_line = False
            return b""
        return line

    def _line_step(self, line: bytes, out: list[Message]) -> None:
        if self._state == self._SKIP:
            if line == CLASSIC_START:
                self._start(self._CLASSIC, line)
            elif line == NETSTRING_START:
                self._start(self._NETSTRING, line)
        elif line == CLASSIC_END:
            if self._state == self._CLASSIC:
                self._finish(bytes(self._message) + line, out)
            self._state = self._SKIP
        elif self._state == self._CLASSIC:
            if not line:
                self._drop("msgfromstream: field too long")
            elif len(self._message) + len(line) >= MAXMSG:
                self._drop("msgfromstream: message too long")
            else:
                self._message += line

    def _start(self, state: int, line: bytes) -> None:
        self._state = state
        self._message = bytearray(line)

    def _drop(self, reason: str) -> None:
        self._log.append(("ERROR", f"{reason}; message dropped"))
        self._state = self._DISCARD

    def _finish(self, text: bytes, out: list[Message]) -> None:
        try:
            out.append(decode_unsigned(text))
        except WireError as e:
            self._log.extend(e.log)
            self._log.append(("ERROR", f"NV failure (msgfromsteam): [{_c_text(text)}]"))

    def _netstring_step(self, out: list[Message]) -> bool:
        """Consume one field or the end of a netstring message; False if more bytes are needed."""
        buf = self._buf
        if buf.startswith(NETSTRING_END):
            del buf[:len(NETSTRING_END)]
            self._state = self._SKIP
            self._finish(bytes(self._message) + NETSTRING_END, out)
            return True
        if len(buf) < len(NETSTRING_END) and NETSTRING_END.startswith(bytes(buf)):
            return False
        try:
            _, end = _read_netstring(buf, 0)
        except _Truncated:
            if len(self._message) + len(buf) < MAXMSG:
                return False
            self._log.append(("ERROR", "msgfromstream_netstring(): message too long; message dropped"))
        except WireError as e:
            if len(buf) < ERROR_CONTEXT:
                # the error line quotes what follows: wait for it, so that how the
                # writer's bytes were split does not change what is logged
                return False
            self._log.extend(e.log)
            self._log.append(("ERROR", "msgfromstream_netstring(): cannot get message"))
        else:
            if len(self._message) + end < MAXMSG:
                self._message += buf[:end]
                del buf[:end]
                return True
            self._log.append(("ERROR", "msgfromstream_netstring(): message too long; message dropped"))
        # resynchronise at the next start line
        self._state = self._SKIP
        eol = buf.find(b"\n")
        del buf[:len(buf) if eol < 0 else eol + 1]
        self._long_line = eol < 0
        return True


def api_frame(body: bytes) -> bytes:
    """One API socket message: int32 length + uint32 magic 0xABCD (host order), then the body."""
    return _API_HEADER.pack(len(body), API_MAGIC) + body


class ApiDeframer:
    """Splits an API stream into message bodies. A bad header means the peer is not
    speaking the protocol: WireError, and the connection should be closed."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        bodies = []
        while len(self._buf) >= _API_HEADER.size:
            length, magic = _API_HEADER.unpack_from(self._buf)
            if magic != API_MAGIC or not 0 <= length <= MAXMSG:
                raise WireError("bad API message header", [
                    ("ERROR", f"API message header: length {length}, magic 0x{magic:x}")])
            end = _API_HEADER.size + length
            if len(self._buf) < end:
                break
            bodies.append(bytes(self._buf[_API_HEADER.size:end]))
            del self._buf[:end]
        return bodies
