"""How `ft-tui train` runs without this terminal: in the background (``--detach``), on after
a hang-up (SIGHUP: a dropped SSH connection), or prepared for several machines
(``--cluster N``). Split from commands/train.py, which keeps the foreground run."""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager

from ft_tui.commands.common import ExitCode, fail


# ----- several machines: a prepared run directory, trained by the scripts it holds ---------

def prepare_cluster(cfg, resume_dir, machines: int) -> int:
    """`--cluster N`: a run directory (new, or the --resume one) and its export/cluster/."""
    from ft_tui.core.errors import SetupError
    from ft_tui.core.objectives import default_run_name
    from ft_tui.core.run.rundir import RunDir, RunDirError
    from ft_tui.core.training.cluster import write_cluster

    if machines < 1:
        return fail("--cluster: the number of machines must be 1 or more", ExitCode.USAGE)
    try:
        if resume_dir is None:
            from ft_tui.core.training.session import check_model

            check_model(cfg)
            run_dir = RunDir.create(cfg.output_dir, cfg.run_name or default_run_name(cfg))
            run_dir.save_config(cfg)
            run_dir.write_status("created", message=f"prepared for {machines} machines: "
                                 f"see {run_dir.export_dir / 'cluster' / 'README.md'}")
        else:
            run_dir = resume_dir
        out = write_cluster(run_dir, machines)
    except (SetupError, RunDirError) as exc:
        return fail(str(exc), ExitCode.USAGE)
    except OSError as exc:
        return fail(f"cannot write the cluster files: {exc}", ExitCode.ERROR)
    print(f"Run directory: {run_dir.path}")
    print(f"Cluster files: {out}  (start with {out / 'README.md'})")
    return int(ExitCode.OK)


@contextmanager
def hangup_goes_on(display, target):
    """SIGHUP (the terminal went away: a dropped SSH connection, a closed window or tmux
    pane) does not end the run: stdout and stderr go to the run's train.log from then on,
    where a write to the dead terminal would have failed, and training goes on."""

    def on_hangup(signum, frame):
        from ft_tui.core.training.detach import TRAIN_LOG

        where = target[0].run_dir.path / TRAIN_LOG if target else os.devnull
        fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        display.detach()
        display.note("The terminal went away (SIGHUP): training goes on; output from here on "
                     f"is in {where}")

    previous = signal.signal(signal.SIGHUP, on_hangup)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def detach(cfg, resume_dir, args, moved: dict) -> int:
    """``--detach``: the run in its own session; say where it is and how to follow it."""
    import shlex

    from ft_tui.core.config.settings import ConfigError
    from ft_tui.core.run.lock import RunInUse
    from ft_tui.core.errors import SetupError
    from ft_tui.core.run.rundir import RunDirError
    from ft_tui.core.training.detach import TRAIN_LOG, start_detached

    try:
        run = start_detached(cfg, resume=resume_dir.path if resume_dir is not None else None,
                             moved_data=moved, num_processes=args.num_processes,
                             force_cpu=args.cpu)
    except (RunInUse, SetupError, RunDirError, ConfigError) as exc:
        return fail(str(exc), ExitCode.USAGE)
    path = run.run_dir.path
    q = shlex.quote
    print(f"Training in the background (process {run.pid}); a closed terminal does not stop it.")
    print(f"Run directory: {path}")
    print(f"Follow it:     ft-tui monitor {q(str(path))}")
    print(f"Its output:    tail -f {q(str(path / TRAIN_LOG))}")
    print(f"Stop it:       kill {run.pid}   (a checkpoint first; or x in ft-tui monitor)")
    print("All runs:      ft-tui runs")
    return int(ExitCode.OK)
