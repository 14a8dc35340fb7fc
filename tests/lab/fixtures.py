"""Fixtures of the tiers that build labs (tests/netns, tests/interop): a fresh `Lab` per test,
and node logs in failure reports. Each tier's conftest imports them, so both share one copy."""

import os
import signal
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.lab.teardown import remove_leftovers

LOG_LINES = 80


@pytest.fixture(scope="session", autouse=True)
def lab_session():
    """Remove leftovers of dead runs, and turn SIGTERM into KeyboardInterrupt
    so that a killed run still leaves its `with Lab()` blocks."""
    if os.geteuid() != 0:
        yield
        return
    remove_leftovers(report=lambda line: None)

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def lab():
    with Lab() as lab:
        yield lab


def lab_logs(lab: Lab) -> str:
    """The tail of every file in each node's /var/log."""
    parts = []
    for node in lab.nodes.values():
        for path in sorted(Path(node.path("/var/log")).rglob("*")):
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-LOG_LINES:]
                parts.append(f"--- {node.name}:/var/log/{path.relative_to(node.path('/var/log'))}\n" + "\n".join(tail))
    return "\n".join(parts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        labs = [v if isinstance(v, Lab) else getattr(v, "lab", None) for v in getattr(item, "funcargs", {}).values()]
        for lab in filter(lambda v: isinstance(v, Lab), labs):
            text = lab_logs(lab)
            if text:
                report.sections.append(("lab logs", text))
