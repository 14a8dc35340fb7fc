"""A node's name as the daemon spells it: its own from nodeinfo or uname, others lower-cased.

Apart from the configuration parsers so that `heartbeat -s`, which only reports the
local node's name, loads none of them.
"""

from __future__ import annotations

import os

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(name: str) -> str:
    """Lower-case A-Z only, as the daemon (and awk in the C locale) does to node names."""
    return name.translate(_ASCII_LOWER)


def local_node_name(ha_dir: str = "/etc/ha.d") -> str:
    """The daemon's name for this node: nodeinfo's first line if it ends in a newline, else uname -n."""
    try:
        with open(os.path.join(ha_dir, "nodeinfo"), "rb") as f:
            first = f.readline()
    except OSError:
        first = b""
    name = first[:-1].decode("utf-8", "surrogateescape") if first.endswith(b"\n") else os.uname().nodename
    return ascii_lower(name)
