"""Entry point of each process that ``accelerate launch`` starts (see launch.py).

    python -m ft_tui.core.training.worker --run-dir RUN [--resume] [--cpu]

It trains the run directory's own config.yaml. Exit status (rank 0): 0 done, 1 failed,
130 stopped; other ranks exit 0 once the run has ended.
"""

from __future__ import annotations

import argparse
import os
import sys

EXIT_CODES = {"done": 0, "failed": 1, "stopped": 130}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ft_tui.core.training.worker")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="train on CPU even if GPUs are visible")
    args = parser.parse_args(argv)
    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported

    from ft_tui.core.run.rundir import RunDir
    from ft_tui.core.training.runner import TrainingRunner

    run_dir = RunDir.open(args.run_dir)
    runner = TrainingRunner(run_dir.load_config(), run_dir, resume=args.resume,
                            hold_lock=False)   # the launcher holds the run's lock
    finished = runner.run()
    if not runner.main:
        # The outcome is in the run dir (rank 0 wrote it). A non-zero code here would make
        # the launcher kill rank 0 while it is still writing its final status.
        return 0
    print(f"{finished.state}: {finished.message}", file=sys.stderr)
    return EXIT_CODES.get(finished.state, 1)


if __name__ == "__main__":
    sys.exit(main())
