"""Two wizards on one config: the second is told who holds it instead of silently
overwriting the first one's settings (core/config/wizard_lock.py)."""

import json
import os
import socket
import time

import pytest

from ft_tui.core.config.wizard_lock import WizardLock, read_holder, wizard_lock_for
from tests.fixtures.other_wizard import other_wizard, start_holder


def test_a_live_wizard_keeps_the_config_and_is_named(tmp_path):
    config = tmp_path / "ft-tui.yaml"
    with other_wizard(config) as proc:
        holder = WizardLock(config).claim()
        assert holder is not None and holder.pid == proc.pid and holder.on_this_host
        assert f"process {proc.pid} on this machine, since " in holder.describe()
        assert read_holder(wizard_lock_for(config)).pid == proc.pid   # left as it was


def test_the_lock_of_a_killed_wizard_is_taken_over_silently(tmp_path):
    config = tmp_path / "ft-tui.yaml"
    proc = start_holder(config)
    proc.kill()    # kill -9: no clean exit, the lock file stays behind
    proc.wait()
    proc.stdout.close()
    assert read_holder(wizard_lock_for(config)).pid == proc.pid
    lock = WizardLock(config)
    assert lock.claim() is None and lock.held
    assert read_holder(lock.path).pid == os.getpid()
    lock.release()
    assert not lock.path.exists()


def test_a_pid_reused_by_a_later_process_is_stale(tmp_path):
    """After a reboot the pid in the lock may belong to some other process, started after
    the lock was written: that is not the wizard."""
    config = tmp_path / "ft-tui.yaml"
    wizard_lock_for(config).write_text(json.dumps(
        {"pid": os.getppid(), "host": socket.gethostname(), "started": 1000.0}))
    assert WizardLock(config).claim() is None


def test_a_lock_from_another_host_is_reported_not_broken(tmp_path):
    config = tmp_path / "ft-tui.yaml"
    path = wizard_lock_for(config)
    text = json.dumps({"pid": 1, "host": "gpu-box-other-host", "started": time.time() - 60})
    path.write_text(text)
    holder = WizardLock(config).claim()
    assert holder is not None and not holder.on_this_host
    assert "host gpu-box-other-host" in holder.describe()
    assert path.read_text() == text


@pytest.mark.parametrize("first_look", ["no lock yet", "a stale lock"])
def test_a_racing_wizard_never_replaces_a_live_lock(tmp_path, monkeypatch, first_look):
    """Two wizards start at once. "no lock yet": both found no lock and both create one;
    the second create must fail, not replace the first. "a stale lock": both found the same
    stale lock and the first took it over; the second, moving the old one aside, finds the
    first one's live lock instead and must put it back. Either way the loser reports the
    winner and leaves no file behind."""
    import ft_tui.core.config.wizard_lock as wizard_lock

    config = tmp_path / "ft-tui.yaml"
    real_read, looks = wizard_lock.read_holder, []
    stale = wizard_lock.LockHolder(2 ** 22 + 1, socket.gethostname(), 1000.0)

    def first_look_is_out_of_date(path):
        looks.append(path)
        if len(looks) == 1:
            return None if first_look == "no lock yet" else stale
        return real_read(path)

    with other_wizard(config) as other:
        monkeypatch.setattr(wizard_lock, "read_holder", first_look_is_out_of_date)
        holder = WizardLock(config).claim()
        assert holder is not None and holder.pid == other.pid
        assert real_read(wizard_lock_for(config)).pid == other.pid
        assert [p.name for p in tmp_path.iterdir()] == ["ft-tui.wizard.lock"]


def test_release_removes_only_its_own_lock(tmp_path):
    config = tmp_path / "ft-tui.yaml"
    first = WizardLock(config)
    assert first.claim() is None
    first.release()
    assert not first.path.exists()
    with other_wizard(config):
        assert first.claim() is not None
        first.release()   # never held: the other wizard's lock stays
        assert first.path.exists()


def test_a_damaged_lock_is_replaced(tmp_path):
    config = tmp_path / "ft-tui.yaml"
    wizard_lock_for(config).write_text("{not json")
    lock = WizardLock(config)
    assert lock.claim() is None
    assert read_holder(lock.path).pid == os.getpid()


def test_only_the_wizard_takes_the_lock():
    """`ft-tui monitor`, the CLI commands and a training run never write the wizard's config,
    so they neither take the lock nor wait for it: only the wizard app imports it."""
    from tests.test_architecture import PACKAGE, imports_of

    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if "ft_tui.core.config.wizard_lock" in imports_of(p))
    assert users == ["tui/app.py", "tui/screens/config_held.py"]
