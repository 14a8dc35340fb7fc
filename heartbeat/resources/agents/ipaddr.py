"""IPaddr: an IP alias ``nic:N`` with gratuitous ARP (spec §15.2), and its resource.d wrapper.

``resource.d/IPaddr ip[/mask[/nic[/broadcast]]] start|stop|status|monitor``. The alias is
what ``ifconfig eth0:0 ADDR netmask M broadcast B`` makes: an address labelled
``eth0:0``; it is added with netlink, and the log still shows the ifconfig command the
original runs, because that is what admins grep for. Only labelled (``X:N``) addresses
count as "ours": an address without a label, as IPaddr2 adds it, is not found here.

Alias numbers are claimed with hard links ``$HA_RSCTMP/IPaddr-<nic>:<N>`` of a base file
``$HA_RSCTMP/IPaddr-<nic>`` (resource-agents 4.x); the search starts at the number of
existing links unless that very link exists, so stale links from a killed run move the
next alias up, as in the original (lab-findings §6.15). Labels already configured are
skipped too.

Deviation: a missing ``$HA_RSCTMP`` is created instead of failing the start.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import sys

from heartbeat.config.addressarg import parse_address_arg
from heartbeat.resources import netlink
from heartbeat.resources.agents import findif, sendarp
from heartbeat.resources.agents.ocf import ERR_ARGS, ERR_CONFIGURED, ERR_GENERIC, NOT_RUNNING, SUCCESS, Agent, \
    AgentFailure, Wrapper

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (issue 10)
if TYPE_CHECKING:
    from typing import Callable, TextIO
    from collections.abc import Iterator, Mapping

MAX_ALIASES = 512
NIC_DEFAULT = "eth0"
ARP_DEFAULTS = {"ARP_INTERVAL_MS": "500", "ARP_REPEAT": "10", "ARP_BACKGROUND": "yes",
                "ARP_NETMASK": "ffffffffffff"}
PING_TRIES = 3


def base_nic(nic: str) -> str:
    return nic.split(":", 1)[0]


def alias_of(ip: str, entries: list[netlink.Address]) -> netlink.Address | None:
    """The alias (labelled ``X:N``) that carries ``ip``."""
    for entry in entries:
        if ":" in entry.label and entry.address == ip:
            return entry
    return None


def alias_candidates(nic: str, in_use: set[str], locks: set[str]) -> Iterator[str]:
    """Alias labels to try, in order; ``locks`` are the file names in ``$HA_RSCTMP``."""
    taken = sum(1 for name in locks if name.startswith(f"IPaddr-{nic}:"))
    first = 0 if f"IPaddr-{nic}:{taken}" in locks else taken
    for n in range(first, MAX_ALIASES):
        if f"{nic}:{n}" not in in_use:
            yield f"{nic}:{n}"


def read_pids(path: str) -> list[int]:
    try:
        with open(path) as f:
            return [int(word) for word in f.read().split() if word.isdigit()]
    except OSError:
        return []


def kill_pidfile(path: str) -> bool | None:
    """SIGTERM whatever the pid file names and remove it: None without a pid file, else
    whether every pid could be signalled (``kill `cat FILE``` succeeding)."""
    if not os.path.isfile(path):
        return None
    pids = read_pids(path)
    delivered = bool(pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            delivered = False
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return delivered


def in_background(argv: list[str], on_done: Callable[[int, str | None], None], capture: bool = False) -> None:
    """Run ``argv`` in a forked child so the agent can return, then ``on_done(rc, output)``.

    ``capture``: collect stdout and stderr for ``on_done`` (IPaddr2 logs them); otherwise
    the child's stdout goes to stderr, like IPaddr's ``( ... & ) >&2``.
    """
    if os.fork():
        return
    # subprocess (with locale and threading) only where a program runs: an agent's status
    # and monitor run none and are what admins and the daemon run most (issue 10)
    import subprocess
    try:
        os.setsid()
        os.dup2(2, 1)
        try:
            if capture:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, errors="replace")
                on_done(done.returncode, done.stdout.rstrip("\n"))
            else:
                on_done(subprocess.call(argv, stdin=subprocess.DEVNULL), None)
        except OSError as e:  # what the shell reports for a missing program
            on_done(127, f"{argv[0]}: {e.strerror}")
    finally:
        os._exit(0)


class AddressAgent(Agent):
    """What IPaddr and IPaddr2 share: the address, and send_arp's pid file for it."""

    @property
    def ip(self) -> str:
        return self.param("ip")

    @property
    def sendarp_pidfile(self) -> str:
        return os.path.join(self.rsctmp, f"send_arp-{self.ip}")

    def send_first_request(self, program: str, device: str) -> None:
        """The burst's first frame leaves now, not once send_arp has started: clients and
        switches learn the new holder that much sooner. send_arp, which inherits our
        environment, learns that it was sent and sends the rest on its schedule. Nothing is
        sent when no send_arp is installed, as then the original announces nothing."""
        if not os.access(program, os.X_OK):
            return
        sent = sendarp.send_first_request(device, self.ip)
        if sent:
            os.environ[sendarp.FIRST_SENT] = sent


class IPaddr(AddressAgent):
    TYPE = "IPaddr"

    @property
    def nic(self) -> str:
        """A missing nic parameter means eth0 (resource-agents 4.12's default). The
        original does not export that default, so findif still searches the routes, and a
        route through another nic is then refused as not eth0."""
        return self.params.get("nic", NIC_DEFAULT)

    def tunable(self, name: str) -> str:
        return self.param(name, ARP_DEFAULTS[name])

    # --- validate ---------------------------------------------------------------------------

    def validate(self) -> None:
        for name in ("ARP_INTERVAL_MS", "ARP_REPEAT"):
            value = self.tunable(name)
            if not value.isdigit() or int(value) < 1:
                raise AgentFailure(ERR_ARGS, f"Invalid parameter value: {name} [{value}]")
        if not self.ip:
            raise AgentFailure(ERR_CONFIGURED, "Required parameter OCF_RESKEY_ip is missing")
        if not fnmatch.fnmatchcase(self.ip, "[0-9]*.[0-9]*.[0-9]*.*[0-9]"):
            raise AgentFailure(ERR_CONFIGURED, f"Parameter OCF_RESKEY_ip [{self.ip}] not an IP address")
        if "nic" in self.params:
            self.params["nic"] = base_nic(self.params["nic"])
        found = self.findif()
        nic = self.nic
        if not nic:
            self.log.ocf_log("info", f"Using calculated nic for {self.ip}: {found.nic}")
            self.params["nic"] = found.nic
        elif nic != found.nic:
            raise AgentFailure(ERR_ARGS, f"Invalid parameter value: nic [{nic}] Calculated nic: [{found.nic}]")
        if self.param("cidr_netmask") != found.netmask:
            self.log.ocf_log("info", f"Using calculated netmask for {self.ip}: {found.netmask}")
        self.params["cidr_netmask"] = found.netmask
        self.prefixlen = found.prefixlen
        broadcast = self.param("broadcast")
        if not broadcast:
            self.log.ocf_log("debug", f"Using calculated broadcast for {self.ip}: {found.broadcast}")
            self.params["broadcast"] = found.broadcast
        elif broadcast != found.broadcast:
            raise AgentFailure(ERR_ARGS, f"Invalid parameter value: broadcast [{broadcast}] "
                                         f"Calculated broadcast: [{found.broadcast}]")

    def findif(self) -> findif.Result:
        """Our findif in-process, given the nic only if one was passed; its messages go to
        stderr as the program's would."""
        request = findif.Request(self.ip, self.param("cidr_netmask"), self.param("broadcast"),
                                 self.params.get("nic", ""))
        program = os.path.join(self.env.get("HA_BIN") or "/usr/libexec/heartbeat", "findif")
        try:
            result = findif.lookup(request)
        except findif.FindifError as e:
            sys.stderr.write(e.text + (findif.usage_text(program) if e.usage else ""))
            raise AgentFailure(ERR_GENERIC, f"{program} failed [rc={e.rc}].") from None
        sys.stderr.write("".join(result.notes))
        return result

    # --- actions ----------------------------------------------------------------------------

    def status_internal(self) -> int:
        """An error, not an exception: start goes on to add the address on its own nic."""
        alias = alias_of(self.ip, netlink.addresses())
        if alias is None:
            return NOT_RUNNING
        wanted = self.nic
        if wanted and base_nic(wanted) != base_nic(alias.label):
            self.log.ocf_log("err", f"{self.ip} is running an interface ({base_nic(alias.label)}) "
                                    f"instead of the configured one ({base_nic(wanted)})")
            return ERR_GENERIC
        return SUCCESS

    def monitor(self) -> int:
        return self.status_internal()

    def claim_alias(self, nic: str, entries: list[netlink.Address]) -> str:
        os.makedirs(self.rsctmp, exist_ok=True)
        base = os.path.join(self.rsctmp, f"IPaddr-{nic}")
        open(base, "a").close()
        in_use = {e.label for e in entries}
        for label in alias_candidates(nic, in_use, set(os.listdir(self.rsctmp))):
            try:
                os.link(base, os.path.join(self.rsctmp, f"IPaddr-{label}"))
            except FileExistsError:
                continue
            return label
        raise AgentFailure(ERR_GENERIC)

    def start(self) -> int:
        self.validate()
        if self.status_internal() == SUCCESS:
            return SUCCESS
        nic, mask, broadcast = self.nic, self.param("cidr_netmask"), self.param("broadcast")
        label = self.claim_alias(nic, netlink.addresses())
        command = f"ifconfig {label} {self.ip} netmask {mask} broadcast {broadcast}"
        self.log.ocf_log("info", f"eval {command}")
        try:
            netlink.add_address(nic, self.ip, self.prefixlen, broadcast, label)
            netlink.set_link(nic, up=True)
        except netlink.NetlinkFailure as e:
            sys.stderr.write(f"{e}\n")
            self.say(f"ERROR: eval {command} failed (rc={ERR_GENERIC})")
            raise AgentFailure(ERR_GENERIC, f"Could not add {self.ip} to {nic}: rc={ERR_GENERIC}") from None
        self.announce(label)
        return self.status_internal()

    def announce(self, label: str) -> None:
        program = os.path.join(self.env.get("HA_BIN") or "/usr/libexec/heartbeat", "send_arp")
        device = base_nic(label)
        self.send_first_request(program, device)
        if not os.access(program, os.X_OK):
            return
        argv = [program, "-i", self.tunable("ARP_INTERVAL_MS"), "-r", self.tunable("ARP_REPEAT"),
                "-p", self.sendarp_pidfile, device, self.ip, "auto", self.ip, self.tunable("ARP_NETMASK")]
        self.log.ocf_log("debug", f"Sending Gratuitous Arp for {self.ip} on {label} [{device}]")

        def done(rc: int, output: str | None) -> None:
            if rc:
                self.log.ocf_log("err", f"Could not send gratuitous arps. rc={rc}")

        if self.tunable("ARP_BACKGROUND") == "yes":
            in_background(argv, done)
        else:
            import subprocess  # see in_background
            done(subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=sys.stderr), None)

    def stop(self) -> int:
        kill_pidfile(self.sendarp_pidfile)
        alias = alias_of(self.ip, netlink.addresses())
        if alias is None:
            return SUCCESS
        try:
            netlink.delete_host_route(self.ip)
        except netlink.NetlinkFailure as e:
            sys.stderr.write(f"SIOCDELRT: {e.strerror}\n")
        self.log.ocf_log("info", f"ifconfig {alias.label} down")
        rc = SUCCESS
        try:
            netlink.delete_address(alias)
        except netlink.NetlinkFailure as e:
            sys.stderr.write(f"{e}\n")
            rc = ERR_GENERIC
        try:
            os.unlink(os.path.join(self.rsctmp, f"IPaddr-{alias.label}"))
        except FileNotFoundError:
            pass
        if rc:
            self.log.ocf_log("warn", f"IP Address {self.ip} NOT released: rc={rc}")
            return ERR_GENERIC
        return SUCCESS


def ping_monitor(ip: str) -> int:
    """The wrapper's own ``monitor``: is the address answering at all (from anywhere)?"""
    import subprocess  # see in_background
    for _ in range(PING_TRIES):
        if subprocess.call(["ping", "-c", "1", "-q", "-n", ip], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
            return 0
    return 1


def legacy_main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
                stdout: TextIO | None = None) -> int:
    """``resource.d/IPaddr ip[/mask[/nic[/broadcast]]] OP``."""
    argv = sys.argv if argv is None else argv
    env = os.environ if environ is None else environ
    wrapper = Wrapper(IPaddr, argv[0], "usage: $0 <ip-address>", environ=env, stdout=stdout)
    if len(argv) != 3:
        return wrapper.usage()
    params = {**parse_address_arg(argv[1]), "lvs_support": "0"}
    if argv[2] == "monitor":
        return ping_monitor(params["ip"])
    return wrapper.run(params, f"IPaddr_{params['ip']}", argv[2])
