"""bf16 autocast against fp32 on the CPU at the same batch order: is the loss within noise?

ft-tui's `precision: auto` trains with bf16 autocast on CPUs with AVX512-BF16/AMX. This
trains the default model (SmolLM2-135M-Instruct) with LoRA on sample_data/ticket_triage
through ft-tui's own TrainingRunner, with the config of tests/bench/cpu_speed.py (batch 4,
no accumulation, lr 1e-3, length-grouped batches) and `training.precision` set to `fp32`
and to `auto`. For each seed both precisions see the same batches in the same order and
start from the same adapter, so any difference between them is bf16's. Each run is a fresh
subprocess; the order alternates (fp32 auto, auto fp32, ...) so a busy machine hurts both.

The noise yardstick is the random seed: with seed 42 and seed 43 (batch order and adapter
initialisation both change), the spread of fp32's own eval loss between seeds is the run-
to-run variation a user gets anyway. bf16 is "within noise" when its eval-loss difference
from fp32 at the same seed is smaller than that spread.

    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \\
        python tests/bench/bf16_quality.py --steps 30 --seeds 42 43     # ~25 min, 4 runs
    python tests/bench/bf16_quality.py --steps 2 --seeds 42             # dry run

Prints each run, then per seed: the per-step training-loss difference bf16 - fp32 (max |d|
and mean d), both eval losses on the same 40 held-out tickets at the midpoint and the end,
the bf16/fp32 step-time ratio (wall and process CPU time, median step), and the spread
between seeds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_speed  # noqa: E402  (tests/bench/cpu_speed.py: config, runner wrapper, subprocess)

PRECISIONS = ("fp32", "auto")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--eval-examples", type=int, default=40)
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    p.add_argument("--arm", choices=("ftui",), help=argparse.SUPPRESS)
    p.add_argument("--precision", choices=PRECISIONS, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def overrides(args) -> dict:
    """What one run changes in cpu_speed's config: precision, seed, a midpoint evaluation."""
    return {"training.precision": args.precision, "training.seed": args.seed,
            "training.group_by_length": True, "training.max_eval_rows": 0,
            "training.eval_steps": max(1, args.steps // 2)}


def median_step(times: list[float]) -> float:
    # Step 1 carries one-off work (kernel selection, allocator warm-up): left out when
    # there are other steps.
    return statistics.median(times[1:] if len(times) > 1 else times)


def describe(res: dict) -> str:
    evals = ", ".join(f"step {s}: {v:.4f}" for s, v in res["evals"])
    return (f"[{res['device']}] median step {median_step(res['step_times']):.2f} s wall, "
            f"{median_step(res['cpu_step_times']):.2f} s CPU; {sum(res['step_times']):.0f} s of "
            f"steps; {res['tokens']} tokens; last train loss {res['loss']:.4f}; eval loss {evals}")


def compare(fp32: dict, bf16: dict) -> dict:
    """bf16 - fp32 for one seed (same batches): loss curve, eval losses, step-time ratios."""
    d = [b - f for f, b in zip(fp32["losses"], bf16["losses"])]
    worst = max(range(len(d)), key=lambda i: abs(d[i]))
    return {
        "max_abs": abs(d[worst]), "max_step": worst + 1, "mean": statistics.fmean(d),
        "mean_abs": statistics.fmean(abs(x) for x in d),
        "rel_mean_abs": statistics.fmean(abs(x) / f for x, f in zip(d, fp32["losses"])),
        "evals": [(s, f, b) for (s, f), (_, b) in zip(fp32["evals"], bf16["evals"])],
        "wall": median_step(bf16["step_times"]) / median_step(fp32["step_times"]),
        "cpu": median_step(bf16["cpu_step_times"]) / median_step(fp32["cpu_step_times"]),
        "wall_total": sum(bf16["step_times"][1:]) / max(1e-9, sum(fp32["step_times"][1:])),
    }


def report(args, runs: dict) -> None:
    print(f"\nsteps={args.steps} batch={args.batch} seeds={args.seeds} "
          f"load now {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    pairs = {seed: compare(runs[("fp32", seed)], runs[("auto", seed)]) for seed in args.seeds}
    for seed, c in pairs.items():
        print(f"\nseed {seed}, bf16 - fp32 on the same batches:")
        print(f"  train loss per step: max |d| {c['max_abs']:.4f} (step {c['max_step']}), "
              f"mean d {c['mean']:+.4f}, mean |d| {c['mean_abs']:.4f} "
              f"({100 * c['rel_mean_abs']:.2f} % of fp32's loss)")
        for step, f, b in c["evals"]:
            print(f"  eval loss at step {step}: fp32 {f:.4f}, bf16 {b:.4f}, d {b - f:+.4f}")
        print(f"  step time bf16/fp32 (median step after the first): wall {c['wall']:.2f}, "
              f"CPU {c['cpu']:.2f}; wall, sum of steps 2..n: {c['wall_total']:.2f}")
    if len(args.seeds) < 2:
        print("\none seed only: no seed spread, so no noise yardstick (use --seeds 42 43)")
        return
    print("\nnoise yardstick: the same precision, another seed (other batch order and init):")
    spread = {}
    for prec in PRECISIONS:
        finals = [runs[(prec, s)]["evals"][-1][1] for s in args.seeds]
        spread[prec] = max(finals) - min(finals)
        curves = [runs[(prec, s)]["losses"] for s in args.seeds]
        seed_d = statistics.fmean(abs(a - b) for a, b in zip(curves[0], curves[1]))
        print(f"  {prec}: final eval loss {', '.join(f'{v:.4f}' for v in finals)} -> spread "
              f"{spread[prec]:.4f}; train loss mean |d| per step between seeds {seed_d:.4f}")
    worst = max(abs(c["evals"][-1][2] - c["evals"][-1][1]) for c in pairs.values())
    within = worst <= spread["fp32"]
    print(f"\nlargest final eval |bf16 - fp32| at the same seed: {worst:.4f}; fp32 seed spread: "
          f"{spread['fp32']:.4f} -> bf16 is {'WITHIN' if within else 'NOT within'} the noise "
          f"({worst / max(spread['fp32'], 1e-9):.2f}x the spread between seeds)")
    walls = [c["wall"] for c in pairs.values()]
    cpus = [c["cpu"] for c in pairs.values()]
    print(f"bf16/fp32 median step time: wall {', '.join(f'{w:.2f}' for w in walls)}, CPU "
          f"{', '.join(f'{c:.2f}' for c in cpus)} (< 1: bf16 is faster)")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.arm:
        cpu_speed.arm_main(args, overrides(args))
        return 0
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs", flush=True)
    runs: dict = {}
    with tempfile.TemporaryDirectory(prefix="ft-tui-bf16-quality-") as tmp:
        cpu_speed.prepare(args, Path(tmp))
        for i, seed in enumerate(args.seeds):
            for prec in (PRECISIONS if i % 2 == 0 else PRECISIONS[::-1]):
                load = os.getloadavg()
                res = cpu_speed.spawn(__file__, "--arm", "ftui", "--precision", prec, "--seed",
                                      str(seed), "--steps", str(args.steps), "--workdir", tmp)
                if res is None:
                    return 1
                runs[(prec, seed)] = res
                print(f"seed {seed} {prec:4s} (load at start {load[0]:.1f}, end "
                      f"{os.getloadavg()[0]:.1f}): {describe(res)}", flush=True)
                print(f"  train loss per step: {' '.join(f'{v:.3f}' for v in res['losses'])}",
                      flush=True)
    report(args, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
