"""Message digests: the ``crc``, ``md5`` and ``sha1`` methods of authkeys, sign and verify.

A token is the text ``"<index> <hex digest>"`` that travels in a netstring
trailer or in a classic ``auth`` field. Methods (wire-protocol §4.2):

* ``sha1``, ``md5``: HMAC (RFC 2104) keyed with the key string's bytes;
* ``crc``: CRC-32 with polynomial 0x04C11DB7 fed MSB first, initial value 0,
  result inverted, no length appended; printed like C's ``%lx``, i.e. without
  leading zeros. It is a checksum anyone can forge, kept for interoperability.
"""

from __future__ import annotations

import functools
import re

from heartbeat.config.authkeys import AuthKey, AuthKeys
from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable

    from heartbeat.core.message import Message


@functools.cache
def _crc_table() -> tuple[int, ...]:
    # built on first use, not at import: few clusters sign with crc, and cl_status loads
    # this module through the codec (issue 10)
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


def crc32_msb(data: bytes) -> int:
    """The CRC the ``crc`` method prints (already inverted)."""
    crc = 0
    table = _crc_table()
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc ^ 0xFFFFFFFF


def _crc(key: bytes | None, data: bytes) -> str:
    return format(crc32_msb(data), "x")


def _hmac(algorithm: str) -> Callable[[bytes | None, bytes], str]:
    def digest(key: bytes | None, data: bytes) -> str:
        # hmac loads OpenSSL (~3 ms of CPU): only where a digest is made, since
        # cl_status reaches this module through the codec and signs nothing
        import hmac
        # the one-shot digest: no HMAC object per message (issue 10's idle CPU)
        return hmac.digest(key or b"", data, algorithm).hex()
    return digest


METHODS: dict[str, Callable[[bytes | None, bytes], str]] = {
    "crc": _crc,
    "md5": _hmac("md5"),
    "sha1": _hmac("sha1"),
}


def compute(method: str, key: bytes | None, data: bytes) -> str:
    """The hex digest of ``data`` with one method (KeyError for an unknown method)."""
    return METHODS[method](key, data)


# The daemon reads tokens with sscanf("%d %s"): optional blanks, a signed
# decimal, optional blanks, then the first run of non-blank characters;
# anything after that run is ignored.
_INT_MIN, _INT_MAX = -2**31, 2**31 - 1
_TOKEN = re.compile(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)[ \t\n\v\f\r]*([^ \t\n\v\f\r]+)")


def parse_token(token: str | bytes) -> tuple[int, str] | None:
    """Split ``"<index> <digest>"`` the way the daemon does; None if it cannot."""
    raw = token.encode("utf-8", "surrogateescape") if isinstance(token, str) else token
    m = _TOKEN.match(raw)
    if m is None:
        return None
    # "%d" reads an int: an index that does not fit is no index (and int() of
    # thousands of digits would raise)
    sign, digits = m.group(1)[:1], m.group(1).lstrip(b"+-").lstrip(b"0")
    if len(digits) > 10:
        return None
    index = int(digits or b"0") * (-1 if sign == b"-" else 1)
    if not _INT_MIN <= index <= _INT_MAX:
        return None
    return index, m.group(2).decode("ascii", "surrogateescape")


class Authenticator:
    """Signs with the active key of an authkeys file and checks tokens against all its keys.

    With ``remember``, it also keeps its last ``remember`` signed datagrams with the message
    each decodes to (heartbeat.core.codec gives and asks for them): a node reads its own
    broadcasts and ping echoes back, two of the three packets of every idle heartbeat, and
    a datagram byte for byte one that it signed needs neither parsing nor checking
    (issue 10's idle CPU)."""

    __slots__ = ("_keys", "_remember", "_signed")

    def __init__(self, keys: AuthKeys, *, remember: int = 0) -> None:
        self._keys = keys
        self._remember = remember
        self._signed: dict[bytes, Message] = {}

    def use(self, keys: AuthKeys) -> None:
        """Sign and check with ``keys`` from now on (authkeys reread). In place: the media
        that sign their own packets (ping, serial) hold this object and must not go on with
        the keys of the start-up."""
        self._keys = keys
        self._signed.clear()

    def remember(self, wire: bytes, decoded: Message) -> None:
        """``wire`` was signed here and decodes to ``decoded``; the oldest is forgotten."""
        if self._remember:
            signed = self._signed
            signed[wire] = decoded
            if len(signed) > self._remember:
                del signed[next(iter(signed))]

    def recall(self, wire: bytes) -> Message | None:
        """What ``wire`` decodes to, if it is one of the datagrams remembered (a copy: the
        caller may change it)."""
        decoded = self._signed.get(wire)
        return None if decoded is None else decoded.copy()

    @property
    def active(self) -> int:
        return self._keys.active

    def digest(self, index: int, data: bytes) -> str | None:
        """The digest key ``index`` gives ``data``; None if no such key is configured."""
        key: AuthKey | None = self._keys.keys.get(index)
        if key is None or key.method not in METHODS:
            return None
        return compute(key.method, key.key, data)

    def sign(self, data: bytes) -> str:
        signing = self._keys.signing_key
        return f"{signing.index} {compute(signing.method, signing.key, data)}"

    def check(self, token: str | bytes, data: bytes) -> Verdict:
        """Everything the daemon's log lines need to know about ``token`` for ``data``.

        The index picks both the method and the key. That is what the real
        daemon does for classic ``auth`` fields; for netstring trailers it picks
        the method by the index but always uses the key of its own *active*
        index (wire-protocol §4.5). Both agree on every message a real daemon
        sends, because a daemon signs with its active index; they differ only
        when nodes have different active keys, which therefore cannot be used
        to rotate keys in a cluster that contains real daemons.
        """
        parsed = parse_token(token)
        if parsed is None:
            return Verdict(None, None, None)
        index, received = parsed
        return Verdict(index, received, self.digest(index, data))

    def verify(self, token: str | bytes, data: bytes) -> bool:
        """True if ``token`` is a correct ``"<index> <digest>"`` of ``data`` (see :meth:`check`)."""
        return self.check(token, data).ok


@record
class Verdict:
    index: int | None       # None: the token is not "<index> <digest>"
    received: str | None    # the digest in the token
    computed: str | None    # what key ``index`` gives; None: no such key

    @property
    def ok(self) -> bool:
        import hmac  # see _hmac
        return (self.computed is not None and self.received is not None
                and hmac.compare_digest(self.computed.encode(),
                                        self.received.encode("ascii", "surrogateescape")))
