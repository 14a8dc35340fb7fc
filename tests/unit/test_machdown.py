"""mach_down NODE: taking over a dead node's groups (spec §10), through ResourceManager."""

from __future__ import annotations

import pytest

from tests.unit.hatree import ha_tree

HARESOURCES = """\
node1 Rec::mine
node2 Rec::b Rec::c
node2 Rec::d
"""


@pytest.fixture
def tree(tmp_path):
    with ha_tree(tmp_path, HARESOURCES, ["Rec"]) as t:
        yield t


def test_takes_every_group_of_the_dead_node_in_file_order(tree):
    done = tree.run("mach_down", "node2")
    assert done.returncode == 0, done.stderr
    rec = f"{tree.ha_dir}//resource.d/Rec"
    assert tree.log() == [
        ("mach_down", "info: Taking over resource group Rec::b"),
        ("ResourceManager", "info: Acquiring resource group: node2 Rec::b Rec::c"),
        ("ResourceManager", f"info: Running {rec} b start"),
        ("ResourceManager", f"info: Running {rec} c start"),
        ("mach_down", "info: Taking over resource group Rec::d"),
        ("ResourceManager", "info: Acquiring resource group: node2 Rec::d"),
        ("ResourceManager", f"info: Running {rec} d start"),
        ("mach_down", "info: mach_down takeover complete for node node2."),
    ]
    assert all(tree.running("Rec", x) for x in "bcd") and not tree.running("Rec", "mine")
    assert tree.messages() == []


def test_node_name_is_lowercased_and_running_resources_are_only_probed(tree):
    tree.set_running("Rec", "b")
    assert tree.run("mach_down", "NODE2").returncode == 0
    assert tree.calls() == ["Rec b status", "Rec c status", "Rec c start", "Rec d status", "Rec d start"]
    assert tree.log()[-1] == ("mach_down", "info: mach_down takeover complete for node node2.")


@pytest.mark.parametrize("value", ["yes", "Yes"])
def test_nice_failback_tells_the_daemon_the_takeover_is_done(tree, value):
    assert tree.run("mach_down", "node2", HA_NICEFAILBACK=value).returncode == 0
    prog = tree.noarchbin / "mach_down"
    assert tree.log()[-2:] == [
        ("mach_down", f"info: {prog}: nice_failback: foreign resources acquired"),
        ("mach_down", "info: mach_down takeover complete for node node2."),
    ]
    assert tree.messages() == [[("t", "resource"), ("rsc_hold", "foreign"), ("info", "mach_down")]]


def test_nice_failback_only_for_yes(tree):
    tree.run("mach_down", "node2", HA_NICEFAILBACK="YES")
    assert tree.messages() == []


@pytest.mark.parametrize("node, extra", [("node1", {}), ("Node1", {}), ("node2", {"HA_info": "ping"}),
                                         ("node2", {"HA_info": "ping_group"})])
def test_ourselves_and_ping_nodes_are_left_alone(tree, node, extra):
    done = tree.run("mach_down", node, **extra)
    assert done.returncode == 0
    assert tree.calls() == [] and tree.log() == [] and tree.messages() == []


def test_a_node_without_groups_only_logs_completion(tree):
    assert tree.run("mach_down", "node3").returncode == 0
    assert tree.log() == [("mach_down", "info: mach_down takeover complete for node node3.")]
    assert tree.calls() == []


@pytest.mark.parametrize("args", [[], [""], [" "], ["node2", "node3"]])
def test_bad_arguments_change_nothing(tree, args):
    done = tree.run("mach_down", *args)
    assert done.returncode == 1
    assert done.stderr == f"usage: {tree.noarchbin / 'mach_down'} node\n"
    assert tree.calls() == [] and tree.log() == [] and tree.messages() == []


def test_without_a_daemon_the_takeover_happens_and_the_message_fails_clearly(tree):
    tree.close()                       # nobody reads the FIFO any more
    done = tree.run("mach_down", "node2", HA_NICEFAILBACK="yes")
    assert done.returncode == 1
    assert done.stderr == f"cannot send cluster message: {tree.fifo}: no heartbeat daemon is reading it\n"
    assert tree.running("Rec", "d")
    assert tree.log()[-1] == ("mach_down", "info: mach_down takeover complete for node node2.")
