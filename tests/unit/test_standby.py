"""hb_standby and hb_takeover: arguments, log line and the message to the daemon (spec §10)."""

from __future__ import annotations

import pytest

from tests.unit.hatree import ha_tree

SYNOPSIS = "[all|foreign|local|failback]"


@pytest.fixture
def tree(tmp_path):
    with ha_tree(tmp_path) as t:
        yield t


@pytest.mark.parametrize("args, sent", [
    ([], "all"), (["all"], "all"), (["local"], "local"), (["foreign"], "foreign"), (["failback"], "foreign"),
])
def test_hb_standby_logs_and_asks_to_give_resources_away(tree, args, sent):
    done = tree.run("hb_standby", *args)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert tree.log() == [("hb_standby", f"Going standby [{sent}].")]
    assert tree.messages() == [[("t", "ask_resources"), ("rsc_hold", sent), ("info", "me")]]


@pytest.mark.parametrize("args, sent", [
    ([], "all"), (["all"], "all"), (["local"], "local"), (["foreign"], "foreign"), (["failback"], "failback"),
])
def test_hb_takeover_asks_silently(tree, args, sent):
    done = tree.run("hb_takeover", *args)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert tree.log() == []
    assert tree.messages() == [[("t", "hb_takeover"), ("rsc_hold", sent)]]


@pytest.mark.parametrize("command", ["hb_standby", "hb_takeover"])
@pytest.mark.parametrize("args, complaint", [
    (["all", "local"], "too many arguments"),
    (["everything"], "wrong resources(everything)."),
    (["ALL"], "wrong resources(ALL)."),
    (["--help"], None),
    ([""], None),
])
def test_argument_errors_print_usage_and_send_nothing(tree, command, args, complaint):
    done = tree.run(command, *args)
    prog = tree.noarchbin / command
    assert done.returncode == 1
    assert done.stdout == (f"{prog}: {complaint}\n" if complaint else "") + "usage:\n"
    assert done.stderr == f"{prog} {SYNOPSIS}\n"
    assert tree.messages() == [] and tree.log() == []


@pytest.mark.parametrize("command", ["hb_standby", "hb_takeover"])
def test_without_a_daemon_the_command_fails_instead_of_hanging(tree, command):
    tree.close()
    done = tree.run(command, "all")
    assert done.returncode == 1
    assert done.stderr == f"cannot send cluster message: {tree.fifo}: no heartbeat daemon is reading it\n"


def test_a_missing_fifo_is_reported(tree):
    done = tree.run("hb_standby", HA_FIFO=str(tree.root / "nofifo"))
    assert done.returncode == 1
    assert done.stderr == f"cannot send cluster message: {tree.root / 'nofifo'}: No such file or directory\n"
