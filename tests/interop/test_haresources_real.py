"""Differential test: every haresources file our strict parser accepts means, group by group,
what Debian's real ResourceManager reads from it (its comment, continuation, blank and case
rules). The real script reads only /etc/ha.d/haresources, so it runs in a private mount
namespace with a scratch directory bound over /etc/ha.d; the host's /etc/ha.d is untouched
and the bind mount disappears with the namespace."""

import os
import random
import shlex
import subprocess
from pathlib import Path

import pytest

from heartbeat.config.errors import ConfigError
from heartbeat.config.haresources import parse_haresources

REAL_RM = Path("/usr/share/heartbeat/ResourceManager")
REAL_SHELLFUNCS = Path("/etc/ha.d/shellfuncs")
CASES = 60
SEED = 20261124
NODES = ("node1", "NODE2", "Node3", "node2")
# group keys must be unique and appear nowhere else, so each line gets its own address
KEYS = ("IPaddr::192.0.2.{}/24/eth0", "192.0.2.{}", "IPaddr2::192.0.2.{}/24")
RESOURCES = ("Filesystem::192.0.2.20:/export/www::/srv/www::nfs", "httpd", "mysql", "a::b::c",
             "drbddisk::r0", "Delay::1::0", "MailTo::root@example.org")
BLANKS = (" ", "  ", "\t", " \t ")


def real_resourcemanager() -> bool:
    try:
        with open(REAL_RM, "rb") as f:
            return f.readline().startswith(b"#!/bin/sh") and REAL_SHELLFUNCS.is_file()
    except OSError:
        return False


pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not real_resourcemanager(),
                                reason="needs root (mount namespace) and Debian's ResourceManager")


def case_text(rng: random.Random) -> str:
    """A haresources file written the ways admins write them."""
    lines = []
    for _ in range(rng.randint(1, 5)):
        if rng.random() < 0.1:
            lines.append(rng.choice(["", "   ", "# a comment", "\t# indented comment"]))
            continue
        key = rng.choice(KEYS).format(100 + len(lines))
        words = [rng.choice(NODES), key] + rng.sample(RESOURCES, rng.randint(0, 3))
        line = rng.choice(["", " ", "\t"])
        continued = False
        for i, word in enumerate(words):
            line += word
            if i < len(words) - 1:
                # a continuation joins without adding a blank, so one goes before it
                if rng.random() < 0.8:
                    line += rng.choice(BLANKS)
                else:
                    line += " \\\n" + rng.choice(BLANKS)
                    continued = True
        if not continued and rng.random() < 0.3:    # '#' on a continued line is refused
            line += rng.choice(BLANKS) + "# trailing comment"
        lines.append(line + rng.choice(["", " ", "\t"]))
    return "\n".join(lines) + "\n"


def real_readings(texts: list[str], scratch: Path) -> list[tuple[str, str]]:
    """(every group's resources, node2's groups' resources) as ResourceManager lists them."""
    mnt = scratch / "ha.d"
    mnt.mkdir()
    (mnt / "shellfuncs").write_bytes(REAL_SHELLFUNCS.read_bytes())
    for i, text in enumerate(texts):
        (scratch / f"case{i}").write_text(text)
    script = [f"mount --bind {shlex.quote(str(mnt))} /etc/ha.d || exit 1"]
    for i in range(len(texts)):
        case, out = shlex.quote(str(scratch / f"case{i}")), shlex.quote(str(scratch / f"out{i}"))
        script.append(f"cp {case} /etc/ha.d/haresources")
        script.append(f"HA_CURHOST=nobody-here {REAL_RM} otherkeys > {out}.all")
        script.append(f"HA_CURHOST=node2 {REAL_RM} ourkeys > {out}.node2")
    subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)],
                   check=True, timeout=120, stdin=subprocess.DEVNULL)
    return [((scratch / f"out{i}.all").read_text(), (scratch / f"out{i}.node2").read_text())
            for i in range(len(texts))]


def test_accepted_files_mean_what_resourcemanager_reads(tmp_path):
    rng = random.Random(SEED)
    accepted = []
    for _ in range(CASES):
        text = case_text(rng)
        try:
            accepted.append((text, parse_haresources(text, "/etc/ha.d/haresources")))
        except ConfigError:
            continue
    assert len(accepted) >= CASES // 2
    readings = real_readings([text for text, _ in accepted], tmp_path)
    for (text, ours), (everything, node2) in zip(accepted, readings):
        listed = ["".join(r.token + " " for r in g.resources) for g in ours.groups]
        assert everything.splitlines() == listed, text
        assert node2.splitlines() == [line for line, g in zip(listed, ours.groups) if g.node == "node2"], text


@pytest.mark.parametrize("text, misread, why", [
    # a blank after the backslash: no continuation, the group ends in a resource named '\'
    ("node1 IPaddr::192.0.2.100 \\ \n\thttpd\n", ["IPaddr::192.0.2.100 \\ ", ""],
     "blank after the line continuation"),
    # '#' on a continued line starts no comment: it becomes resources
    ("node1 IPaddr::192.0.2.100 \\\n httpd # web\n", ["IPaddr::192.0.2.100 httpd # web "],
     "'#' on a continued line starts no comment"),
])
def test_refused_files_are_the_ones_resourcemanager_misreads(tmp_path, text, misread, why):
    with pytest.raises(ConfigError, match=why):
        parse_haresources(text, "/etc/ha.d/haresources")
    [(everything, _)] = real_readings([text], tmp_path)
    assert everything.splitlines() == misread
