"""Export: adapter copy, merged model, reproducible config, standalone script, GGUF."""

import os
import subprocess
import sys
import textwrap

import pytest

from ft_tui.core.export import run as ex
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.artifacts import NotTrained
from tests.fixtures.eval_run import build_run_dir

PROMPT = "<|im_start|>user\nI was charged twice for order 48213.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture()
def run_path(tmp_path, tiny_model_dir):
    return build_run_dir(tmp_path, tiny_model_dir)


def _logits(model, tokenizer):
    import torch

    ids = tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        return model(**ids).logits


def _greedy(model, tokenizer):
    ids = tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)
    return out[0, ids["input_ids"].shape[1]:].tolist()


def test_merged_folder_loads_plainly_and_matches_base_plus_adapter(run_path, tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged_dir = ex.merge_adapter(run_path, tmp_path / "out")
    assert merged_dir == tmp_path / "out" / "merged"
    assert list(merged_dir.glob("*.safetensors")) and not (merged_dir / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(merged_dir))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    base_logits = _logits(base, tokenizer)
    adapted = PeftModel.from_pretrained(base, str(run_path / "adapter")).eval()

    assert torch.allclose(_logits(merged, tokenizer), _logits(adapted, tokenizer), atol=1e-4)
    assert _greedy(merged, tokenizer) == _greedy(adapted, tokenizer)
    assert not torch.allclose(_logits(merged, tokenizer), base_logits, atol=1e-2)  # the adapter mattered


def test_merging_again_replaces_the_old_folder(run_path, tmp_path):
    out = tmp_path / "out"
    ex.merge_adapter(run_path, out)
    (out / "merged" / "stale.txt").write_text("from an older export")
    ex.merge_adapter(run_path, out)
    assert not (out / "merged" / "stale.txt").exists()
    assert [p.name for p in out.iterdir()] == ["merged"]  # no temp folders left behind


def test_merge_keeps_the_base_dtype_unless_asked(run_path, tmp_path):
    import torch
    from safetensors.torch import load_file

    def stored_dtypes(folder):
        return {t.dtype for t in load_file(str(folder / "model.safetensors")).values()}

    assert stored_dtypes(ex.merge_adapter(run_path, tmp_path / "a")) == {torch.float32}
    assert stored_dtypes(ex.merge_adapter(run_path, tmp_path / "b", "bfloat16")) == {torch.bfloat16}
    with pytest.raises(ex.ExportError, match="choose one of auto, float32"):
        ex.merge_adapter(run_path, tmp_path / "c", "int4")


def test_full_fine_tune_is_copied_as_the_merged_model(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    run_path = build_run_dir(tmp_path, tiny_model_dir, method="full")
    merged = ex.merge_adapter(run_path, tmp_path / "out")
    AutoModelForCausalLM.from_pretrained(str(merged))
    assert ex.save_adapter(run_path, tmp_path / "out").name == "model"


def test_saved_adapter_loads_with_peft(run_path, tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = ex.save_adapter(run_path, tmp_path / "out")
    assert adapter == tmp_path / "out" / "adapter"
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    PeftModel.from_pretrained(base, str(adapter))


def test_config_has_absolute_paths_and_reloads(tmp_path, tiny_model_dir, monkeypatch):
    run_path = build_run_dir(tmp_path, tiny_model_dir)
    cfg = RunConfig.load(run_path / "config.yaml").with_overrides(
        {"data.train_path": "data/train.jsonl", "data.eval_path": "data/eval.jsonl"})
    cfg.save(run_path / "config.yaml")
    monkeypatch.chdir(tmp_path)  # the relative paths resolve from here
    written = ex.write_config(run_path, tmp_path / "out")
    text = written.read_text()
    assert text.startswith("# Reproduces run run: ft-tui train ")
    again = RunConfig.load(written)
    assert again.data.train_path == str(tmp_path / "data" / "train.jsonl")
    assert again.data.eval_path == str(tmp_path / "data" / "eval.jsonl")
    assert again.training == cfg.training and again.lora == cfg.lora


def test_standalone_script_compiles_and_holds_the_run_settings(run_path, tmp_path):
    script = ex.write_standalone_script(run_path, tmp_path / "out")
    source = script.read_text()
    compile(source, str(script), "exec")
    assert "ft_tui" not in source and "import trl" not in source  # TRL imported inside main()
    assert "'learning_rate': 0.0002" in source and "'r': 16" in source
    assert (tmp_path / "out" / "data" / "train.jsonl").read_text().count("\n") == 9

    # it runs: test_standalone_script_logs_the_losses_of_ft_tui_train


def test_standalone_script_without_held_out_data(tmp_path, tiny_model_dir):
    run_path = build_run_dir(tmp_path, tiny_model_dir, eval_file=False, **{"data.eval_fraction": 0.0})
    script = ex.write_standalone_script(run_path, tmp_path / "out")
    source = script.read_text()
    compile(source, str(script), "exec")
    assert "EVAL_FILE = None" in source and "'eval_strategy': 'no'" in source
    assert not (tmp_path / "out" / "data" / "eval.jsonl").exists()
    assert (tmp_path / "out" / "data" / "train.jsonl").read_text().count("\n") == 12


def test_gguf_without_converter_gives_the_exact_command(run_path, tmp_path, monkeypatch):
    monkeypatch.delenv(ex.LLAMA_CPP_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    merged = tmp_path / "out" / "merged"
    result = ex.export_gguf(merged, tmp_path / "out", "run")
    assert result.path is None
    assert result.command == (f"python convert_hf_to_gguf.py {merged} --outfile "
                              f"{tmp_path / 'out' / 'run.gguf'} --outtype q8_0")
    assert "not installed" in result.message and result.command in result.message


def test_gguf_uses_a_llama_cpp_converter_when_present(tmp_path, monkeypatch):
    llama = tmp_path / "llama.cpp"
    llama.mkdir()
    (llama / "convert_hf_to_gguf.py").write_text(textwrap.dedent("""
        import sys
        args = sys.argv[1:]
        out = args[args.index("--outfile") + 1]
        open(out, "w").write(" ".join(args))
    """))
    monkeypatch.setenv(ex.LLAMA_CPP_ENV, str(llama))
    result = ex.export_gguf(tmp_path / "merged", tmp_path, "run")
    assert result.path == tmp_path / "run.gguf"
    assert result.path.read_text() == f"{tmp_path / 'merged'} --outfile {result.path} --outtype q8_0"


def test_gguf_converter_failure_is_reported(tmp_path, monkeypatch):
    llama = tmp_path / "llama.cpp"
    llama.mkdir()
    (llama / "convert_hf_to_gguf.py").write_text("import sys; sys.exit('unknown architecture')")
    monkeypatch.setenv(ex.LLAMA_CPP_ENV, str(llama))
    with pytest.raises(ex.ExportError, match="GGUF conversion failed .*unknown architecture"):
        ex.export_gguf(tmp_path / "merged", tmp_path, "run")


def test_export_run_writes_everything_into_run_export(run_path):
    written = ex.export_run(run_path, merge=True)
    out = run_path / "export"
    assert written == {"adapter": str(out / "adapter"), "config": str(out / "config.yaml"),
                       "script": str(out / "train_standalone.py"), "merged": str(out / "merged")}


def test_export_of_an_untrained_run_writes_nothing(tmp_path, tiny_model_dir):
    run_path = build_run_dir(tmp_path, tiny_model_dir, with_adapter=False)
    with pytest.raises(NotTrained, match="train first"):
        ex.export_run(run_path, merge=True)
    assert not (run_path / "export").exists()


def _write_multi_turn(path, n):
    """Chats of three assistant turns each: ft-tui trains all three, so an export that kept
    only the last (prompt/completion rows) would log other losses."""
    import json

    from tests.test_training_runner import TICKETS

    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            messages = [{"role": "system", "content": "Classify the ticket, then say why."}]
            for turn in range(3):
                text, label = TICKETS[(i + turn) % len(TICKETS)]
                messages += [{"role": "user", "content": text},
                             {"role": "assistant", "content": f"{label}, turn {turn}"}]
            fh.write(json.dumps({"messages": messages}) + "\n")
    return path


@pytest.mark.slow   # several processes or a whole export: kept out of the ~5 min default run
def test_standalone_script_logs_the_losses_of_ft_tui_train(tmp_path, tiny_model_dir, capsys):
    """The exported script is the same training: one SFTConfig map (core/training/sft_args),
    the same seeding and the very token rows ft-tui trained on (every assistant turn of a
    multi-turn chat), so a few steps of the script give ft-tui train's losses."""
    import json

    from ft_tui.cli import main
    from ft_tui.core.run.events import StepLog
    from ft_tui.core.run.rundir import RunDir

    data = _write_multi_turn(tmp_path / "train.jsonl", n=16)
    code = main(["train", "--model", str(tiny_model_dir), "--data", str(data), "--max-steps", "4",
                 "--lr", "0.001", "--batch-size", "2", "--output-dir", str(tmp_path / "runs"),
                 "--run-name", "same", "--set", "training.gradient_accumulation=1",
                 "--set", "training.sample_every_steps=0", "--set", "training.eval_steps=100",
                 "--set", "lora.dropout=0.1", "--set", "training.seed=3"])
    assert code == 0, capsys.readouterr().err
    run = RunDir(tmp_path / "runs" / "same")
    ours = [e.loss for e in run.read_events() if isinstance(e, StepLog)]
    assert len(ours) == 4

    script = ex.write_standalone_script(run.path, tmp_path / "out")
    source = script.read_text()
    assert "ft_tui" not in source and "every assistant turn" in source
    rows = [json.loads(line) for line in
            (tmp_path / "out" / "data" / "train.tokenized.jsonl").read_text().splitlines()]
    readable = (tmp_path / "out" / "data" / "train.jsonl").read_text().splitlines()
    held_out = (tmp_path / "out" / "data" / "eval.tokenized.jsonl").read_text().splitlines()
    assert len(rows) == len(readable) and held_out and len(rows) + len(held_out) == 16
    # three trained spans per row: labels switch from -100 to a token three times
    starts = [sum(1 for a, b in zip([-100] + r["labels"], r["labels"]) if a == -100 and b != -100)
              for r in rows]
    assert starts == [3] * len(rows)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(script), "--output-dir", str(tmp_path / "sa")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    history = json.loads((tmp_path / "sa" / "log_history.json").read_text())
    theirs = [row["loss"] for row in history if "loss" in row]
    assert theirs == pytest.approx(ours, rel=1e-4)
    assert len(set(round(x, 4) for x in ours)) > 1       # the losses move, so equality means something
    assert (tmp_path / "sa" / "adapter" / "adapter_config.json").is_file()
