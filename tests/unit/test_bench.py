"""make bench's arithmetic: the new holder's first ARP frame, the dead node's deadline and declared
death, the medians."""

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

import pytest

import tests.bench
from tests.bench import (
    Sample,
    cpu_seconds,
    declared_dead,
    first_garp,
    last_heartbeat,
    main,
    medians,
    metric_names,
    table,
)
from tests.lab.capture import Frame
from tests.lab.cluster import VIP

NODE1, NODE2 = "02:00:c0:00:02:0b", "02:00:c0:00:02:0c"


def garp(when: float, mac: str, ip: str = VIP) -> Frame:
    return Frame(when, Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=ip, pdst=ip))


def test_the_first_announcement_of_the_address_by_the_new_holder_after_the_fault():
    frames = [garp(99.0, NODE2), garp(100.2, NODE1), garp(100.3, NODE2, "192.0.2.12"), garp(100.5, NODE2),
              garp(100.75, NODE2)]
    assert first_garp(frames, NODE2, 100.0) == 100.5
    assert first_garp(frames, NODE1, 100.3) is None


def heartbeat_packet(when: float, mac: str, payload: bytes) -> Frame:
    return Frame(when, Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="192.0.2.11", dst="192.0.2.255")
                 / UDP(sport=40000, dport=694) / payload)


def test_the_deadline_runs_from_the_dead_nodes_last_status_message_not_its_acks():
    frames = [heartbeat_packet(10.0, NODE1, b">>>\nt=status\nst=active\n<<<\n"),
              heartbeat_packet(10.4, NODE1, b"###\n14:(0)t=NS_ackmsg,%%%\n"),
              heartbeat_packet(10.6, NODE2, b"###\n11:(0)t=status,%%%\n"),
              heartbeat_packet(11.0, NODE1, b"###\n11:(0)t=status,%%%\n")]
    assert last_heartbeat(frames, NODE1, before=10.9) == 10.0
    assert last_heartbeat(frames, NODE1, before=12.0) == 11.0
    assert last_heartbeat(frames, NODE1, before=9.0) is None


def test_the_death_is_declared_by_the_survivors_stonith_message_about_that_node():
    frames = [heartbeat_packet(5.0, NODE2, b"###\n12:(0)t=stonith,13:(0)node=node3,%%%\n"),
              heartbeat_packet(6.0, NODE1, b">>>\nt=stonith\nnode=node1\n<<<\n"),
              heartbeat_packet(7.0, NODE2, b">>>\nt=stonith\nnode=node1\nresult=n_stnth\n<<<\n")]
    assert declared_dead(frames, NODE2, "node1", after=0.0) == 7.0
    assert declared_dead(frames, NODE2, "node1", after=7.5) is None


def test_medians_count_only_the_rounds_that_measured():
    samples = [Sample("ours", 1, {"m": 1.0}), Sample("ours", 2, {"m": 3.0}), Sample("ours", 3, {"m": None}),
               Sample("real", 1, {"m": 5.0}), Sample("ours", 4, {"m": 2.0}, error="TimeoutError: x")]
    assert medians(samples, "ours", ["m"]) == {"m": (2.0, 3)}
    assert medians(samples, "real", ["m", "n"]) == {"m": (5.0, 1), "n": (None, 0)}
    text = table(samples, ["ours", "real"], ["m"], runs=4)
    assert "2.000 (n=3)" in text and "5.000 (n=1)" in text and "ours round 4 failed: TimeoutError: x" in text


@pytest.mark.parametrize("scenarios", ["crash", "start,crash,crash", "start,nosuch"])
def test_a_scenario_list_must_start_with_the_start_and_name_each_once(scenarios, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--scenarios", scenarios])
    assert stopped.value.code == 2 and "start first, each once" in capsys.readouterr().err


def test_only_the_chosen_scenarios_have_metrics():
    from tests.lab.demo import SCENARIOS
    chosen = tuple(s for s in SCENARIOS if s.name in ("start", "crash"))
    names = [n for n in metric_names(2, chosen) if not n.startswith(("CPU", "idle"))]
    assert names == ["start: first gratuitous ARP (s)", "start: first answer (s)", "start: client outage (s)",
                     "crash: first gratuitous ARP (s)", "crash: first gratuitous ARP after the deadline (s)",
                     "crash: first gratuitous ARP after the declared death (s)", "crash: first answer (s)",
                     "crash: client outage (s)"]


def test_cpu_time_in_nanoseconds_where_the_kernel_keeps_them_else_in_ticks(tmp_path, monkeypatch):
    pid = tmp_path / "4242"
    pid.mkdir()
    (pid / "schedstat").write_text("1234567890 55 7\n")
    (pid / "stat").write_text("4242 (python3 heart beat) S " + " ".join(["0"] * 10) + " 250 50 0 0\n")
    monkeypatch.setattr(tests.bench, "SCHEDSTAT", True)
    assert cpu_seconds(4242, str(tmp_path)) == pytest.approx(1.23456789)
    monkeypatch.setattr(tests.bench, "SCHEDSTAT", False)
    assert cpu_seconds(4242, str(tmp_path)) == pytest.approx(300 / tests.bench.CLOCK_TICKS)
    assert cpu_seconds(4243, str(tmp_path)) is None
