"""`make demo`: a two-node web cluster in network namespaces, failing over while a client watches.

node1 (192.0.2.11) and node2 (192.0.2.12) share the floating address
192.0.2.100, where busybox httpd (LSB script /etc/init.d/httpd) serves a page
that names the serving node. A client (192.0.2.50) asks for that page every
50 ms. Each scenario is an admin's action (or an accident); the demo says what
it does, waits (bounded) until the expected node answers, and reports what
the client saw. Everything is removed at the end, also on Ctrl-C or failure.

    python3 -m tests.lab.demo [--flavor ours|real|mixed|mixed21|hb21]   (or: make demo DEMO_FLAVOR=real)

"mixed" runs our heartbeat on node1 and Debian's 3.0.6 on node2; "mixed21" ours on
node1 and heartbeat 2.1.3 on node2 (a rolling migration from 2.1.x); "hb21" 2.1.3 on
both (built once into /opt/hb21 if missing, see tests/lab/hb21.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable
from collections.abc import Iterator

from . import Lab
from .cluster import HA_LOG, START_TIMEOUT, VIP, Cluster, HaConfig, Move, Poller
from .teardown import remove_leftovers

FLAVORS = {"ours": "ours", "real": "real", "mixed": {"node1": "ours", "node2": "real"},
           "mixed21": {"node1": "ours", "node2": "hb21"}, "hb21": "hb21"}
# what the narration calls each node flavor
RUNS = {"ours": "our heartbeat", "real": "Debian's heartbeat 3.0.6", "hb21": "heartbeat 2.1.3"}
CONFIG = HaConfig()  # lab-findings' base config: keepalive 1 s, deadtime 5 s, auto_failback on
DEADTIME = float(CONFIG.deadtime)
MOVE_TIMEOUT = 20.0


def crash(cluster: Cluster) -> None:
    if not cluster.kill("node1"):
        raise RuntimeError("node1 runs no heartbeat process to kill")


def die(cluster: Cluster) -> None:
    cluster.cut("node1")
    crash(cluster)


def repair(cluster: Cluster) -> None:
    """What an admin does before starting heartbeat again on a node whose daemon died."""
    cluster.release("node1")
    cluster.mend("node1")


@dataclass(frozen=True)
class Scenario:
    name: str  # its row in the summary table
    story: str  # told before the action
    act: Callable[[Cluster], object]
    serves: str  # the node the client must reach afterwards
    timeout: float
    outcome: str  # told once the client got there
    prepare: Callable[[Cluster], object] | None = None  # untimed, e.g. a repair


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("start", "Both nodes start heartbeat (/etc/init.d/heartbeat start). haresources names node1 "
             "as the home of the web service, so node1 should serve after the start-up wait (about 10 s).",
             lambda c: c.start(), "node1", START_TIMEOUT, "node1 serves the page."),
    Scenario("standby", "The admin runs hb_standby on node1 (say, before maintenance): node1 hands its "
             "resources to node2.", lambda c: c.standby("node1"), "node2", MOVE_TIMEOUT,
             "node2 serves; node1 stays in the cluster, idle."),
    Scenario("takeover", "The admin runs hb_takeover on node1: node1 asks for its resources back.",
             lambda c: c.takeover("node1"), "node1", MOVE_TIMEOUT, "node1 serves again."),
    Scenario("crash", "node1's heartbeat crashes (every heartbeat process of node1 gets SIGKILL). node2 "
             f"hears no more heartbeats and declares node1 dead after deadtime ({CONFIG.deadtime} s).",
             crash, "node2", DEADTIME + 15,
             "node2 took over. node1's web server and address were left running (nobody stopped them), "
             "so the client was served until node2's gratuitous ARP redirected it."),
    Scenario("crash: failback", "The admin stops node1's leftover resources and starts heartbeat on node1 "
             "again. auto_failback is on, so node2 hands the service back.",
             lambda c: c.start("node1"), "node1", START_TIMEOUT, "node1 serves again.", prepare=repair),
    Scenario("node dies", "node1 dies outright: its cable is pulled and its heartbeat killed. node2 takes "
             "over after deadtime; this time nobody answers in between.", die, "node2", DEADTIME + 15,
             "node2 serves."),
    Scenario("node dies: failback", "node1 comes back: leftovers stopped, cable back in, heartbeat "
             "started. auto_failback returns the service to node1.", lambda c: c.start("node1"), "node1",
             START_TIMEOUT, "node1 serves again.", prepare=repair),
    Scenario("graceful stop", "The admin stops heartbeat on node1 (/etc/init.d/heartbeat stop). node1 "
             "releases its resources and tells node2, which takes over at once, without waiting for "
             "deadtime.", lambda c: c.stop("node1"), "node2", MOVE_TIMEOUT, "node2 serves."),
    Scenario("stop: failback", "heartbeat starts again on node1; with auto_failback on the service "
             "returns to node1.", lambda c: c.start("node1"), "node1", START_TIMEOUT, "node1 serves again."),
)


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    move: Move
    holders: list[str]  # nodes holding the floating address once things settled


def play(cluster: Cluster, poller: Poller, scenarios: tuple[Scenario, ...],
         say: Callable[[str], None]) -> Iterator[Result]:
    """Play `scenarios` in order, yielding each result as soon as the cluster has settled."""
    for number, scenario in enumerate(scenarios, start=1):
        say(f"\n[{number}/{len(scenarios)}] {scenario.name}\n    {scenario.story}")
        if scenario.prepare:
            scenario.prepare(cluster)
        move = poller.measure(lambda scenario=scenario: scenario.act(cluster), scenario.serves, scenario.timeout)
        say(f"    -> {scenario.outcome}\n    The client got {scenario.serves}'s page {move.took:.2f} s "
            f"after the action; it went {move.outage:.2f} s without an answer.")
        cluster.wait_settled(*cluster.running())
        holders = cluster.holder_of()
        say(f"    {VIP} is now configured on: {', '.join(holders) or 'no node'}.")
        yield Result(scenario, move, holders)


def table(results: list[Result]) -> str:
    rows = [("scenario", "served by", "first answer (s)", "client outage (s)")]
    rows += [(r.scenario.name, r.scenario.serves, f"{r.move.took:.2f}", f"{r.move.outage:.2f}") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def say(text: str) -> None:
    print(text, flush=True)


def log_tails(cluster: Cluster, lines: int = 25) -> str:
    """The end of each node's ha-log, to see why a step did not happen."""
    parts = []
    for name, node in cluster.nodes.items():
        path = node.path(HA_LOG)
        tail = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
        parts.append(f"--- {name}:{HA_LOG}\n" + "\n".join(tail))
    return "\n".join(parts)


def interrupt(signum, frame):
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the lab is still taken down
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.lab.demo", description=__doc__.split("\n\n")[0])
    # `make demo DEMO_FLAVOR=real` reaches us through the environment
    parser.add_argument("--flavor", choices=FLAVORS, default=os.environ.get("DEMO_FLAVOR", "ours"),
                        help="whose heartbeat the nodes run (mixed: ours on node1, Debian's 3.0.6 on node2; "
                             "mixed21: ours on node1, 2.1.3 on node2; hb21: 2.1.3 on both); "
                             "default $DEMO_FLAVOR or ours")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("the demo needs root: it builds network, mount and PID namespaces", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    remove_leftovers(report=lambda line: print(f"(leftover of an earlier run) {line}"))
    flavor = FLAVORS[args.flavor]
    try:
        with Lab() as lab:
            say(f"Building the lab ({args.flavor}): switch 'lan' 192.0.2.1 (also the ping node), "
                f"node1 192.0.2.11, node2 192.0.2.12, client 192.0.2.50; web service on {VIP}.")
            cluster = Cluster(lab, flavor, CONFIG)
            for name, node in cluster.nodes.items():
                say(f"    {name} runs {RUNS[node.flavor]}")
            poller = cluster.poll(duration=900)
            started = time.monotonic()
            results: list[Result] = []
            try:
                results.extend(play(cluster, poller, SCENARIOS, say))
            except (TimeoutError, subprocess.SubprocessError):
                say(log_tails(cluster))
                if results:
                    say("\nWhat worked before that:\n" + table(results))
                raise
            say(f"\nSummary ({args.flavor}, deadtime {CONFIG.deadtime} s, keepalive {CONFIG.keepalive} s, "
                f"auto_failback {CONFIG.auto_failback}; {time.monotonic() - started:.0f} s in all):\n"
                + table(results))
            poller.stop()
    except KeyboardInterrupt:
        print("\ninterrupted: the lab has been taken down", file=sys.stderr)
        return 130
    except (TimeoutError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"\ndemo failed: {exc}\n(the lab has been taken down)", file=sys.stderr)
        return 1
    say("The lab has been taken down.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
