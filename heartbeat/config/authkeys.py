"""authkeys: which digest method and key sign and verify cluster messages.

The strict parser accepts what the daemon's keyfile reader accepts (spec §4,
wire-protocol §4.1), including its one ordering rule: an `auth N` line selects the
signing key only for `N ...` lines that come after it.
"""

from __future__ import annotations

import re
import stat
from types import MappingProxyType

from heartbeat.config.errors import Problems, Warning_, numbered_lines, read_config
from heartbeat.record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_INDEX = 15                      # MAXAUTH 16
MAX_LINE_BYTES = 5118               # fgets(buf, 5120) with the newline
METHODS = {"crc": False, "md5": True, "sha1": True}   # method -> needs a key
# keys printed in the examples of ha.d-examples and of the original's documentation
PUBLISHED_KEYS = frozenset({b"replace-me-with-a-long-random-shared-secret", b"HI!", b"Hello!"})

# sscanf whitespace, written out: Python's \s and \d also match non-ASCII characters
_WS = " \t\n\v\f\r"
_AUTH_LINE = re.compile(rf"auth[{_WS}]*([+-]?[0-9]+)(.*)", re.DOTALL)
_KEY_LINE = re.compile(rf"([+-]?[0-9]+)[{_WS}]*([^{_WS}]+)(?:[{_WS}]+([^{_WS}]+))?(.*)", re.DOTALL)


@record
class AuthKey:
    index: int            # 0..15
    method: str           # "crc" | "md5" | "sha1"
    key: bytes | None     # None for crc


@record
class AuthKeys:
    path: str
    active: int                   # the `auth N` index used to sign outgoing messages
    keys: Mapping[int, AuthKey]   # every valid key line, by index (read-only mapping)
    warnings: tuple[Warning_, ...] = ()

    @property
    def signing_key(self) -> AuthKey:
        return self.keys[self.active]


def parse_authkeys(text: str, path: str, mode: int) -> AuthKeys:
    """Parse authkeys text read from a file with ``mode``; raise ConfigErrors listing every problem."""
    problems = Problems(path)
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        # only group/other *read* is fatal in the original; owner and write bits are not checked
        problems.error(None, f"Bad permissions on keyfile [{path}], 600 recommended.")
    keys: dict[int, AuthKey] = {}
    key_lines: dict[int, int] = {}
    auth_lines = 0
    selected: tuple[int, int] | None = None   # (index, line) of the last valid `auth N`
    active: tuple[int, int] | None = None     # (index, line) of the key line that bound it
    for number, line in numbered_lines(text, MAX_LINE_BYTES, problems):
        body = line.lstrip(_WS)
        if body == "" or body.startswith("#"):
            continue
        if body.startswith("a"):
            auth_lines += 1
            index = _auth_line(number, body, problems)
            if index is not None:
                selected = (index, number)
            continue
        key = _key_line(number, body, problems)
        if key is None:
            continue
        if key.index in key_lines:
            problems.warn(number, f"key {key.index} redefined (first on line {key_lines[key.index]}); "
                                  "this line wins")
        keys[key.index], key_lines[key.index] = key, number
        if selected is not None and key.index == selected[0]:
            active = (key.index, number)
    _check_binding(auth_lines, selected, active, key_lines, problems)
    problems.raise_if_any()
    assert active is not None
    _check_strength(keys, key_lines, active[0], problems)
    return AuthKeys(path, active[0], MappingProxyType(keys), tuple(problems.warnings))


def load_authkeys(path: str) -> AuthKeys:
    text, mode = read_config(path, f"Cannot open keyfile [{path}].  Stop.")
    return parse_authkeys(text, path, mode)


def _auth_line(number: int, body: str, problems: Problems) -> int | None:
    m = _AUTH_LINE.match(body)
    if m is None:
        problems.error(number, f"Invalid auth line [{body}]")
        return None
    index = _index(m.group(1))
    if index is None:
        problems.error(number, f"Invalid auth index [{m.group(1)}] (0..{MAX_INDEX})")
        return None
    _ignored(number, m.group(2), problems)
    return index


def _key_line(number: int, body: str, problems: Problems) -> AuthKey | None:
    m = _KEY_LINE.match(body)
    if m is None:
        problems.error(number, f"Auth line [{body}] is invalid.")
        return None
    raw_index, method, key, rest = m.groups()
    index = _index(raw_index)
    if index is None:
        problems.error(number, f"Invalid authnum [{raw_index}] (0..{MAX_INDEX})")
    elif method not in METHODS:
        problems.error(number, f"Invalid authtype [{method}] (crc, md5 or sha1)")
    elif key is not None and not METHODS[method]:
        problems.error(number, f"Auth method [{method}] doesn't use a key")
    elif key is None and METHODS[method]:
        problems.error(number, f"Auth method [{method}] requires a key")
    else:
        _ignored(number, rest, problems)
        # the key's own bytes: read_config decoded the file with surrogateescape
        return AuthKey(index, method, None if key is None else key.encode("utf-8", "surrogateescape"))
    return None


def _index(text: str) -> int | None:
    """A key index as sscanf's %d reads it (sign, leading zeros), or None outside 0..15."""
    value = int(text) if len(text) <= 12 else -1   # no int() of a 5000-digit token
    return value if 0 <= value <= MAX_INDEX else None


def _ignored(number: int, rest: str, problems: Problems) -> None:
    if rest.strip(_WS):
        problems.warn(number, f"text after the key is ignored: [{rest.strip(_WS)}]")


def _check_strength(keys: Mapping[int, AuthKey], key_lines: Mapping[int, int], active: int,
                    problems: Problems) -> None:
    """Keys that protect nothing: the file is valid, but the cluster is open to forgery.

    A peer's message is checked with the key its auth field names, so every key line
    counts, not only the signing one."""
    for index in sorted(keys):
        key, line = keys[index], key_lines[index]
        if key.method == "crc" and index == active:
            problems.warn(line, f"key {index} is crc, which authenticates nothing: anyone who can "
                                "reach the cluster's network can forge its messages; use sha1 with a "
                                "long random key")
        elif key.method == "crc":
            problems.warn(line, f"key {index} is crc, which authenticates nothing, and messages signed "
                                "with any key of this file are accepted: anyone can forge them; "
                                "remove the line")
        elif key.key in PUBLISHED_KEYS:
            shown = key.key.decode("utf-8", "replace")
            problems.warn(line, f"key {index} is the published example key [{shown}]: anyone can "
                                "sign with it; replace it by a long random secret")


def _check_binding(auth_lines: int, selected: tuple[int, int] | None,
                   active: tuple[int, int] | None, key_lines: dict[int, int],
                   problems: Problems) -> None:
    """The daemon binds the signing key when it reads `N method key` after `auth N`."""
    if selected is None:
        if auth_lines == 0:
            problems.error(None, "Missing auth directive in keyfile")
        return
    index, line = selected
    if active is None:
        earlier = key_lines.get(index)
        why = (f": the key line for {index} (line {earlier}) must come after the auth line"
               if earlier is not None and earlier < line else "")
        problems.error(line, f"Auth Key [{index}] not found in keyfile{why}")
    elif active[0] != index:
        problems.warn(line, f"auth {index} has no key line after it; key {active[0]} "
                            f"(line {active[1]}) stays the signing key")
