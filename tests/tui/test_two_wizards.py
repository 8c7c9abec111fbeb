"""Two wizards in one folder (the first left in a detached tmux): the second says who holds
the config and opens read-only or quits; it never saves over the first one's settings."""

import os
from contextlib import asynccontextmanager

import pytest
from textual.widgets import Static

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.config.wizard_lock import read_holder, wizard_lock_for
from ft_tui.tui.app import FtTuiApp
from ft_tui.tui.messages import ConfigChanged
from ft_tui.tui.screens.config_held import ConfigHeldModal
from ft_tui.tui.state import ReadOnlyState
from tests.fixtures.other_wizard import other_wizard, start_holder
from tests.tui.render_text import plain, screen_text

pytestmark = pytest.mark.anyio


@pytest.fixture()
def config_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "ft-tui.yaml"
    cfg = RunConfig()
    cfg.lora.r = 32    # the first wizard's setting, which must survive
    cfg.save(path)
    return path


def _files(config_path):
    progress = config_path.with_name("ft-tui.wizard.json")
    return [(p.read_bytes(), p.stat().st_mtime_ns) if p.exists() else None
            for p in (config_path, progress)]


@asynccontextmanager
async def _second_wizard(config_path):
    """A wizard opened (at 80x24) while another process holds its config."""
    with other_wizard(config_path) as other:
        app = FtTuiApp(config_path=str(config_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, ConfigHeldModal)
            yield app, pilot, other


async def test_read_only_wizard_names_the_holder_and_never_saves(config_path):
    before = _files(config_path)
    async with _second_wizard(config_path) as (app, pilot, other):
        text = screen_text(app)
        assert f"process {other.pid} on this machine, since" in text
        assert "tmux attach" in text and "ft-tui --config other.yaml" in text
        assert "Open read-only (r)" in text and "Quit (q)" in text

        await pilot.press("r")
        await pilot.pause()
        assert not isinstance(app.screen, ConfigHeldModal)
        banner = app.query_one("#read-only", Static)
        assert banner.region.height == 1 and banner.region.width == 80   # on screen at 80x24
        assert "READ-ONLY" in screen_text(app) and str(other.pid) in screen_text(app)

        app.state.cfg.lora.r = 8       # what Configure does with a setting
        app.post_message(ConfigChanged())
        await pilot.press("4")         # a step change saves the progress file
        await pilot.pause()
        assert app.state.cfg.lora.r == 8
        command = plain(app.query_one("#command-preview", Static))   # Configure's tab
        assert "Not saved: this wizard is read-only" in command and "Saved to" not in command
        with pytest.raises(ReadOnlyState):
            app.state.save()
        await pilot.press("5", "s")    # no run from the read-only one: it says where to start it
        await pilot.pause()
        assert not (config_path.parent / "runs").exists()
        assert any("Read-only" in str(n.message) for n in app._notifications)
    assert _files(config_path) == before               # neither file touched
    assert RunConfig.load(config_path).lora.r == 32
    assert read_holder(wizard_lock_for(config_path)).pid == other.pid   # its lock kept


async def test_quit_leaves_the_other_wizard_alone(config_path):
    before = _files(config_path)
    async with _second_wizard(config_path) as (app, pilot, other):
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0
    assert _files(config_path) == before
    assert read_holder(wizard_lock_for(config_path)).pid == other.pid


async def test_a_lone_wizard_holds_the_config_and_lets_go_on_exit(config_path):
    dead = start_holder(config_path)   # a wizard killed with kill -9: its lock stays behind
    dead.kill()
    dead.wait()
    dead.stdout.close()
    lock = wizard_lock_for(config_path)
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not isinstance(app.screen, ConfigHeldModal) and not app.state.read_only
        assert not app.query("#read-only")
        assert read_holder(lock).pid == os.getpid()
        await pilot.press("4")
        await pilot.pause()
    assert not lock.exists()
    assert "configure" in config_path.with_name("ft-tui.wizard.json").read_text()


async def test_a_wizard_on_another_host_is_named_and_its_lock_kept(config_path):
    """A home folder shared over NFS: the lock's host cannot be checked from here."""
    import json
    import time

    lock = wizard_lock_for(config_path)
    text = json.dumps({"pid": 4242, "host": "gpu-box-2", "started": time.time() - 3600})
    lock.write_text(text)
    app = FtTuiApp(config_path=str(config_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfigHeldModal)
        said = " ".join(plain(app.screen.query_one("#held-who", Static)).split())
        assert "process 4242 on host gpu-box-2" in said
        assert f"If that wizard is gone, delete {lock} and start ft-tui again" in said
        await pilot.press("r")
        await pilot.pause()
        assert app.state.read_only
        assert "READ-ONLY (nothing is saved): ft-tui.yaml is held by process 4242 on gpu-box-2" \
            in screen_text(app)
    assert lock.read_text() == text
