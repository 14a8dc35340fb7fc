"""After a healed partition or a stall: which node keeps a resource group both ran.

pyheartbeat's own answer to split brain (issue 9); the original gives everything up on
both nodes and restarts, which costs the clients ~20 s. Here a group that both nodes
run stays on its home node, the first word of its haresources line, in every
auto_failback mode:

* both nodes compute it from haresources alone, which they read identically, with no
  message history, which is what a partition loses;
* the keeper of a contested group always already runs it: nobody starts anything, the
  other just stops its copy;
* with `auto_failback on` it is where the group would go anyway; with `off` and
  `legacy` it may move a group that sat on the other node before the partition, but
  both nodes ran it during the partition and the home node is the one an admin can
  predict from the file.

A node releases its copy of the other node's groups only once that node said, in a
holdings report marked with `heal`, that it runs them and follows this rule. An
original node never says so: it gives everything up and restarts (its shutdown
notice then leaves us everything) or, when it stalled and so saw no partition, it
keeps what it has and we fall back to the original's restart. Unknown fields are
ignored by the original (wire-protocol §3.4), so the mark is safe to send.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from heartbeat.config.haresources import ResourceGroup
from heartbeat.core.message import Message

HEAL_FIELD = "heal"
ASK, REPLY = "ask", "reply"  # a report that wants the peer's report back, and that answer
ADDRESS_SCRIPTS = ("IPaddr", "IPaddr2")


def heal_report(holdings: str, stable: bool, kind: str) -> Message:
    """Our holdings, marked: we follow the home rule. Only an ASK is answered, so two
    nodes that both noticed the heal exchange at most two reports each."""
    return Message.of(t="resource", rsc_hold=holdings, rtype="full",
                      isstable="1" if stable else "0", **{HEAL_FIELD: kind})


def heal_kind(msg: Message) -> str | None:
    """ASK or REPLY for a marked holdings report, None for anything else."""
    kind = msg.get(HEAL_FIELD)
    return kind if msg.type == "resource" and kind in (ASK, REPLY) else None


def address_of(script: str, args: tuple[str, ...]) -> str | None:
    """The IPv4 address an IPaddr/IPaddr2 resource serves (`192.0.2.100/24/eth0` gives
    `192.0.2.100`); None for any other resource or an argument that is no address."""
    if script not in ADDRESS_SCRIPTS or not args:
        return None
    word = args[0].split("/", 1)[0]
    try:
        return str(ipaddress.IPv4Address(word))
    except ValueError:
        return None


def addresses(groups: Iterable[ResourceGroup]) -> tuple[str, ...]:
    found: list[str] = []
    for group in groups:
        for r in group.resources:
            ip = address_of(r.script, r.args)
            if ip is not None and ip not in found:
                found.append(ip)
    return tuple(found)


def names(groups: Iterable[ResourceGroup]) -> str:
    return ", ".join(g.key for g in groups) or "none"
