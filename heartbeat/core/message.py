"""Cluster messages: ordered bags of typed, named fields.

A heartbeat message has no fixed header. It is a list of fields, each with a
name, a type and a value; lookups return the first field of a name, and the
order is kept end to end because authentication digests are computed over
the serialized bytes.

String values are ``str`` decoded from the wire with UTF-8 and
``surrogateescape``, so any byte sequence survives a round trip unchanged and
can be handed to scripts through the environment as the original bytes.
"""

from __future__ import annotations

from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Union
    from collections.abc import Iterator

STRING = 0
BINARY = 1
STRUCT = 2
LIST = 3
COMPRESS = 4
UNCOMPRESS = 5

FIELD_TYPES = (STRING, BINARY, STRUCT, LIST, COMPRESS, UNCOMPRESS)

if TYPE_CHECKING:
    Value = Union[str, bytes, "Message", tuple]


def to_bytes(text: str) -> bytes:
    """Encode a string value back to the exact bytes it was decoded from."""
    return text.encode("utf-8", "surrogateescape")


def from_bytes(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


@record
class Field:
    name: str
    type: int
    value: Value


class Message:
    """An ordered list of fields with first-match lookup."""

    # _first maps each name to its first field, built at the first lookup and kept up to
    # date by the writers: the membership layer looks up about fifteen names in every
    # message, a linear scan each (issue 10's idle CPU)
    __slots__ = ("_fields", "_first")

    def __init__(self, fields: list[Field] | None = None) -> None:
        self._fields: list[Field] = list(fields or ())
        self._first: dict[str, Field] | None = None

    @classmethod
    def of(cls, **strings: str) -> Message:
        """Build a message of string fields in keyword order: ``Message.of(t="status", st="up")``."""
        return cls([Field(name, STRING, value) for name, value in strings.items()])

    def _index(self) -> dict[str, Field]:
        first = self._first
        if first is None:
            # reversed: the last write of a name is its first field
            first = self._first = {f.name: f for f in reversed(self._fields)}
        return first

    # -- reading -------------------------------------------------------
    def __iter__(self) -> Iterator[Field]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: str) -> bool:
        first = self._first
        return name in (self._index() if first is None else first)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and self._fields == other._fields

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={f.value!r}" if f.type == STRING else f"({f.type}){f.name}={f.value!r}"
                          for f in self._fields)
        return f"Message({inner})"

    def field(self, name: str) -> Field | None:
        first = self._first
        return (self._index() if first is None else first).get(name)

    def get(self, name: str, default=None):
        f = self.field(name)
        return default if f is None else f.value

    @property
    def type(self) -> str | None:
        """The message type, field ``t``."""
        value = self.get("t")
        return value if isinstance(value, str) else None

    def names(self) -> list[str]:
        return [f.name for f in self._fields]

    def strings(self) -> Iterator[tuple[str, str]]:
        """(name, value) of every string field, first occurrence of each name only."""
        seen = set()
        for f in self._fields:
            if f.type == STRING and isinstance(f.value, str) and f.name not in seen:
                seen.add(f.name)
                yield f.name, f.value

    # -- writing -------------------------------------------------------
    def append(self, name: str, value: Value, type: int = STRING) -> None:
        field = Field(name, type, value)
        self._fields.append(field)
        if self._first is not None:
            self._first.setdefault(name, field)

    def set(self, name: str, value: Value, type: int = STRING) -> None:
        """Replace the first field of this name in place, or append it."""
        if name not in self._index():
            self.append(name, value, type)
            return
        field = Field(name, type, value)
        fields = self._fields
        for i, f in enumerate(fields):
            if f.name == name:
                fields[i] = field
                break
        self._index()[name] = field

    def setdefault(self, name: str, value: Value, type: int = STRING) -> None:
        """Append the field only if the name is absent."""
        if name not in self:
            self.append(name, value, type)

    def remove(self, name: str) -> None:
        """Remove every field of this name."""
        self._fields = [f for f in self._fields if f.name != name]
        if self._first is not None:
            self._first.pop(name, None)

    def copy(self) -> Message:
        duplicate = Message(self._fields)
        if self._first is not None:
            duplicate._first = dict(self._first)
        return duplicate
