"""Load and cross-check a whole /etc/ha.d tree: what `heartbeat -c` reports and the daemon loads.

The parsers check each file alone and touch nothing outside it; this module adds what
needs the host and the other files: the local node's name, haresources nodes against
ha.cf, pyheartbeat.cf's monitors against both, resource scripts, interfaces, serial
devices, users and directories. Every problem of every file is reported in one ConfigErrors.

    python3 -m heartbeat.config.configcheck [HA_DIR]
"""

from __future__ import annotations

import grp
import ipaddress
import os
import pwd
import socket
import stat
import sys
from dataclasses import dataclass
from typing import Callable, TypeVar
from collections.abc import Sequence

from heartbeat.config.addressarg import invalid_netmask, netmask_prefix, parse_address_arg
from heartbeat.config.authkeys import AuthKeys, load_authkeys
from heartbeat.config.errors import ConfigError, ConfigErrors, Warning_, flatten
from heartbeat.config.hacf import ApiAuth, Bcast, HaCf, Mcast, Serial, Ucast, load_hacf
from heartbeat.config.haresources import HaResources, check_nodes, load_haresources
from heartbeat.config.pyhbcf import FILE_NAME as PYHBCF_NAME, PyHbCf, check_monitors, load_pyhbcf
from heartbeat.config.nodename import ascii_lower, local_node_name

DEFAULT_HA_DIR = "/etc/ha.d"
DEFAULT_INIT_DIR = "/etc/init.d"
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NOT_CONFIGURED = 6        # LSB "program is not configured", as the original exits
USAGE = "usage: python3 -m heartbeat.config.configcheck [HA_DIR]"

T = TypeVar("T")


@dataclass(frozen=True)
class ClusterConfig:
    hacf: HaCf
    authkeys: AuthKeys
    haresources: HaResources
    local_node: str            # lower case, from nodeinfo or uname -n
    ha_dir: str
    pyhbcf: PyHbCf             # pyheartbeat.cf; all defaults when there is none

    @property
    def warnings(self) -> tuple[tuple[str, Warning_], ...]:
        """(file, warning) for everything the daemon would log but start with."""
        return (tuple((self.hacf.path, w) for w in self.hacf.warnings)
                + tuple((self.authkeys.path, w) for w in self.authkeys.warnings))


def iface_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except (OSError, ValueError):
        return False
    return True


def load_config(ha_dir: str = DEFAULT_HA_DIR, *, node_name: str | None = None,
                init_dir: str = DEFAULT_INIT_DIR,
                iface_exists: Callable[[str], bool] = iface_exists) -> ClusterConfig:
    """Parse ha.cf, authkeys and haresources under ``ha_dir`` and check them against each
    other and this host; raise ConfigErrors with every problem found."""
    errors: list[ConfigError] = []
    hacf = _load(load_hacf, os.path.join(ha_dir, "ha.cf"), errors)
    authkeys = _load(load_authkeys, os.path.join(ha_dir, "authkeys"), errors)
    res = _load(load_haresources, os.path.join(ha_dir, "haresources"), errors)
    ours = _load(load_pyhbcf, os.path.join(ha_dir, PYHBCF_NAME), errors)
    local = ascii_lower(node_name) if node_name is not None else local_node_name(ha_dir)
    if hacf is not None:
        if local not in hacf.nodes:
            errors.append(ConfigError(hacf.path, None, f"Current node [{local}] not in configuration! "
                                      "Cluster nodes are named by `uname -n` (or nodeinfo) and must "
                                      "be declared with a 'node' directive"))
        errors += _host_errors(hacf, iface_exists)
        if res is not None:
            errors += check_nodes(res, hacf.nodes, hacf.ping_nodes)
    if res is not None:
        errors += _script_errors(res, ha_dir, init_dir)
        errors += _address_errors(res)
    if ours is not None:
        errors += _monitor_command_errors(ours)
        if res is not None and hacf is not None:
            errors += check_monitors(ours, res, hacf.auto_failback.nice_failback)
    if errors:
        raise ConfigErrors(errors)
    assert hacf is not None and authkeys is not None and res is not None and ours is not None
    return ClusterConfig(hacf, authkeys, res, local, ha_dir, ours)


def _load(loader: Callable[[str], T], path: str, errors: list[ConfigError]) -> T | None:
    try:
        return loader(path)
    except ConfigError as e:
        errors += flatten(e)
        return None


def _script_errors(res: HaResources, ha_dir: str, init_dir: str) -> list[ConfigError]:
    """ResourceManager runs the first executable regular file of resource.d, then the init dir."""
    dirs = (os.path.join(ha_dir, "resource.d"), init_dir)
    errors = []
    for g in res.groups:
        for script in dict.fromkeys(r.script for r in g.resources):
            if not any(_executable_file(os.path.join(d, script)) for d in dirs):
                errors.append(ConfigError(res.path, g.line, f"Cannot locate resource script {script} "
                                          f"(no executable {script} in {dirs[0]} or {dirs[1]})"))
    return errors


# the agents that read ip[/mask[/nic[/broadcast]]] as their first argument
ADDRESS_AGENTS = ("IPaddr", "IPaddr2")


def _address_errors(res: HaResources) -> list[ConfigError]:
    """Addresses the IPaddr agents would refuse only when the takeover runs them."""
    errors = []
    for g in res.groups:
        for r in g.resources:
            if r.script not in ADDRESS_AGENTS or not r.args:
                continue
            params = parse_address_arg(r.args[0])
            reasons = []
            if not _is_ipv4(params["ip"]):
                reasons.append(f"[{params['ip']}] is not an IPv4 address")
            if params.get("cidr_netmask") and netmask_prefix(params["cidr_netmask"]) is None:
                reasons.append(invalid_netmask(params["cidr_netmask"]))
            if params.get("broadcast") and not _is_ipv4(params["broadcast"]):
                reasons.append(f"broadcast [{params['broadcast']}] is not an IPv4 address")
            errors += [ConfigError(res.path, g.line, f"resource [{r.token}]: {why}") for why in reasons]
    return errors


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _monitor_command_errors(cf: PyHbCf) -> list[ConfigError]:
    return [ConfigError(cf.path, m.command_line, f"monitor_command {m.target}: [{m.command[0]}] "
                        "is not an executable file")
            for m in cf.monitors if m.command is not None and not _executable_file(m.command[0])]


def _executable_file(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _host_errors(hacf: HaCf, iface_exists: Callable[[str], bool]) -> list[ConfigError]:
    """What the original's plugins and validators check on the host while reading ha.cf."""
    problems: list[tuple[int | None, str]] = []
    for m in hacf.media:
        if isinstance(m, (Bcast, Mcast, Ucast)) and not iface_exists(m.iface):
            problems.append((m.line, f"IP interface [{m.iface}] does not exist"))
        elif isinstance(m, Serial):
            problems += [(m.line, p) for p in _serial_problems(m.device)]
    for child in hacf.respawn:
        if not _user_exists(child.user):
            problems.append((child.line, f"Invalid uid [{child.user}] specified for client child"))
        if not _executable_file(child.argv[0]):
            problems.append((child.line, f"Client child command [{child.argv[0]}] is not executable"))
    for auth in hacf.apiauth:
        if auth.line is not None:   # the built-in defaults name the package's own users
            problems += [(auth.line, p) for p in _apiauth_problems(auth)]
    if hacf.coreroot is not None and not os.path.isdir(hacf.coreroot):
        problems.append((hacf.lines.get("coreroot"), f"Invalid core directory [{hacf.coreroot}]"))
    return [ConfigError(hacf.path, line, reason) for line, reason in problems]


def _serial_problems(device: str) -> list[str]:
    try:
        mode = os.stat(device).st_mode
    except OSError:
        return [f"Nonexistent serial port [{device}] in config file"]
    return [] if stat.S_ISCHR(mode) else [f"Serial port [{device}] not a char device in config file"]


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _apiauth_problems(auth: ApiAuth) -> list[str]:
    unknown = ([f"user [{u}]" for u in auth.uids if not u.isdecimal() and not _user_exists(u)]
               + [f"group [{g}]" for g in auth.gids if not g.isdecimal() and not _group_exists(g)])
    return [f"Invalid apiauth directive for API client {auth.client}: unknown {', '.join(unknown)}"
            ] if unknown else []


def main(argv: Sequence[str] | None = None) -> int:
    """`heartbeat -c`: print every problem as `path:line: reason`; exit 0, or 6 if not configured."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0].startswith("-")):
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE
    ha_dir = args[0] if args else DEFAULT_HA_DIR
    try:
        cfg = load_config(ha_dir)
    except ConfigError as e:
        for error in flatten(e):
            print(error, file=sys.stderr)
        return EXIT_NOT_CONFIGURED
    for path, w in cfg.warnings:
        if w.level != "info":
            where = path if w.line is None else f"{path}:{w.line}"
            print(f"{where}: warning: {w.text}", file=sys.stderr)
    monitored = f", {len(cfg.pyhbcf.monitors)} resource monitors" if cfg.pyhbcf.monitors else ""
    print(f"{ha_dir}: configuration OK: {len(cfg.hacf.nodes)} nodes, {len(cfg.hacf.media)} media, "
          f"{len(cfg.haresources.groups)} resource groups{monitored}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
