"""Debris and orphans: what an interrupted merge, model conversion or GGUF export leaves
behind is cleaned on the next start, and the GGUF converter dies with ft-tui."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _gone(pid: int, within_s: float = 30.0) -> bool:
    from ft_tui.core.process import process_alive

    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_merge_killed_mid_write_leaves_nothing_after_the_next_one(tmp_path):
    from ft_tui.core.atomic import atomic_dir

    target = tmp_path / "export" / "merged"
    script = textwrap.dedent(f"""
        import os, signal
        from ft_tui.core.atomic import atomic_dir
        with atomic_dir({str(target)!r}) as tmp:
            (tmp / "model.safetensors").write_bytes(b"x" * 4096)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", script], env=_env())
    debris = [p for p in target.parent.iterdir() if p.name.startswith(".merged.")]
    assert len(debris) == 1 and not target.exists()

    alive = target.parent / f".merged.{os.getpid()}.inuse"   # a live writer's is kept
    alive.mkdir()
    with atomic_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
    left = sorted(p.name for p in target.parent.iterdir())
    assert left == [alive.name, "merged"]


def test_the_gguf_converter_dies_with_ft_tui_even_after_kill_9(tmp_path):
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    pid_file = tmp_path / "converter.pid"
    converter = tmp_path / "fake_converter.py"   # stands in for a long conversion
    converter.write_text(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                         "time.sleep(600)\n")
    script = (f"from ft_tui.core.export import gguf\n"
              f"gguf.convert({str(merged)!r}, {str(tmp_path / 'out.gguf')!r}, "
              f"converter=__import__('pathlib').Path({str(converter)!r}))\n")
    parent = subprocess.Popen([sys.executable, "-c", script], env=_env())
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.1)
        child = int(pid_file.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _gone(child), "the converter kept running after ft-tui was killed"
    finally:
        if parent.poll() is None:
            parent.kill()
        if pid_file.exists() and pid_file.read_text():   # never leave it behind, pass or fail
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
