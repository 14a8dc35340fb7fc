"""Group keys by node in haresources lines, as ResourceManager's egrep finds them.

ResourceManager (heartbeat.resources.resourcemanager), the failover engine
(heartbeat.core.failover) and the haresources checks (heartbeat.config.haresources) read
the normalised group lines (each ending in a blank) the same way: pure functions of the
lines, importing nothing but `re`, so that the scripts of a takeover load no parser.
"""

from __future__ import annotations

import re


def egrep_pattern(text: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """``text`` as ResourceManager's egrep reads the names and keys it is given, in linear time.

    Real node names and resource keys hold no egrep operator but '.', which matches any
    character; haresources refuses keys with other operators (`heartbeat.config.haresources`). So
    '.' keeps its meaning and every other character stands for itself: the compiled pattern
    has no repetition or alternation and cannot backtrack, whatever a peer sends as a key.
    """
    body = "".join("." if c == "." else re.escape(c) for c in text)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _lines_of_node(lines: list[str], node: str, *, invert: bool = False) -> list[str]:
    """The lines matching ``^NODE `` case-insensitively (or, ``invert``, the others)."""
    head = egrep_pattern(f"{node} ", ignore_case=True)
    return [line for line in lines if bool(head.match(line)) != invert]


def listkeys(lines: list[str], node: str) -> list[str]:
    """Keys (first resources) of the groups whose node matches ``^NODE `` (any case)."""
    return [line.split(" ")[1] for line in _lines_of_node(lines, node)]


def allkeys(lines: list[str]) -> list[str]:
    """The key of every group (the original's ``listkeys '.*'``)."""
    return [line.split(" ")[1] for line in lines]


def ourkeys(lines: list[str], curhost: str) -> list[str]:
    """Everything after the node of our groups, with the trailing blank."""
    return [line.split(" ", 1)[1] for line in _lines_of_node(lines, curhost)]


def otherkeys(lines: list[str], curhost: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in _lines_of_node(lines, curhost, invert=True)]
