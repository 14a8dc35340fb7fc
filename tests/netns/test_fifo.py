"""The FIFO of another owner: only root can give one away to set the case up."""

from tests.unit.test_fifo import assert_replaced

NOBODY = 65534


def test_a_fifo_of_another_owner_is_replaced_by_a_fresh_0600_one_of_ours(tmp_path):
    """Issue 8 row 13: another user's FIFO, even 0600, lets that user send cluster messages."""
    assert_replaced(tmp_path / "fifo", 0o600, NOBODY)
