"""The address argument of the IPaddr agents, read as the agents read it.

``IPaddr::ip[/mask[/nic[/broadcast]]]`` in haresources: the agents (heartbeat.resources.
agents.ipaddr, ipaddr2, findif) parse it when a takeover runs them, the configuration
check (heartbeat.config.configcheck) when the file is read, so that it reports what the
agents would refuse, with their words.
"""

from __future__ import annotations

import ipaddress
import re


def parse_address_arg(arg: str) -> dict[str, str]:
    """``ip[/mask[/nic[/broadcast]]]`` as the wrappers' sed steps split it: runs of slashes
    count as one, and a third field starting with a digit is the broadcast (no nic)."""
    ip = arg.split("/", 1)[0]
    params = {"ip": ip}
    rest = arg[len(ip):].lstrip("/")
    if not rest:
        return params
    mask = rest.split("/", 1)[0]
    params["cidr_netmask"] = mask
    rest = rest[len(mask):].lstrip("/")
    nic = rest.split("/", 1)[0]
    if nic[:1].isdigit():
        params["broadcast"] = nic
    elif nic:
        params["nic"] = nic
        params["broadcast"] = rest[len(nic):].lstrip("/").split("/", 1)[0]
    return params


def dotted_to_bits(text: str) -> int:
    """The original counts from the lowest set bit; -1 for an unparsable or zero mask."""
    try:
        value = int(ipaddress.IPv4Address(text))
    except ValueError:
        value = 0
    if value == 0:
        return -1
    return 32 - ((value & -value).bit_length() - 1)


def netmask_prefix(text: str) -> int | None:
    """The prefix length of a netmask in bits or dotted; None when findif refuses it."""
    if "." in text:
        bits = dotted_to_bits(text)
        return bits if 1 <= bits <= 32 else None
    if re.fullmatch(r"[1-9][0-9]?", text) and int(text) <= 32:
        return int(text)
    return None


def invalid_netmask(text: str) -> str:
    return f"Invalid netmask specification [{text}]"
