"""Proof on a real GPU of what tests/test_gpu_box.py checks on simulated ones.

One call, at most ~9 minutes, no internet (models are random-weight copies of published
architectures, built locally by tests/bench/vram_calibration.py's model_folder). Every stage
appends one or more JSON rows to --out as soon as it has them, so a timeout still leaves data:

1. env: a CUDA torch, transformers, peft, trl, bitsandbytes, nvidia-ml-py; without them it
   writes what is missing and exits 2 (nothing else runs).
2. decisions: ft-tui's precision, attention and GPU list (core/plan/preflight.py) against
   torch's own answers; NVML's free memory against ``torch.cuda.mem_get_info``; the CUDA
   context's size (NVML's used memory beyond torch's reserve).
3. calibration: Qwen2.5-1.5B LoRA and QLoRA at seq 2048, checkpointing on and off, and the
   SmolLM2-135M row for the fixed overhead; estimate against measured peak, each in its own
   process (vram_calibration's child runner).
4. oom: a real out-of-memory error while this process holds most of the card, and the advice
   ft-tui gives for it (planned from the card, not from what is left).
5. eval: greedy generation at batch 32 through ft-tui's one generator; time and peak memory.

    python tests/bench/gpu_proof.py --out gpu_proof.jsonl [--budget 540]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
GIB = 1024 ** 3
NEEDED = {"torch": "torch", "transformers": "transformers", "peft": "peft", "trl": "trl",
          "bitsandbytes": "bitsandbytes", "pynvml": "nvidia-ml-py"}   # module: distribution
CALIBRATION = [("smollm2-135m", "lora", 4, 512, False),
               ("qwen2.5-1.5b", "lora", 2, 2048, False), ("qwen2.5-1.5b", "lora", 2, 2048, True),
               ("qwen2.5-1.5b", "qlora", 2, 2048, False), ("qwen2.5-1.5b", "qlora", 2, 2048, True)]


class Proof:
    def __init__(self, out: Path, budget: float):
        self.out, self.deadline = out, time.monotonic() + budget
        out.parent.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def row(self, stage: str, **data) -> dict:
        row = {"stage": stage, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **data}
        with open(self.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, default=str) + "\n")
        print(json.dumps(row, default=str)[:400], flush=True)
        return row


def stage_env(proof: Proof) -> bool:
    from importlib import metadata
    from importlib.util import find_spec

    missing, versions = [], {}
    for module, dist in NEEDED.items():   # present, without paying for every import
        if find_spec(module) is None:
            missing.append(f"{module} (pip install {dist})")
            continue
        try:
            versions[module] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[module] = "?"
    if "torch" in versions:
        import torch

        versions["torch_cuda_build"] = torch.version.cuda
        if not torch.cuda.is_available():
            missing.append(f"a CUDA GPU usable by torch {torch.__version__} (CUDA build "
                           f"{torch.version.cuda or 'none: a CPU-only wheel'})")
    proof.row("env", ok=not missing, missing=missing, versions=versions)
    if missing:
        print("gpu_proof: cannot run here, missing: " + "; ".join(missing), file=sys.stderr)
    return not missing


def stage_decisions(proof: Proof, work: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.plan import hardware
    from ft_tui.core.plan.preflight import preflight
    from ft_tui.core.plan.device import detect_device, pick_attention
    from tests.bench.vram_calibration import model_folder

    before = hardware.probe().gpus     # NVML, before this process has a CUDA context
    folder = model_folder("smollm2-135m", work)
    cfg = RunConfig().with_overrides({"model.name": folder, "output_dir": str(work / "runs")})
    pf = preflight(cfg)
    props = torch.cuda.get_device_properties(0)
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    proof.row("decisions", what="precision", ft_tui=pf.precision, torch_native_bf16=native,
              torch_emulated_answer=torch.cuda.is_bf16_supported(),
              compute_capability=f"{props.major}.{props.minor}",
              agrees=(pf.precision == "bf16") == native)
    attention = pick_attention(cfg, detect_device())
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16 if native else torch.float16,
                                                 attn_implementation=attention).to("cuda")
    proof.row("decisions", what="attention", ft_tui=pf.attention, asked=attention,
              loaded=getattr(model.config, "_attn_implementation", None))
    del model
    torch.cuda.empty_cache()
    nvml = hardware.probe().gpus
    free, total = torch.cuda.mem_get_info(0)
    proof.row("decisions", what="gpus", ft_tui=[g["name"] for g in pf.gpus],
              torch=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
              nvml_free_gib=nvml[0].free_gb if nvml else None, torch_free_gib=free / GIB,
              nvml_total_gib=nvml[0].total_gb if nvml else None, torch_total_gib=total / GIB,
              preflight=pf.to_dict())
    from ft_tui.core.plan.memory import CUDA_CONTEXT_GB

    context = None
    if before and nvml:
        context = nvml[0].used_gb - before[0].used_gb - torch.cuda.memory_reserved(0) / GIB
    proof.row("decisions", what="cuda_context", measured_gib=context, ft_tui_constant_gib=CUDA_CONTEXT_GB,
              note="NVML's used memory after loading a model, minus before any CUDA call, minus "
                   "torch's reserve (the caching allocator's memory)")


def stage_calibration(proof: Proof, work: Path) -> None:
    from tests.bench import vram_calibration as vc

    args = vc.parse_args(["--steps", "2", "--accumulation", "1", "--workdir", str(work)])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    for model, method, batch, seq, checkpointing in CALIBRATION:
        if proof.left() < 150:
            proof.row("calibration", skipped=f"{model} {method} gc={checkpointing}: out of time")
            continue
        args.timeout = int(min(150, proof.left() - 120))
        case = vc.Case(model, method, batch, seq, checkpointing)
        row = vc._run_child(case, args, str(work), env)
        proof.row("calibration", error_pct=vc.error_pct(row), **row)


def stage_oom(proof: Proof, work: Path) -> None:
    import torch

    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.training.failures import is_out_of_memory, oom_advice

    free, _total = torch.cuda.mem_get_info(0)
    hold = torch.empty(int(free * 0.9), dtype=torch.uint8, device="cuda")   # the failed run's memory
    try:
        torch.empty(int(free * 0.5), dtype=torch.uint8, device="cuda")
        proof.row("oom", error="no out-of-memory error raised")
        return
    except Exception as exc:   # torch.cuda.OutOfMemoryError
        caught = exc
    cfg = RunConfig().with_overrides({"model.name": "qwen2.5-1.5b", "method": "lora",
                                      "data.max_length": 2048, "training.batch_size": 16})
    advice = oom_advice(cfg)
    proof.row("oom", recognised=is_out_of_memory(caught), held_gib=hold.numel() / GIB,
              advice=advice, planned_from_the_card="no setting fits" not in advice)
    del hold
    torch.cuda.empty_cache()


def stage_eval(proof: Proof, work: Path) -> None:
    import torch

    from ft_tui.core.models.generation import generate_greedy, inference_device_and_dtype, load_for_inference
    from ft_tui.core.models.resolve import load_tokenizer
    from tests.bench.vram_calibration import model_folder

    folder = model_folder("smollm2-135m", work)
    device, dtype = inference_device_and_dtype()
    model = load_for_inference(folder, device=device, dtype=dtype)
    tokenizer = load_tokenizer(folder)
    prompts = [f"Ticket {i}: the printer on floor {i % 7} is jammed again." for i in range(64)]
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    answers = generate_greedy(model, tokenizer, prompts, max_new_tokens=64, batch_size=32)
    seconds = time.perf_counter() - start
    proof.row("eval", batch=32, prompts=len(prompts), answers=sum(1 for a in answers if a is not None),
              seconds=seconds, dtype=str(dtype), peak_allocated_gib=torch.cuda.max_memory_allocated() / GIB)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "gpu_proof.jsonl"))
    p.add_argument("--budget", type=float, default=540.0, help="seconds for all stages")
    p.add_argument("--workdir", default="", help="where random models are built (default: a temp dir)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    proof = Proof(Path(args.out), args.budget)
    if not stage_env(proof):
        return 2
    work = Path(args.workdir or tempfile.mkdtemp(prefix="gpu-proof-"))
    for name, stage in (("decisions", stage_decisions), ("oom", stage_oom), ("eval", stage_eval),
                        ("calibration", stage_calibration)):
        if proof.left() < 20:
            proof.row(name, skipped="out of time")
            continue
        try:
            stage(proof, work)
        except Exception as exc:   # one stage's failure is a result too; go on to the next
            proof.row(name, error=f"{type(exc).__name__}: {exc}"[:500])
    proof.row("end", seconds_left=proof.left())
    return 0


if __name__ == "__main__":
    sys.exit(main())
