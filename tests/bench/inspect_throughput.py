"""Benchmark: `ft-tui inspect` against the usual datasets pipeline on a 100k-example file.

    python tests/bench/inspect_throughput.py            # 100k multi-turn examples (~160 MB)
    python tests/bench/inspect_throughput.py --n 20000  # quicker
    python tests/bench/inspect_throughput.py --n 1000000 --ours-only   # peak memory at 1M

It writes a multi-turn chat JSONL (one to four exchanges, one row in 25 longer than
max_length 512) to a temp dir, then times, each in its own subprocess:
  ours      inspect_path(file, tokenizer) - the whole inspection: parsing, every check,
            PII scan, and token lengths through the chat template
  baseline  datasets.load_dataset("json") + a batched .map that tokenises each
            conversation with apply_chat_template (just the token counts, no checks)
Both use the default model's tokenizer (SmolLM2), loaded before the clock starts; the
baseline's clock includes importing `datasets`, which it needs and we do not. It prints
both times, the ratio ours/baseline (goal <= 1.0) and each process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WORDS = ("the printer invoice order refund password network laptop screen billing account "
         "shipping delayed broken cannot login error update payment charged twice office "
         "badge access drive folder team meeting room wifi slow crash email calendar "
         "license renewal contract supplier address portal upload report export").split()
LABELS = ["HW-01", "HW-02", "NET-01", "ACC-01", "ACC-02", "BILL-01", "BILL-02", "SHIP-01"]


def generate(path: Path, n: int, seed: int = 0) -> None:
    """Multi-turn support chats (one to four exchanges, free-text answers), one in 25 with
    a pasted log long enough to pass max_length 512 (the no_trained_token check), one in
    500 with an e-mail address (the PII scan)."""
    rng = random.Random(seed)
    system = "You are the helpdesk assistant. Answer briefly and name the queue code."

    def sentence(lo: int, hi: int) -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(lo, hi))).capitalize() + "."

    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            messages = [{"role": "system", "content": system}]
            for turn in range(rng.randint(1, 4)):
                ask = f"Ticket {i}.{turn}: " + sentence(20, 45)
                if turn == 0 and i % 25 == 0:
                    ask += " Log: " + " ".join(sentence(30, 40) for _ in range(20))
                if i % 500 == 0:
                    ask += f" Reach me at user{i}@example.com."
                messages.append({"role": "user", "content": ask})
                messages.append({"role": "assistant",
                                 "content": f"{rng.choice(LABELS)}: " + sentence(15, 40)})
            fh.write(json.dumps({"messages": messages}) + "\n")


def _tokenizer():
    from ft_tui.core.models.resolve import load_tokenizer, prepare_model

    return load_tokenizer(prepare_model("default", log=lambda _m: None))


def run_ours(path: str) -> dict:
    tokenizer = _tokenizer()
    start, cpu = time.perf_counter(), time.process_time()
    from ft_tui.core.data import inspect_path

    def progress(rows: int, seconds: float) -> None:   # peak RSS so far, every ~100k rows
        if rows // 100_000 != progress.shown:
            progress.shown = rows // 100_000
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{rows} rows, {seconds:.0f} s, peak RSS {peak:.0f} MB", file=sys.stderr, flush=True)
    progress.shown = 0

    report = inspect_path(path, tokenizer=tokenizer, max_length=512, progress=progress)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "cpu_seconds": time.process_time() - cpu, "n": report.n_examples,
            "median_tokens": report.tokens["median"]}


def run_baseline(path: str) -> dict:
    tokenizer = _tokenizer()
    start, cpu = time.perf_counter(), time.process_time()
    import datasets

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory() as cache:
        ds = datasets.load_dataset("json", data_files=path, split="train", cache_dir=cache)

        def count(batch):
            ids = tokenizer.apply_chat_template(batch["messages"], tokenize=True, return_dict=True)
            return {"n_tokens": [len(x) for x in ids["input_ids"]]}

        ds = ds.map(count, batched=True, batch_size=1000, remove_columns=ds.column_names)
        lengths = sorted(ds["n_tokens"])
        elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "cpu_seconds": time.process_time() - cpu, "n": len(lengths),
            "median_tokens": lengths[(len(lengths) - 1) // 2]}


def measure(which: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", which, str(path)],
                          stdout=subprocess.PIPE, text=True, cwd=ROOT)   # stderr: progress
    if proc.returncode != 0:
        raise SystemExit(f"{which} failed (its error is above)")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--ours-only", action="store_true",
                        help="Measure only `ft-tui inspect` (the 1M-row memory run)")
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        which, path = args.child
        result = run_ours(path) if which == "ours" else run_baseline(path)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    _tokenizer()  # convert the default model once, outside both measurements
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chat.jsonl"
        generate(path, args.n)
        size_mb = path.stat().st_size / 1e6
        print(f"{args.n} examples, {size_mb:.1f} MB, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} at start")
        ours = measure("ours", path)
        if args.ours_only:
            print(f"ours {ours['seconds']:7.2f} s wall  {ours['cpu_seconds']:7.2f} s CPU  peak RSS "
                  f"{ours['peak_rss_mb']:5.0f} MB  ({ours['n'] / ours['seconds']:,.0f} rows/s)")
            return
        base = measure("baseline", path)
    assert ours["median_tokens"] == base["median_tokens"], (ours, base)  # same counting
    for name, r, what in (("ours", ours, "full inspection"),
                          ("baseline", base, "load_dataset json + batched map tokenisation")):
        print(f"{name:9s} {r['seconds']:7.2f} s wall  {r['cpu_seconds']:7.2f} s CPU  "
              f"peak RSS {r['peak_rss_mb']:5.0f} MB  ({what})")
    print(f"ratio ours/baseline: {ours['seconds'] / base['seconds']:.2f} wall (goal <= 1.0), "
          f"{ours['cpu_seconds'] / base['cpu_seconds']:.2f} CPU")


if __name__ == "__main__":
    main()
