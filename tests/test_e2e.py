"""The end-to-end proof on the real default model (slow; CI runs it with `-m slow`).

One LoRA run of SmolLM2-135M-Instruct on the bundled ticket-triage data, on CPU:
it is killed with SIGKILL after its first checkpoint and resumed to the end; then the
fine-tuned model must beat the prompted base model on the held-out split's main
metric, the adapter must reload with PEFT, and the merged folder must reload with plain
transformers and answer exactly like base + adapter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "sample_data" / "ticket_triage"
MAX_STEPS = 60
SAVE_STEPS = 20

pytestmark = pytest.mark.slow


def _ft_tui(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ft_tui", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=_env())


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("e2e")
    config = {
        "model": {"name": "default"},
        "data": {"train_path": str(DATA / "train.jsonl"), "eval_path": str(DATA / "eval.jsonl"),
                 "max_length": 256},
        "method": "lora",
        # Measured on 2 CPU cores: ~6.5 s a step; 90 such steps reach 0.86 field match
        # (sample_data/ticket_triage/README.md), 60 keep the test to about ten minutes.
        "training": {"max_steps": MAX_STEPS, "batch_size": 4, "gradient_accumulation": 1,
                     "learning_rate": 1e-3, "warmup_ratio": 0.05, "save_steps": SAVE_STEPS,
                     "eval_steps": SAVE_STEPS, "sample_every_steps": 0, "save_total_limit": 2},
        "eval": {"max_examples": 40, "max_new_tokens": 48},
        "output_dir": str(out), "run_name": "e2e",
    }
    cfg_path = out / "e2e.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    run_dir = out / "e2e"

    # Start, wait for the first checkpoint, then kill -9 mid-run.
    proc = subprocess.Popen([sys.executable, "-m", "ft_tui", "train", str(cfg_path)], cwd=ROOT,
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # ~2.5 min on a quiet 2-core machine; a shared one (other test suites, benchmarks)
    # has been 5x slower, so the limit only guards against a run that hangs.
    deadline = time.time() + 1500
    first = run_dir / "checkpoints" / f"checkpoint-{SAVE_STEPS}" / "trainer_state.json"
    while not first.exists():
        assert proc.poll() is None, f"training exited early: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline, "no checkpoint within 25 minutes"
        time.sleep(0.5)
    time.sleep(2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "running"  # died, unclean

    resumed = _ft_tui("train", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return run_dir


def test_killed_run_resumes_to_the_end_with_a_continuous_curve(trained_run):
    status = json.loads((trained_run / "status.json").read_text())
    assert status["state"] == "done"
    steps = [json.loads(line)["step"] for line in (trained_run / "metrics.jsonl").read_text().splitlines()
             if json.loads(line).get("type") == "log"]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # no replayed duplicates
    assert steps[-1] == MAX_STEPS


def test_fine_tuned_beats_the_prompted_base(trained_run):
    result = _ft_tui("eval", str(trained_run))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((trained_run / "eval.json").read_text())
    main = report["main_metric"]
    base, tuned = report["summary"][main]["base"], report["summary"][main]["finetuned"]
    assert report["verdict"]["finetuned_beats_base"] is True, report["verdict"]["text"]
    assert tuned > base + 0.2, (main, base, tuned)


def test_adapter_and_merged_model_reload_and_agree(trained_run, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ft_tui.core.models.resolve import prepare_model

    result = _ft_tui("export", str(trained_run), "--merge", "--merge-dtype", "float32",
                     "--out", str(tmp_path / "export"))
    assert result.returncode == 0, result.stderr[-3000:]
    merged_dir = next(p.parent for p in (tmp_path / "export").rglob("config.json")
                      if (p.parent / "model.safetensors").exists() or list(p.parent.glob("*.safetensors")))

    base = AutoModelForCausalLM.from_pretrained(prepare_model("default"), dtype=torch.float32)
    with_adapter = PeftModel.from_pretrained(base, trained_run / "adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(merged_dir)

    rows = [json.loads(line) for line in (DATA / "eval.jsonl").read_text().splitlines()[:3]]
    for row in rows:
        prompt = tok.apply_chat_template(row["messages"][:-1], add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)
        kwargs = dict(max_new_tokens=40, do_sample=False, pad_token_id=tok.pad_token_id)
        with torch.no_grad():
            a = with_adapter.generate(**prompt, **kwargs)
            b = merged.generate(**prompt, **kwargs)
        assert tok.decode(a[0]) == tok.decode(b[0])
