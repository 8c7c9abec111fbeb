"""Entry point of each process that ``accelerate launch`` starts (see launch.py).

    python -m ft_tui.core.training.worker --run-dir RUN [--resume] [--cpu]

It trains the run directory's own config.yaml. Exit status (rank 0): 0 done, 1 failed,
130 stopped; other ranks exit 0 once the run has ended, and any rank that fails exits 1 at
once, after writing its failure (``rank_failure.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

EXIT_CODES = {"done": 0, "failed": 1, "stopped": 130}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ft_tui.core.training.worker")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="train on CPU even if GPUs are visible")
    args = parser.parse_args(argv)
    started = time.time()
    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported

    from ft_tui.core.run.rundir import RunDir
    from ft_tui.core.training.runner import TrainingRunner

    run_dir = RunDir.open(args.run_dir)
    if int(os.environ.get("RANK", "0")) == 0:
        from ft_tui.core.training.rank_failure import forget_failed_rank

        forget_failed_rank(run_dir)   # on several machines, no launcher here does it
    runner = TrainingRunner(run_dir.load_config(), run_dir, resume=args.resume,
                            hold_lock=False)   # the launcher holds the run's lock
    finished = runner.run()
    rank = f"rank {runner.rank}: " if runner.world_size > 1 else ""
    if finished.state == "failed" and runner.world_size > 1:
        # Every failing rank ends at once and non-zero: the launcher then ends the others,
        # instead of leaving them in a collective until its timeout (30 minutes with NCCL).
        # The failure is already in the run dir (rank_failure.record); os._exit skips the
        # process-group teardown, which can itself wait on the peers.
        if runner.main:
            _name_the_first_failure(run_dir, started)
        print(f"{rank}{finished.state}: {finished.message}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)
    if not runner.main:
        # Done or stopped: the outcome is in the run dir (rank 0 wrote it). A non-zero code
        # here would make the launcher kill rank 0 while it is still writing its final status.
        return 0
    print(f"{rank}{finished.state}: {finished.message}", file=sys.stderr)
    return EXIT_CODES.get(finished.state, 1)


def _name_the_first_failure(run_dir, started: float) -> None:
    """Rank 0 failing after another rank (a closed connection): status.json names the rank
    that failed first. On one machine the launcher does it too (launch.py); on several
    (cluster.py's launch_node.sh) rank 0 is the only one that can."""
    from ft_tui.core.training import rank_failure

    first = rank_failure.first_failure(run_dir.path, since=started)
    if first is not None and first.rank != 0:
        try:
            rank_failure.report(run_dir, first)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
