"""`make bench`: our heartbeat next to Debian's 3.0.6 and heartbeat 2.1.3, same configs, one run, numbers only.

For each flavor a fresh two-node lab plays the demo's scenarios (standby,
takeover, SIGKILL crash, node death, graceful stop and the failbacks) while
the client polls the floating address; the times are what the client saw.
Between start-up and the first scenario both nodes idle for `--idle` seconds:
CPU is utime+stime of every heartbeat process (/proc/PID/stat) over that
window, memory is VmRSS and Pss summed over those processes at its end.

    python3 -m tests.bench [--flavors ours,real,mixed21,hb21] [--idle 30]

Flavors are the demo's: ours and real (3.0.6) on both nodes, mixed (ours + 3.0.6),
mixed21 (ours on node1 + 2.1.3 on node2, a rolling migration from 2.1.x) and hb21
(2.1.3 on both, the baseline of mixed21; built once into /opt/hb21 if missing).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from tests.lab import Lab, Node
from tests.lab.cluster import Cluster, heartbeat_pids
from tests.lab.demo import CONFIG, FLAVORS, SCENARIOS, Result, interrupt, play
from tests.lab.teardown import remove_leftovers

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the command name may hold blanks; the fields after it are fixed
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory_kb(pid: int, path: str, key: str) -> int:
    try:
        with open(f"/proc/{pid}/{path}") as f:
            return next((int(line.split()[1]) for line in f if line.startswith(key + ":")), 0)
    except FileNotFoundError:
        return 0


@dataclass
class Idle:
    processes: int
    cpu_percent: float  # of one CPU
    rss_mb: float
    pss_mb: float


def measure_idle(nodes: list[Node], seconds: float) -> dict[str, Idle]:
    """Every node over the same window; processes that end inside it are left out."""
    before = {node.name: {pid: cpu_seconds(pid) for pid in heartbeat_pids(node)} for node in nodes}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    result = {}
    for node in nodes:
        used, pids = 0.0, []
        for pid, then in before[node.name].items():
            now = cpu_seconds(pid)
            if then is not None and now is not None:
                used += now - then
                pids.append(pid)
        result[node.name] = Idle(len(pids), 100 * used / elapsed,
                                 sum(memory_kb(p, "status", "VmRSS") for p in pids) / 1024,
                                 sum(memory_kb(p, "smaps_rollup", "Pss") for p in pids) / 1024)
    return result


@dataclass
class Report:
    flavor: str
    rows: dict[str, str] = field(default_factory=dict)  # metric -> value
    error: str | None = None


def quiet(text: str) -> None:
    """The demo's narration, unwanted here."""


def bench(flavor: str, idle_seconds: float) -> Report:
    """The numbers of one flavor; those measured before a failure are kept."""
    report = Report(flavor)
    results: list[Result] = []
    idle: dict[str, Idle] = {}
    try:
        with Lab() as lab:
            cluster = Cluster(lab, FLAVORS[flavor], CONFIG)
            poller = cluster.poll(duration=900)
            steps = play(cluster, poller, SCENARIOS, quiet)
            results.append(next(steps))  # the start-up
            idle = measure_idle(list(cluster.nodes.values()), idle_seconds)
            results.extend(steps)
            poller.stop()
    except (TimeoutError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        report.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    measured = {r.scenario.name: r.move for r in results}
    for scenario in SCENARIOS:  # the same rows in the same order for every flavor
        move = measured.get(scenario.name)
        report.rows[f"{scenario.name}: first answer (s)"] = f"{move.took:.2f}" if move else "-"
        report.rows[f"{scenario.name}: client outage (s)"] = f"{move.outage:.2f}" if move else "-"
    for name, sample in idle.items():
        report.rows[f"idle {name}: processes"] = str(sample.processes)
        report.rows[f"idle {name}: CPU over {idle_seconds:g} s (% of one CPU)"] = f"{sample.cpu_percent:.3f}"
        report.rows[f"idle {name}: VmRSS sum (MB)"] = f"{sample.rss_mb:.1f}"
        report.rows[f"idle {name}: Pss sum (MB)"] = f"{sample.pss_mb:.1f}"
    return report


def table(reports: list[Report]) -> str:
    metrics = list(dict.fromkeys(m for r in reports for m in r.rows))
    rows = [("", *(r.flavor for r in reports))]
    rows += [(m, *(r.rows.get(m, "-") for r in reports)) for m in metrics]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    notes = [f"{r.flavor} failed: {r.error}" for r in reports if r.error]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:], *notes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--flavors", default="ours,real,mixed21,hb21",
                        help=f"comma-separated: {', '.join(FLAVORS)}")
    parser.add_argument("--idle", type=float, default=30, help="seconds of the idle CPU window")
    args = parser.parse_args(argv)
    flavors = args.flavors.split(",")
    if not set(flavors) <= set(FLAVORS):
        parser.error(f"flavors are {', '.join(FLAVORS)}")
    if os.geteuid() != 0:
        print("the benchmark needs root: it builds network namespaces", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    remove_leftovers(report=lambda line: None)
    reports = []
    try:
        for flavor in flavors:
            print(f"benchmarking {flavor} ...", file=sys.stderr, flush=True)
            reports.append(bench(flavor, args.idle))
    except KeyboardInterrupt:
        print("interrupted: the lab has been taken down", file=sys.stderr)
        return 130
    print(f"config: keepalive {CONFIG.keepalive} s, deadtime {CONFIG.deadtime} s, bcast + ping node, "
          f"auto_failback {CONFIG.auto_failback}; times are client-observed\n" + table(reports))
    return 1 if any(r.error for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
