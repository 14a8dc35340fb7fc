"""SendArp: announce an address someone else configures (spec §15.5), and its wrapper.

``resource.d/SendArp ip/nic start|stop|status`` (haresources ``SendArp::192.0.2.100/eth0``).
resource-agents 4.12's SendArp: start runs ``send_arp -i 200 -r 5`` (in the background
by default) and remembers "started" in a tracking file; stop kills a send_arp still
running; status is "running" while the pid file or the tracking file exists.

``$HA_CONFDIR/arp_config`` may set ``ARP_INTERVAL_MS``, ``ARP_REPEAT``, ``ARP_BACKGROUND``
and ``ARP_NETMASK``; the original sources it as shell, here plain ``NAME=value`` lines
are read. It then reads ``arp_config:`` (its nic variable is never set), and so do we.

Deviation: a pid file naming a process that is gone is removed by stop; the original
keeps it, so that every later stop fails and status says "running" for good.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from heartbeat.resources.agents.ipaddr import AddressAgent, in_background, kill_pidfile
from heartbeat.resources.agents.ocf import ERR_CONFIGURED, ERR_GENERIC, NOT_RUNNING, SUCCESS, Wrapper

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import TextIO
    from collections.abc import Mapping

ARP_DEFAULTS = {"ARP_INTERVAL_MS": "200", "ARP_REPEAT": "5", "ARP_NETMASK": "ffffffffffff"}
TRUE_WORDS = {"yes", "true", "1", "on", "y"}


def read_arp_config(path: str) -> dict[str, str]:
    """``NAME=value`` assignments of the ARP_* settings (quotes removed)."""
    found: dict[str, str] = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        m = re.fullmatch(r"\s*(?:export\s+)?(ARP_[A-Z_]+)=(['\"]?)([^'\"]*)\2\s*(?:#.*)?", line)
        if m:
            found[m.group(1)] = m.group(3)
    return found


class SendArp(AddressAgent):
    TYPE = "SendArp"

    @property
    def state(self) -> str:
        return f"SendArp_{self.instance}"

    def settings(self) -> dict[str, str]:
        values = {**ARP_DEFAULTS, "ARP_BACKGROUND": self.param("background", "true")}
        confdir = self.env.get("HA_CONFDIR") or "/etc/ha.d/conf"
        for name in ("arp_config", "arp_config:"):
            values.update(read_arp_config(os.path.join(confdir, name)))
        return values

    def monitor(self) -> int:
        if os.path.isfile(self.sendarp_pidfile) or self.pseudo_running(self.state):
            return SUCCESS
        return NOT_RUNNING

    def start(self) -> int:
        nic = self.param("nic")
        if not nic or not self.ip:
            return ERR_CONFIGURED
        if self.monitor() == SUCCESS:
            return SUCCESS
        arp = self.settings()
        program = os.path.join(self.env.get("HA_BIN") or "/usr/libexec/heartbeat", "send_arp")
        argv = [program, "-i", arp["ARP_INTERVAL_MS"], "-r", arp["ARP_REPEAT"], "-p", self.sendarp_pidfile,
                nic, self.ip, "auto", self.ip, arp["ARP_NETMASK"]]
        self.log.ocf_log("debug", " ".join(argv))

        def done(rc: int, output: str | None) -> None:
            if rc:
                self.exit_reason("Could not send gratuitous arps")

        if arp["ARP_BACKGROUND"].lower() in TRUE_WORDS:
            in_background(argv, done)
        elif subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=sys.stderr) != 0:
            done(1, None)
            return ERR_GENERIC
        self.pseudo_start(self.state)
        return SUCCESS

    def stop(self) -> int:
        if self.monitor() == NOT_RUNNING:
            return SUCCESS
        released = True
        killed = kill_pidfile(self.sendarp_pidfile)
        if killed is True:
            self.log.ocf_log("info", f"killed previously running send_arp for {self.ip}")
        elif killed is False:
            self.log.ocf_log("warn", f"Could not kill previously running send_arp for {self.ip}")
            released = False
        where = f"{self.ip}/{self.param('nic')}"
        if not released:
            self.log.ocf_log("warn", f"SendArp for {where} NOT released")
            return ERR_GENERIC
        self.log.ocf_log("info", f"SendArp for {where} released")
        self.pseudo_stop(self.state)
        return SUCCESS


def legacy_main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
                stdout: TextIO | None = None) -> int:
    """``resource.d/SendArp ip/nic OP``; without a slash the nic is the whole argument,
    as the original's sed leaves it."""
    argv = sys.argv if argv is None else argv
    wrapper = Wrapper(SendArp, argv[0], "usage: $0 ip-address/interface", usage_exits=False,
                      environ=environ, stdout=stdout)
    if len(argv) != 3:
        wrapper.usage()
        return 1
    ip = argv[1].split("/", 1)[0]
    nic = argv[1].replace(f"{ip}/", "", 1)
    return wrapper.run({"ip": ip, "nic": nic}, f"SendArp_{ip}", argv[2])
