"""The lab's 2.1.3 build: found beside the checkout, run once, under a lock, only when missing."""

from __future__ import annotations

import pytest

from tests.lab import hb21


@pytest.fixture
def layout(tmp_path, monkeypatch):
    """A checkout at tmp/work/repo, shared/ beside work/, and a daemon path of our own."""
    repo = tmp_path / "work/repo"
    repo.mkdir(parents=True)
    daemon = tmp_path / "opt/hb21/lib64/heartbeat/heartbeat"
    monkeypatch.setattr(hb21, "REPO", repo)
    monkeypatch.setattr(hb21, "DAEMON", daemon)
    monkeypatch.setattr(hb21, "LOCK", tmp_path / "lock")
    return tmp_path, daemon


def script(where, text):
    path = where / "shared/tools/hb21/build.sh"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_build_script_is_found_beside_the_checkout_or_a_parent(layout):
    root, _ = layout
    assert hb21.build_script() is None
    found = script(root, "")
    assert hb21.build_script() == found


def test_a_shared_folder_higher_up_is_not_the_checkouts(layout, monkeypatch):
    root, _ = layout
    script(root, "")
    repo = root / "deeper/work/repo"
    repo.mkdir(parents=True)
    monkeypatch.setattr(hb21, "REPO", repo)
    assert hb21.build_script() is None
    beside = script(root / "deeper", "")
    assert hb21.build_script() == beside


def test_builds_once_then_reuses(layout):
    root, daemon = layout
    runs = root / "runs"
    script(root, f'echo run >> {runs}\nmkdir -p {daemon.parent} && touch {daemon}\n[ -d "$WORK" ]\n')
    assert hb21.ensure_built() == hb21.PREFIX and daemon.exists()
    hb21.ensure_built()
    assert runs.read_text() == "run\n"


def test_a_failed_build_or_no_script_says_why(layout):
    root, _ = layout
    with pytest.raises(RuntimeError, match="no shared/tools/hb21/build.sh was found"):
        hb21.ensure_built()
    script(root, "echo compiler exploded\nexit 3\n")
    with pytest.raises(RuntimeError, match=r"failed \(3\):\ncompiler exploded"):
        hb21.ensure_built()
