"""The lab's fixtures and failure report hook (tests/lab/fixtures.py)."""

from tests.lab.fixtures import lab, lab_session, pytest_runtest_makereport  # noqa: F401 (pytest finds them here)
