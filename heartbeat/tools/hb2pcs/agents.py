"""One haresources resource token -> one Pacemaker primitive (or why it cannot be one).

The heartbeat wrappers in resource.d turn their ``::`` arguments into OCF parameters of
the agent of the same name; Pacemaker runs that agent directly, so the conversion is the
wrapper's argument split, written as named parameters. IPaddr becomes IPaddr2 (IPaddr's
ifconfig aliases are obsolete) with IPaddr's own ARP profile, so neighbours see the same
announcements as before.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable

from heartbeat.resources.agents.delay import DEFAULTS as DELAY_DEFAULTS, WRAPPER_START_DELAY
from heartbeat.config.addressarg import parse_address_arg
from heartbeat.resources.agents.ipaddr import ARP_DEFAULTS
from heartbeat.config.haresources import Resource
from heartbeat.tools.hb2pcs.model import Op, Origin, Primitive

Params = tuple[tuple[str, str], ...]
INIT_STANDARDS = ("lsb", "systemd")
# Pacemaker's built-in timeout is 20s; these are the agents' advertised minimums where larger
DEFAULT_TIMEOUT = "20s"


class NotConvertible(Exception):
    """The reason, said as `file:line: cannot be converted: reason`."""


def _address(ipaddr2: bool) -> Callable[[tuple[str, ...]], Params]:
    def params(args: tuple[str, ...]) -> Params:
        if len(args) != 1:
            raise NotConvertible(f"takes one argument ip[/mask[/nic[/broadcast]]], got {len(args)}")
        p = parse_address_arg(args[0])
        try:
            ipaddress.IPv4Address(p["ip"])
        except ValueError:
            raise NotConvertible(f"[{p['ip']}] is not an IPv4 address") from None
        out = [("ip", p["ip"])]
        if "cidr_netmask" in p:
            out.append(("cidr_netmask", _prefix(p["cidr_netmask"])))
        nic = p.get("nic", "")
        if nic:
            base, _, label = nic.partition(":")
            out.append(("nic", base))
            # IPaddr numbers its own aliases; only IPaddr2 takes a label from the admin
            if label and ipaddr2:
                out.append(("iflabel", label))
        if p.get("broadcast"):
            out.append(("broadcast", p["broadcast"]))
        if ipaddr2:
            # heartbeat's IPaddr2 wrapper always set lvs_support; the ARP defaults match
            out += [("lvs_support", "true"), ("arp_interval", "200"), ("arp_count", "5")]
        else:
            out += [("arp_interval", ARP_DEFAULTS["ARP_INTERVAL_MS"]),
                    ("arp_count", ARP_DEFAULTS["ARP_REPEAT"]), ("arp_bg", "true")]
        return tuple(out)
    return params


def _prefix(mask: str) -> str:
    if re.fullmatch(r"[0-9]{1,2}", mask) and 1 <= int(mask) <= 32:
        return mask
    try:
        return str(ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen)
    except ValueError:
        raise NotConvertible(f"netmask [{mask}] is neither a prefix length nor a contiguous "
                             "dotted quad") from None


def _positional(names: tuple[str, ...], required: int,
                defaults: tuple[tuple[str, str], ...] = ()) -> Callable[[tuple[str, ...]], Params]:
    def params(args: tuple[str, ...]) -> Params:
        if not required <= len(args) <= len(names):
            want = f"{required}" if required == len(names) else f"{required} to {len(names)}"
            raise NotConvertible(f"takes {want} arguments ({'::'.join(names)}), got {len(args)}")
        given = dict(zip(names, args))
        return tuple((k, v) for k, v in defaults if k not in given) + tuple(given.items())
    return params


def _filesystem(args: tuple[str, ...]) -> Params:
    if len(args) == 2:
        raise NotConvertible("names no fstype, which resource-agents' Filesystem requires "
                             "(heartbeat let mount guess it): add ::FSTYPE to the line")
    return _positional(("device", "directory", "fstype", "options"), 3)(args)


def _send_arp(args: tuple[str, ...]) -> Params:
    if len(args) != 1 or "/" not in args[0]:
        raise NotConvertible("takes one argument ip/nic")
    ip, _, nic = args[0].partition("/")
    return (("ip", ip), ("nic", nic))


def _node_list(args: tuple[str, ...]) -> Params:
    return (("nodelist", " ".join(args)),) if args else ()


@dataclass(frozen=True)
class Legacy:
    """A resource.d wrapper: which OCF agent it ran and how its arguments became parameters."""
    agent: str
    params: Callable[[tuple[str, ...]], Params]
    start_stop_timeout: str = DEFAULT_TIMEOUT
    monitor_timeout: str = DEFAULT_TIMEOUT
    sleeps: bool = False    # start and stop sleep startdelay/stopdelay seconds on top of the timeout


# the wrappers heartbeat 2.1.4 shipped in resource.d that have an OCF agent of their own
LEGACY: dict[str, Legacy] = {
    "IPaddr": Legacy("IPaddr2", _address(ipaddr2=False)),
    "IPaddr2": Legacy("IPaddr2", _address(ipaddr2=True)),
    "Filesystem": Legacy("Filesystem", _filesystem, "60s", "40s"),
    "IPsrcaddr": Legacy("IPsrcaddr", _positional(("ipaddress",), 1)),
    "SendArp": Legacy("SendArp", _send_arp),
    "MailTo": Legacy("MailTo", _positional(("email", "subject"), 1)),
    "Delay": Legacy("Delay", _positional(("startdelay", "stopdelay"), 0,
                                         (("startdelay", WRAPPER_START_DELAY),)), sleeps=True),
    "apache": Legacy("apache", _positional(("configfile",), 0), "60s", "30s"),
    "Xinetd": Legacy("Xinetd", _positional(("service",), 1)),
    "LVM": Legacy("LVM", _positional(("volgrpname",), 1), "30s", "30s"),
    "Raid1": Legacy("Raid1", _positional(("raidconf", "raiddev"), 2), "60s", "60s"),
    "AudibleAlarm": Legacy("AudibleAlarm", _node_list),
    "portblock": Legacy("portblock", _positional(("protocol", "portno", "action"), 3)),
}

MONITOR_INTERVAL = "10s"


def primitive(res: Resource, rid: str, origin: Origin, *, heartbeat_class: bool,
              init_standard: str, monitor: bool) -> Primitive:
    """The primitive for ``res``; NotConvertible(reason) if there is none.

    ``heartbeat_class``: the script is in the cluster's resource.d (and is not a wrapper
    of an OCF agent): Pacemaker 2 runs no heartbeat-class agents.
    """
    legacy = LEGACY.get(res.script)
    if legacy is not None:
        try:
            params = legacy.params(res.args)
        except NotConvertible as e:
            raise NotConvertible(f"{res.script} [{res.token}]: {e}") from None
        pair = _delays(dict(params)) if legacy.sleeps else None
        ops = _ops(monitor, legacy.start_stop_timeout, legacy.monitor_timeout, pair)
        return Primitive(rid, "ocf", "heartbeat", legacy.agent, params, ops, origin, res.token)
    if heartbeat_class:
        raise NotConvertible(
            f"[{res.script}] is a heartbeat-class script from resource.d, which Pacemaker does "
            f"not run: use an OCF agent that does the same (`crm_resource --list-agents ocf`), "
            f"or rewrite it as an OCF agent or a systemd unit and name that in haresources")
    if res.args:
        raise NotConvertible(f"init script [{res.script}] is given arguments "
                             f"[{'::'.join(res.args)}]: {init_standard} resources take none; "
                             "write a unit or an OCF agent that carries them")
    return Primitive(rid, init_standard, None, res.script, (), _ops(monitor, DEFAULT_TIMEOUT, DEFAULT_TIMEOUT),
                     origin, res.token)


def _ops(monitor: bool, start_stop: str, monitor_timeout: str,
         start_stop_pair: tuple[str, str] | None = None) -> tuple[Op, ...]:
    ops: tuple[Op, ...] = (Op("monitor", MONITOR_INTERVAL, monitor_timeout),) if monitor else ()
    start, stop = start_stop_pair or (start_stop, start_stop)
    if (start, stop) != (DEFAULT_TIMEOUT, DEFAULT_TIMEOUT):
        ops += (Op("start", "0s", start), Op("stop", "0s", stop))
    return ops


def _delays(params: dict[str, str]) -> tuple[str, str]:
    """Delay's start and stop timeouts: its sleep plus Pacemaker's default margin."""
    def timeout(name: str) -> str:
        try:
            seconds = float(params.get(name, DELAY_DEFAULTS[name]))
        except ValueError:
            raise NotConvertible(f"Delay {name} [{params[name]}] is not a number of seconds") from None
        return f"{int(seconds) + 1 + int(DEFAULT_TIMEOUT[:-1])}s"
    return timeout("startdelay"), timeout("stopdelay")
