"""The hb2pcs command.

    hb2pcs [-d HA_DIR] [--pcs FILE] [--crmsh FILE] [--cib FILE] [--corosync FILE]
           [--init-scripts lsb|systemd] [--no-monitor] [--address NODE=ADDR[,ADDR...]]...

Reads HA_DIR (default /etc/ha.d) with the strict parsers and writes the outputs asked
for (FILE `-` is standard output). Lines that cannot be converted are reported on
standard error as `file:line: cannot be converted: reason`. Without any output option
it prints what becomes of every line.

Exit status: 0 everything converted; 1 some lines cannot be converted (the outputs are
written all the same, saying so, for the admin to finish by hand); 2 usage; 6 the
configuration does not parse (nothing is written).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from types import MappingProxyType
from typing import Callable

from heartbeat.config.configcheck import DEFAULT_HA_DIR, EXIT_NOT_CONFIGURED
from heartbeat.config.errors import ConfigError, ConfigErrors, flatten, read_config
from heartbeat.config.hacf import parse_hacf
from heartbeat.config.haresources import check_nodes, parse_haresources
from heartbeat.tools.hb2pcs import cib, corosyncconf, crmsh, pcs
from heartbeat.tools.hb2pcs.convert import Options, Sources, content_lines, convert
from heartbeat.tools.hb2pcs.model import Cluster

EXIT_OK = 0
EXIT_NOT_CONVERTIBLE = 1
EXIT_USAGE = 2
MAX_ADDRESSES = 8
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")

WRITERS: dict[str, tuple[Callable[[Cluster], str], int]] = {
    "pcs": (pcs.render, 0o755),
    "crmsh": (crmsh.render, 0o644),
    "cib": (cib.render, 0o644),
    "corosync": (corosyncconf.render, 0o644),
}


def _address(text: str) -> tuple[str, tuple[str, ...]]:
    node, sep, rest = text.partition("=")
    addresses = tuple(rest.split(","))
    if not sep or not node or not rest or len(addresses) > MAX_ADDRESSES:
        raise argparse.ArgumentTypeError(f"[{text}]: want NODE=ADDR[,ADDR...] (at most {MAX_ADDRESSES})")
    for a in addresses:
        try:
            ipaddress.ip_address(a)
        except ValueError:
            if not _HOST.fullmatch(a):
                raise argparse.ArgumentTypeError(f"[{a}] is neither an IP address nor a host name") from None
    return node.lower(), addresses


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hb2pcs", description=__doc__.split("\n")[0].rstrip("."))
    p.add_argument("-d", "--ha-dir", default=DEFAULT_HA_DIR, help="the heartbeat configuration (default %(default)s)")
    for name, (_render, _mode) in WRITERS.items():
        p.add_argument(f"--{name}", metavar="FILE", help=f"write the {name} output to FILE (- for stdout)")
    p.add_argument("--init-scripts", choices=("lsb", "systemd"), default="lsb",
                   help="run haresources' init scripts as lsb: or systemd: resources (default %(default)s)")
    p.add_argument("--no-monitor", action="store_true", help="no recurring monitor operations (ping keeps its own)")
    p.add_argument("--address", action="append", type=_address, default=[], metavar="NODE=ADDR[,ADDR...]",
                   help="a node's address on each knet link, in link order (default: link 0 only, "
                        "by node name)")
    return p


def load(ha_dir: str) -> Sources:
    """The files of ``ha_dir``; ConfigErrors with every problem if they do not parse."""
    errors: list[ConfigError] = []
    hacf_path, res_path, keys_path = (os.path.join(ha_dir, f) for f in ("ha.cf", "haresources", "authkeys"))
    hacf_text, _ = read_config(hacf_path, f"Cannot open config file [{hacf_path}]")
    res_text, _ = read_config(res_path, f"Cannot open resources file [{res_path}]")
    hacf = res = None
    try:
        hacf = parse_hacf(hacf_text, hacf_path)
    except ConfigError as e:
        errors += flatten(e)
    try:
        res = parse_haresources(res_text, res_path)
    except ConfigError as e:
        errors += flatten(e)
    if hacf is not None and res is not None:
        errors += check_nodes(res, hacf.nodes, hacf.ping_nodes)
    if errors or hacf is None or res is None:
        raise ConfigErrors(errors)
    try:
        # only which lines carry something is read: the keys themselves go nowhere
        keys_text, _ = read_config(keys_path, "")
        key_lines = content_lines(keys_text)
    except ConfigError:
        key_lines = ()
    try:
        scripts = frozenset(os.listdir(os.path.join(ha_dir, "resource.d")))
    except OSError:
        scripts = frozenset()
    return Sources(ha_dir, hacf, hacf_text, res, res_text, keys_path, key_lines, scripts)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:
        return EXIT_USAGE if e.code else EXIT_OK
    outputs = {name: getattr(args, name) for name in WRITERS if getattr(args, name)}
    if list(outputs.values()).count("-") > 1:
        print("hb2pcs: only one output can go to standard output", file=sys.stderr)
        return EXIT_USAGE
    cluster = _converted(args)
    if isinstance(cluster, int):
        return cluster
    return _emit(cluster, outputs)


def _converted(args: argparse.Namespace) -> Cluster | int:
    """The cluster the configuration describes, or the exit status once its errors are printed."""
    try:
        src = load(args.ha_dir)
        unknown = sorted(set(n for n, _ in args.address) - set(src.hacf.nodes))
        if unknown:
            print(f"hb2pcs: --address for [{', '.join(unknown)}]: not a node in ha.cf", file=sys.stderr)
            return EXIT_USAGE
        return convert(src, Options(args.init_scripts, not args.no_monitor, MappingProxyType(dict(args.address))))
    except ConfigError as e:
        for error in flatten(e):
            print(error, file=sys.stderr)
        return EXIT_NOT_CONFIGURED


def _emit(cluster: Cluster, outputs: dict[str, str]) -> int:
    """Warnings and problems on standard error, then the outputs asked for (or each line's fate)."""
    for warning in cluster.warnings:
        print(f"hb2pcs: WARNING: {warning}", file=sys.stderr)
    for problem in cluster.problems:
        print(problem, file=sys.stderr)
    if not outputs:
        for fate in cluster.fates:
            print(fate)
    for name, path in outputs.items():
        render, mode = WRITERS[name]
        _write(path, render(cluster), mode)
    if "corosync" in outputs:
        print("hb2pcs: corosync needs a new key: run corosync-keygen on one node and copy "
              "/etc/corosync/authkey to the others (heartbeat's authkeys is not carried over)",
              file=sys.stderr)
    return EXIT_NOT_CONVERTIBLE if cluster.problems else EXIT_OK


def _write(path: str, text: str, mode: int) -> None:
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
    os.chmod(path, mode)


if __name__ == "__main__":
    sys.exit(main())
