"""`make bench`: our heartbeat next to Debian's 3.0.6 and heartbeat 2.1.3, same configs, medians over rounds.

A round is one fresh two-node lab per flavor playing the demo's scenarios
(start, standby, takeover, SIGKILL crash, node death, graceful stop and the
failbacks) while the client polls the floating address and the switch captures
ARP. The flavors take turns round by round, so both see the same load over the
run; every number is the median over the rounds. Per scenario, from the action
(the fault): the first gratuitous ARP for the address from the node that must
serve next, as the switch saw it, the client's first answer from that node, and
how long the client went without any answer. Where the survivor must declare
node1 dead (crash, node dies), its first gratuitous ARP is also timed from the
deadline: the last heartbeat packet node1 sent, as the switch saw it, plus
deadtime, and from the declared death: the survivor's STONITH message about
node1, which it broadcasts as it logs "node node1: is dead" (whose stamp has
whole seconds only). Between start-up and the first
scenario both nodes idle for `--idle` seconds: CPU is utime+stime of every
heartbeat process (/proc/PID/schedstat) over that window, memory is VmRSS and Pss
summed over those processes at its end. Then node1 runs each command admins
type (cl_status, ResourceManager listkeys, heartbeat -s, IPaddr status) a few
times: its CPU is the median of user + system time of one run.

    python3 -m tests.bench [--flavors ours,real,mixed21,hb21] [--runs 5] [--idle 10] [--json FILE]
                           [--scenarios "start,crash,crash: failback,node dies"]

Flavors are the demo's: ours and real (3.0.6) on both nodes, mixed (ours + 3.0.6),
mixed21 (ours on node1 + 2.1.3 on node2, a rolling migration from 2.1.x) and hb21
(2.1.3 on both, the baseline of mixed21; built once into /opt/hb21 if missing).
Our nodes run PYHB_NODE_PYTHON when set, else this interpreter; docs/performance.md
has the published numbers and the command that made them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.lab import Lab, Node
from tests.lab.capture import Frame
from tests.lab.cluster import VIP, Cluster, heartbeat_pids
from tests.lab.demo import CONFIG, FLAVORS, SCENARIOS, Result, Scenario, interrupt, play
from tests.lab.hb21 import DAEMON as HB21_DAEMON
from tests.lab.lab import node_python, wait_for
from tests.lab.teardown import remove_leftovers

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SCHEDSTAT = os.path.exists("/proc/self/schedstat")  # the kernel keeps schedstats (CONFIG_SCHED_INFO)
CHECKOUT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 60.0
COMMAND_RUNS = 5
# where the survivor must declare node1 dead; its first ARP is also timed from the deadline
DEATHS = ("crash", "node dies")
# by node flavor (not bench flavor): mixed21's node1 runs ours
DAEMON = {"ours": "/usr/libexec/heartbeat/heartbeat", "real": "/usr/lib/heartbeat/heartbeat", "hb21": str(HB21_DAEMON)}


def commands(flavor: str) -> dict[str, list[str]]:
    """What admins type, run on node1 while the cluster idles after the start; `flavor` is node1's."""
    return {"cl_status hbstatus": ["cl_status", "hbstatus"],
            "ResourceManager listkeys": ["/usr/share/heartbeat/ResourceManager", "listkeys", "node1"],
            "heartbeat -s": [DAEMON[flavor], "-s"],
            "IPaddr status": ["/etc/ha.d/resource.d/IPaddr", f"{VIP}/24/eth0", "status"]}


def command_cpu_ms(node: Node, argv: list[str]) -> float:
    """Median CPU (user + system, ms) of one run of ``argv`` in the node, over a few runs; the
    few ms of nsenter that enters the node are included."""
    used = []
    for _ in range(COMMAND_RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        node.run(argv, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used.append(1000 * (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime))
    return statistics.median(used)


def cpu_seconds(pid: int, proc: str = "/proc") -> float | None:
    """CPU time ``pid`` has used so far, None once it is gone: /proc/PID/schedstat's nanoseconds
    on a CPU where the kernel keeps them, else utime + stime from /proc/PID/stat, whose 10 ms
    ticks are coarse for an idle daemon (one tick over a 30 s window is 0.033 % of a CPU)."""
    try:
        if SCHEDSTAT:
            with open(f"{proc}/{pid}/schedstat") as f:
                return int(f.read().split()[0]) / 1e9
        with open(f"{proc}/{pid}/stat") as f:
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


def node_mac(node: Node) -> str:
    return node.run(["cat", "/sys/class/net/eth0/address"]).stdout.strip().lower()


def first_garp(frames: list[Frame], mac: str, after: float) -> float | None:
    """When (Unix seconds) the first ARP frame announcing the floating address from `mac` at or
    after `after` crossed the switch."""
    for frame in frames:
        packet = frame.packet
        if frame.time >= after and packet.haslayer("ARP") and packet["ARP"].psrc == VIP \
                and packet["ARP"].hwsrc.lower() == mac:
            return frame.time
    return None


def last_heartbeat(frames: list[Frame], mac: str, before: float) -> float | None:
    """When the last heartbeat (a status message to the cluster's port) from `mac` before `before`
    crossed the switch: deadtime runs from the last one the survivor heard of a node that died
    (acknowledgements and other messages do not keep a node alive)."""
    return max((frame.time for frame in frames if frame.time < before and frame.packet.haslayer("UDP")
                and frame.packet.src.lower() == mac and frame.packet["UDP"].dport == CONFIG.udpport
                and b"t=status" in bytes(frame.packet["UDP"].payload)), default=None)


def declared_dead(frames: list[Frame], mac: str, dead: str, after: float) -> float | None:
    """When the survivor (`mac`) announced `dead`'s death after `after`: its STONITH message for
    that node (sent with the "is dead" log line, also when no STONITH device is configured; the
    same fields in the classic and the netstring encoding)."""
    for frame in frames:
        packet = frame.packet
        if frame.time >= after and packet.haslayer("UDP") and packet.src.lower() == mac \
                and packet["UDP"].dport == CONFIG.udpport:
            payload = bytes(packet["UDP"].payload)
            if b"t=stonith" in payload and f"node={dead}".encode() in payload:
                return frame.time
    return None


def since(then: float | None, now: float | None) -> float | None:
    return None if then is None or now is None else now - then


@dataclass
class Sample:
    """One flavor's numbers from one round; those measured before a failure are kept."""
    flavor: str
    round: int
    values: dict[str, float | None] = field(default_factory=dict)  # metric -> value
    error: str | None = None


def metric_names(idle_seconds: float, scenarios: tuple[Scenario, ...] = SCENARIOS) -> list[str]:
    """Every metric in table order, the same for every flavor."""
    names = []
    for scenario in scenarios:
        names.append(f"{scenario.name}: first gratuitous ARP (s)")
        if scenario.name in DEATHS:
            names += [f"{scenario.name}: first gratuitous ARP after the deadline (s)",
                      f"{scenario.name}: first gratuitous ARP after the declared death (s)"]
        names += [f"{scenario.name}: first answer (s)", f"{scenario.name}: client outage (s)"]
    names += [f"CPU of `{name}` (ms)" for name in commands("ours")]
    for node in CONFIG.nodes:
        names += [f"idle {node}: processes", f"idle {node}: CPU over {idle_seconds:g} s (% of one CPU)",
                  f"idle {node}: VmRSS sum (MB)", f"idle {node}: Pss sum (MB)"]
    return names


def quiet(text: str) -> None:
    """The demo's narration, unwanted here."""


def stop_all(cluster: Cluster) -> None:
    """Both nodes stopped gracefully, so that the lab is taken down from a quiet state."""
    for name in cluster.running():
        cluster.stop(name)
    wait_for(lambda: not cluster.running(), STOP_TIMEOUT, "every heartbeat to stop")


def play_round(flavor: str, number: int, idle_seconds: float, scenarios: tuple[Scenario, ...] = SCENARIOS) -> Sample:
    sample = Sample(flavor, number)
    results: list[Result] = []
    frames: list[Frame] = []
    idle: dict[str, Idle] = {}
    macs: dict[str, str] = {}
    command_cpu: dict[str, float] = {}
    try:
        with Lab() as lab:
            cluster = Cluster(lab, FLAVORS[flavor], CONFIG)
            macs = {name: node_mac(node) for name, node in cluster.nodes.items()}
            # heartbeat packets too: the last one a dead node sent starts its deadtime
            capture = lab.capture(cluster.switch, "br0", f"arp or udp port {CONFIG.udpport}")
            poller = cluster.poll(duration=900)
            try:
                steps = play(cluster, poller, scenarios, quiet)
                results.append(next(steps))  # the start-up
                idle = measure_idle(list(cluster.nodes.values()), idle_seconds)
                command_cpu = {name: command_cpu_ms(cluster.nodes["node1"], argv)
                               for name, argv in commands(cluster.nodes["node1"].flavor).items()}
                results.extend(steps)
            finally:
                poller.stop()
                frames = capture.stop()
            stop_all(cluster)
    except (TimeoutError, RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
        sample.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    for result in results:
        name, move = result.scenario.name, result.move
        garp = first_garp(frames, macs[result.scenario.serves], move.started)
        sample.values[f"{name}: first gratuitous ARP (s)"] = since(move.started, garp)
        if name in DEATHS:
            dead = next(n for n in macs if n != result.scenario.serves)
            heard = last_heartbeat(frames, macs[dead], garp if garp is not None else move.started + move.took)
            sample.values[f"{name}: first gratuitous ARP after the deadline (s)"] = \
                since(None if heard is None else heard + float(CONFIG.deadtime), garp)
            sample.values[f"{name}: first gratuitous ARP after the declared death (s)"] = \
                since(declared_dead(frames, macs[result.scenario.serves], dead, move.started), garp)
        sample.values[f"{name}: first answer (s)"] = move.took
        sample.values[f"{name}: client outage (s)"] = move.outage
    for name, ms in command_cpu.items():
        sample.values[f"CPU of `{name}` (ms)"] = ms
    for name, measured in idle.items():
        sample.values[f"idle {name}: processes"] = measured.processes
        sample.values[f"idle {name}: CPU over {idle_seconds:g} s (% of one CPU)"] = measured.cpu_percent
        sample.values[f"idle {name}: VmRSS sum (MB)"] = measured.rss_mb
        sample.values[f"idle {name}: Pss sum (MB)"] = measured.pss_mb
    return sample


def medians(samples: list[Sample], flavor: str, metrics: list[str]) -> dict[str, tuple[float | None, int]]:
    """metric -> (median over the rounds that measured it, how many did)."""
    found = {}
    for metric in metrics:
        values = [s.values[metric] for s in samples if s.flavor == flavor and s.values.get(metric) is not None]
        found[metric] = (statistics.median(values) if values else None, len(values))
    return found


def table(samples: list[Sample], flavors: list[str], metrics: list[str], runs: int) -> str:
    by_flavor = {flavor: medians(samples, flavor, metrics) for flavor in flavors}

    def cell(median: float | None, n: int) -> str:
        if median is None:
            return "-"
        return f"{median:.3f}" + ("" if n == runs else f" (n={n})")

    rows = [(f"median of {runs} rounds", *flavors)]
    rows += [(m, *(cell(*by_flavor[f][m]) for f in flavors)) for m in metrics]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    notes = [f"{s.flavor} round {s.round} failed: {s.error}" for s in samples if s.error]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:], *notes])


def machine() -> dict[str, object]:
    def first(path: str, key: str) -> str:
        try:
            with open(path) as f:
                return next((line.split(":", 1)[1].strip() for line in f if line.startswith(key)), "")
        except OSError:
            return ""

    commit = subprocess.run(["git", "-C", str(CHECKOUT), "describe", "--always", "--dirty", "--abbrev=40"],
                            check=False, capture_output=True, text=True, timeout=10).stdout.strip()
    return {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "cpu": first("/proc/cpuinfo", "model name"), "memory": first("/proc/meminfo", "MemTotal"),
            "python": platform.python_version(), "commit": commit}


def byte_compile() -> None:
    """Our package as an install leaves it: byte-compiled for the nodes' interpreter. The nodes
    import it from this checkout, and with PYTHONDONTWRITEBYTECODE set (or a read-only tree)
    every interpreter start would compile every module it imports again, tens of ms of CPU
    per command and per script of a failover that no installed copy spends."""
    subprocess.run([node_python(), "-m", "compileall", "-q", str(CHECKOUT / "heartbeat")],
                   check=True, timeout=300, stdout=subprocess.DEVNULL)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--flavors", default="ours,real,mixed21,hb21",
                        help=f"comma-separated: {', '.join(FLAVORS)}")
    parser.add_argument("--runs", type=int, default=5, help="rounds; each number is the median over them")
    parser.add_argument("--idle", type=float, default=10, help="seconds of the idle CPU window")
    parser.add_argument("--json", type=Path, help="write every round's raw numbers and the medians here")
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS),
                        help="comma-separated, in play order, start first; each must find the state the "
                             "ones before it leave (a failback after its fault). Default: all")
    args = parser.parse_args(argv)
    flavors = args.flavors.split(",")
    if not set(flavors) <= set(FLAVORS) or not 1 <= args.runs <= 50:
        parser.error(f"flavors are {', '.join(FLAVORS)}; 1 to 50 runs")
    by_name = {s.name: s for s in SCENARIOS}
    wanted = args.scenarios.split(",")
    if not set(wanted) <= set(by_name) or wanted[0] != "start" or len(set(wanted)) != len(wanted):
        parser.error(f"scenarios (start first, each once): {', '.join(by_name)}")
    scenarios = tuple(by_name[name] for name in wanted)
    if os.geteuid() != 0:
        print("the benchmark needs root: it builds network namespaces", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    remove_leftovers(report=lambda line: None)
    byte_compile()
    metrics = metric_names(args.idle, scenarios)
    started, load_before = time.time(), loadavg()
    samples: list[Sample] = []

    def save(complete: bool) -> None:
        """The raw numbers so far: rewritten after every round, so that a run stopped early
        (a deadline, a crash of the machine) keeps what it measured."""
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                "command": "python3 -m tests.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
                "complete": complete, "minutes": round((time.time() - started) / 60, 1),
                "load_before": load_before, "load_after": loadavg(), "machine": machine(),
                "node_python": node_python(),
                "config": {"keepalive": CONFIG.keepalive, "deadtime": CONFIG.deadtime, "idle_window_s": args.idle},
                "medians": {f: {m: v for m, (v, _n) in medians(samples, f, metrics).items()} for f in flavors},
                "rounds": [asdict(s) for s in samples]}, indent=1) + "\n")

    try:
        for number in range(1, args.runs + 1):
            for flavor in flavors:
                print(f"round {number}/{args.runs}: {flavor} (load {loadavg()}) ...", file=sys.stderr, flush=True)
                samples.append(play_round(flavor, number, args.idle, scenarios))
                save(complete=False)
    except KeyboardInterrupt:
        print("interrupted: the lab has been taken down", file=sys.stderr)
        return 130
    took = time.time() - started
    header = (f"config: keepalive {CONFIG.keepalive} s, deadtime {CONFIG.deadtime} s, bcast + ping node, "
              f"auto_failback {CONFIG.auto_failback}; seconds from the action; load average "
              f"{load_before} at the start, {loadavg()} at the end; {took / 60:.1f} min")
    print(header + "\n" + table(samples, flavors, metrics, args.runs))
    save(complete=True)
    return 1 if any(s.error for s in samples) else 0


if __name__ == "__main__":
    sys.exit(main())
