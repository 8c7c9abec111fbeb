"""Check the memory estimator (ft_tui/core/plan/memory.py) against real peaks.

Trains a grid of configurations for a few steps each through ft-tui's own TrainingRunner
and puts the measured peak next to the estimate. Models are real architectures built
from their published configs with random weights, so nothing is downloaded. Each
configuration runs in a fresh subprocess, so peaks and fragmentation do not carry over
and an out-of-memory failure costs one row, not the grid.

On CUDA the measured peak is ``torch.cuda.max_memory_reserved()`` plus the CUDA context
(what NVML shows this process using beyond PyTorch's reserve); the row also shows the
reserve alone against the estimate without its "CUDA context" part. On CPU
(``--device cpu``) it is the process's peak RSS.

    python tests/bench/vram_calibration.py                          # full grid, CUDA (~72 runs)
    python tests/bench/vram_calibration.py --quick                  # 12 runs on SmolLM2-135M
    python tests/bench/vram_calibration.py --models qwen2.5-0.5b --methods lora,qlora
    python tests/bench/vram_calibration.py --device cpu --models default --methods lora \
        --batches 4 --seqs 256                                      # RAM plan on a laptop
    python tests/bench/vram_calibration.py --results runs.jsonl     # resumable: done rows are kept

Goals (the issue): median |error| <= 10 %, worst |error| <= 20 %, and no estimate below
the measured peak by more than 10 %. The markdown table goes to --markdown.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DEFAULT_MODELS = ("smollm2-135m", "qwen2.5-0.5b", "qwen2.5-1.5b")
GOALS = {"median": 10.0, "worst": 20.0, "under": 10.0}
GIB = 1024 ** 3


@dataclass(frozen=True)
class Case:
    model: str
    method: str
    batch: int
    seq: int
    checkpointing: bool

    @property
    def key(self) -> str:
        return f"{self.model}|{self.method}|b{self.batch}|s{self.seq}|gc{int(self.checkpointing)}"


def build_grid(models, methods, batches, seqs, checkpointing) -> list[Case]:
    return [Case(*combo) for combo in itertools.product(models, methods, batches, seqs, checkpointing)]


def parse_args(argv=None):
    csv = lambda cast: (lambda text: tuple(cast(x) for x in text.split(",") if x))  # noqa: E731
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=csv(str), default=DEFAULT_MODELS,
                   help="built-in table names (smollm2-135m, qwen2.5-0.5b, ...) or 'default' (real weights)")
    p.add_argument("--methods", type=csv(str), default=("full", "lora", "qlora"))
    p.add_argument("--batches", type=csv(int), default=(1, 4))
    p.add_argument("--seqs", type=csv(int), default=(512, 2048))
    p.add_argument("--checkpointing", choices=("both", "on", "off"), default="both")
    p.add_argument("--quick", action="store_true", help="SmolLM2-135M, seq 512 only")
    p.add_argument("--steps", type=int, default=3, help="optimizer steps per configuration")
    p.add_argument("--accumulation", type=int, default=2,
                   help="micro-batches per step (>1: gradients live through a forward pass)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--workdir", default="", help="where random models are cached (default: a temp dir)")
    p.add_argument("--results", default="", help="JSONL of finished rows; rows already there are skipped")
    p.add_argument("--markdown", default=str(ROOT / "tests/bench/vram_calibration.md"))
    p.add_argument("--timeout", type=int, default=900, help="seconds per configuration")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.models, args.seqs = ("smollm2-135m",), (512,)
    return args


# ----- one configuration (child process) ------------------------------------------------------

def model_folder(name: str, work: Path) -> str:
    """'default', or a random-weight copy of a table model saved once under ``work``."""
    if name == "default":
        return "default"
    folder = work / f"random-{name}"
    if (folder / "config.json").is_file():
        return str(folder)
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    from ft_tui.core.plan.model_profile import known_model
    from tests.fixtures.tiny import build_tokenizer

    profile = known_model(name)
    if profile is None:
        raise SystemExit(f"{name}: not in ft-tui's built-in model table")
    tok = build_tokenizer()
    config_class = Qwen2Config if profile.model_type == "qwen2" else LlamaConfig
    config = config_class(
        vocab_size=profile.vocab, hidden_size=profile.hidden, intermediate_size=profile.intermediate,
        num_hidden_layers=profile.layers, num_attention_heads=profile.heads,
        num_key_value_heads=profile.kv_heads, head_dim=profile.head_dim,
        max_position_embeddings=max(4096, profile.max_positions or 0),
        tie_word_embeddings=profile.tied_embeddings, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    tmp = Path(tempfile.mkdtemp(dir=work))
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    os.replace(tmp, folder)
    return str(folder)


def write_data(path: Path, rows: int, seq: int) -> None:
    """Answers long enough that every example is cut at max_length: batch x seq tokens exactly,
    with the loss on (nearly) every token."""
    words = ("printer invoice refund password order account email payment category priority "
             "floor jammed charged twice reset expired link nobody").split()
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            answer = " ".join(rng.choice(words) for _ in range(seq * 2))
            fh.write(json.dumps({"prompt": [{"role": "user", "content": f"Ticket {i}"}],
                                 "completion": [{"role": "assistant", "content": answer}]}) + "\n")


def run_one(case: Case, args) -> dict:
    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.plan.memory import estimate
    from ft_tui.core.plan.model_profile import model_profile
    from ft_tui.core.training import TrainingRunner

    work = Path(args.workdir)
    folder = model_folder(case.model, work)
    cuda = args.device == "cuda"
    baseline = _nvml_used_gb() if cuda else None
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        data = Path(tmp) / "train.jsonl"
        write_data(data, case.batch * args.accumulation * args.steps + 2, case.seq)
        cfg = RunConfig().with_overrides({
            "model.name": folder, "method": case.method, "data.train_path": str(data),
            "data.eval_fraction": 0.0, "data.max_length": case.seq,
            "training.batch_size": case.batch, "training.gradient_accumulation": args.accumulation,
            "training.max_steps": args.steps, "training.gradient_checkpointing": case.checkpointing,
            "training.save_steps": 1_000_000, "training.eval_steps": 0,
            "training.sample_every_steps": 0, "training.packing": False,
            "training.precision": "auto" if cuda else "fp32", "output_dir": tmp})
        finished = TrainingRunner(cfg).run()
        row = {"case": case.__dict__, "key": case.key, "state": finished.state,
               "message": finished.message[:300]}
        if cuda:
            import torch

            reserved = torch.cuda.max_memory_reserved() / GIB
            context = max(0.0, (_nvml_used_gb() or 0.0) - (baseline or 0.0)
                          - torch.cuda.memory_reserved() / GIB)
            row.update(measured_gb=reserved + context, reserved_gb=reserved,
                       allocated_gb=torch.cuda.max_memory_allocated() / GIB, context_gb=context)
        else:
            import resource

            row["measured_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    profile = model_profile(folder)
    est = estimate(profile, case.method, case.batch, case.seq, case.checkpointing,
                   cfg.lora.r, lora_targets=cfg.lora.target_modules, optimizer=cfg.training.optimizer,
                   precision="bf16" if cuda else "fp32", device=args.device)
    row.update(estimate_gb=est.total_gb, estimate_context_gb=est.components.get("CUDA context", 0.0),
               components=est.components)
    return row


def _nvml_used_gb() -> float | None:
    from ft_tui.core.plan.hardware import probe

    gpus = probe().gpus
    return gpus[0].used_gb if gpus else None


# ----- the driver ------------------------------------------------------------------------------

def error_pct(row: dict) -> float | None:
    if row.get("state") != "done" or not row.get("measured_gb"):
        return None
    return 100.0 * (row["estimate_gb"] - row["measured_gb"]) / row["measured_gb"]


def summarize(rows: list[dict]) -> dict:
    errors = [e for e in (error_pct(r) for r in rows) if e is not None]
    if not errors:
        return {"n": 0}
    worst_under = max((-e for e in errors if e < 0), default=0.0)
    out = {"n": len(errors), "median": statistics.median(abs(e) for e in errors),
           "worst": max(abs(e) for e in errors), "under": worst_under}
    out["pass"] = {k: out[k] <= GOALS[k] for k in GOALS}
    return out


def markdown_table(rows: list[dict], device: str) -> str:
    peak = "reserved + context" if device == "cuda" else "peak RSS"
    lines = [f"| model | method | batch | seq | ckpt | estimate GB | measured GB ({peak}) | error |",
             "|---|---|---:|---:|:-:|---:|---:|---:|"]
    for r in rows:
        c = r["case"]
        err = error_pct(r)
        measured = f"{r['measured_gb']:.2f}" if r.get("measured_gb") and r["state"] == "done" else r["state"]
        lines.append(f"| {c['model']} | {c['method']} | {c['batch']} | {c['seq']} | "
                     f"{'on' if c['checkpointing'] else 'off'} | {r.get('estimate_gb', 0):.2f} | "
                     f"{measured} | {'' if err is None else f'{err:+.1f}%'} |")
    s = summarize(rows)
    if s["n"]:
        verdict = lambda k: "ok" if s["pass"][k] else "MISSED"  # noqa: E731
        lines += ["", f"{s['n']} runs: median |error| {s['median']:.1f}% (goal <= 10%, {verdict('median')}), "
                  f"worst {s['worst']:.1f}% (goal <= 20%, {verdict('worst')}), worst under-estimate "
                  f"{s['under']:.1f}% (goal <= 10%, {verdict('under')})."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.one:
        row = run_one(Case(**json.loads(args.one)), args)
        print("RESULT " + json.dumps(row), flush=True)
        return 0
    if args.device == "cuda" and not _cuda_available():
        print("vram_calibration: no CUDA GPU here, nothing measured. Run it on a GPU machine, "
              "or use --device cpu to check the RAM plan.", file=sys.stderr)
        return 0
    checkpointing = {"both": (False, True), "on": (True,), "off": (False,)}[args.checkpointing]
    methods = tuple(m for m in args.methods if not (args.device == "cpu" and m == "qlora"))
    grid = build_grid(args.models, methods, args.batches, args.seqs, checkpointing)
    done = _load_results(args.results)
    workdir = args.workdir or tempfile.mkdtemp(prefix="vram-calibration-")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTORCH_CUDA_ALLOC_CONF": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "")}
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    rows = [done[c.key] for c in grid if c.key in done]
    print(f"{len(grid)} configurations, {len(rows)} already measured", flush=True)
    for case in grid:
        if case.key in done:
            continue
        row = _run_child(case, args, workdir, env)
        rows.append(row)
        err = error_pct(row)
        print(f"{case.key:45} estimate {row.get('estimate_gb', 0):7.2f} GB  measured "
              f"{row.get('measured_gb') or 0:7.2f} GB  {'' if err is None else f'{err:+6.1f}%'} "
              f"{row['state'] if row['state'] != 'done' else ''}", flush=True)
        if args.results:
            with open(args.results, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
    table = markdown_table(rows, args.device)
    Path(args.markdown).write_text(table, encoding="utf-8")
    print("\n" + table + f"\n(written to {args.markdown})")
    return 0


def _run_child(case: Case, args, workdir: str, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--one", json.dumps(case.__dict__), "--device", args.device,
           "--steps", str(args.steps), "--accumulation", str(args.accumulation), "--workdir", workdir]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"case": case.__dict__, "key": case.key, "state": "timeout"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"case": case.__dict__, "key": case.key, "state": "crashed", "message": " | ".join(tail)}


def _load_results(path: str) -> dict[str, dict]:
    if not path or not Path(path).is_file():
        return {}
    rows = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["key"]] = row
    return rows


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    sys.exit(main())
