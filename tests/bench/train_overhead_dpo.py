"""What ft-tui's DPO engine costs on top of plain TRL: the sibling of train_overhead.py.

Trains the same model on the same preference pairs with the same DPOConfig twice: once
through ft-tui's TrainingRunner (objective dpo: events with reward margins, metrics.jsonl,
status.json, both watchdogs, checkpoints) and once through a plain TRL script
(AutoModelForCausalLM + DPOTrainer with a peft_config, so the reference is the adapter
switched off in both). The driver, the alternating rounds and the three tokens/s figures
are train_overhead.py's own.

    python tests/bench/train_overhead_dpo.py                    # tiny random model, CPU
    python tests/bench/train_overhead_dpo.py --rounds 3 --steps 60
    python tests/bench/train_overhead_dpo.py --device cuda --model default --steps 200 --batch 8

Prints tokens/s of each run, the median per arm and the ratio ft-tui / TRL (goal >= 0.97).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_overhead as base  # noqa: E402

REPLIES = [
    ("I was charged twice for order {n}, please refund one payment.",
     "Sorry about that. I have refunded the second payment for order {n}.", "Not our problem."),
    ("The printer on floor {n} is jammed again.",
     "Sorry! Facilities will clear the printer on floor {n} within the hour.", "Printers jam."),
    ("How do I reset my password? Link {n} has expired.",
     "I have sent a new reset link; it works for 24 hours.", "Read the FAQ."),
]


def prepare(args, work: Path) -> Path:
    from ft_tui.core.config.settings import RunConfig

    data = work / "pairs.jsonl"
    with open(data, "w", encoding="utf-8") as fh:
        for i in range(max(64, args.steps * args.batch // 2)):
            ask, good, bad = REPLIES[i % len(REPLIES)]
            fh.write(json.dumps({"prompt": ask.format(n=1000 + i), "chosen": good.format(n=1000 + i),
                                 "rejected": bad}) + "\n")
    model = args.model or str(base.build_model(work / "model", args.hidden, args.layers))
    cfg = RunConfig().with_overrides({
        "objective": "dpo", "model.name": model, "method": args.method,
        "data.train_path": str(data), "data.eval_fraction": 0.05, "data.max_length": 256,
        "training.max_steps": args.steps, "training.batch_size": args.batch,
        "training.gradient_accumulation": 1, "training.learning_rate": 2e-4,
        "training.eval_steps": max(1, args.steps // 4), "training.save_steps": max(1, args.steps // 2),
        "training.sample_every_steps": args.samples, "training.logging_steps": 1,
        "output_dir": str(work / "runs")})
    path = work / "run.yaml"
    cfg.save(path)
    return path


def run_trl(cfg, work: Path) -> dict:
    """What a user would write with TRL directly, given the same DPOConfig."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback, set_seed
    from trl import DPOTrainer

    from ft_tui.core.models.resolve import prepare_model
    from ft_tui.core.quiet import quiet_libraries
    from ft_tui.core.objectives import load_training_data, objective_of
    from ft_tui.core.plan.device import detect_device, resolve_precision

    quiet_libraries()
    device = detect_device()
    precision = resolve_precision(cfg, device)
    data = load_training_data(cfg)
    args = objective_of("dpo").build_config(cfg, work / "trl-checkpoints", precision, device, has_eval=True)
    set_seed(cfg.training.seed)
    path = prepare_model(cfg.model.name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, precision.weights_dtype))
    peft_config = None
    if cfg.method != "full":
        peft_config = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                                 task_type="CAUSAL_LM", target_modules=cfg.lora_targets())
    marks = {"logs": [], "params": sum(p.numel() for p in model.parameters())}

    class Timing(TrainerCallback):   # the same marks the ft-tui arm takes
        def on_train_begin(self, a, state, control, **kw):
            marks["begin"] = time.perf_counter()
            marks["cpu_begin"] = time.process_time()

        def on_log(self, a, state, control, logs=None, **kw):
            if "loss" in (logs or {}):
                marks["logs"].append(time.perf_counter())
                marks["cpu_end"] = time.process_time()
                marks["tokens"] = state.num_input_tokens_seen

    trainer = DPOTrainer(model=model, args=args, processing_class=tokenizer,
                         train_dataset=Dataset.from_list(data.train_rows),
                         eval_dataset=Dataset.from_list(data.eval_rows), callbacks=[Timing()],
                         peft_config=peft_config)
    trainer.train()
    trainer.save_model(str(work / "trl-final"))
    return base._result(marks)


# The driver and the arms are train_overhead.py's; only the data and the plain arm differ.
base.prepare = prepare
base.run_trl = run_trl
base.__file__ = __file__   # the driver starts each arm by running this file

if __name__ == "__main__":
    sys.exit(base.main())
