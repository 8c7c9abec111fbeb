"""Padding share, FLOPs per token, MFU against the GPU peak table, and whether packed batches
keep their examples apart on the CPU attention kernels (the condition for packing there)."""

import json

import pytest

from ft_tui.core.config.settings import RunConfig
from ft_tui.core.run.events import StepLog
from ft_tui.core.training.throughput import (TokenTally, flops_per_token, mfu, peak_tflops,
                                             throughput_note)


def test_tally_counts_padding_in_padded_batches_and_none_in_padding_free_ones():
    import torch

    tally = TokenTally()
    assert tally.padding_share is None
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])          # 2 of 8 tokens are padding
    tally.add({"input_ids": torch.zeros(2, 4, dtype=torch.long), "attention_mask": mask})
    assert tally.padding_share == pytest.approx(0.25)
    assert tally.mean_length == pytest.approx(3.0)
    # TRL's padding-free collator: one flat row, position ids restart per example, no mask.
    tally.add({"input_ids": torch.zeros(1, 6, dtype=torch.long),
               "position_ids": torch.tensor([[0, 1, 2, 0, 1, 2]])})
    assert tally.padding_share == pytest.approx(2 / 14)
    assert tally.sequences == 4 and tally.mean_length == pytest.approx(12 / 4)


def test_flops_per_token_lora_is_two_thirds_of_full_and_attention_grows_with_length():
    n = 1_000_000_000
    assert flops_per_token("full", n) / flops_per_token("lora", n) == pytest.approx(1.5)
    assert flops_per_token("qlora", n) == flops_per_token("lora", n)
    short = flops_per_token("lora", n, layers=32, hidden=4096, seq_len=512)
    long = flops_per_token("lora", n, layers=32, hidden=4096, seq_len=1024)
    assert flops_per_token("lora", n) < short < long
    assert long - flops_per_token("lora", n) == pytest.approx(2 * (short - flops_per_token("lora", n)))


def test_peak_table_matches_the_most_specific_name_and_mfu_needs_a_known_peak():
    assert peak_tflops("NVIDIA H100 PCIe") < peak_tflops("NVIDIA H100 80GB HBM3")
    assert peak_tflops("NVIDIA A10G") < peak_tflops("NVIDIA A10") < peak_tflops("NVIDIA A100-SXM4-80GB")
    assert peak_tflops("Some Future Accelerator") is None
    per_token = flops_per_token("lora", 1_000_000_000)
    one = mfu(10_000, per_token, peak_tflops("NVIDIA A100-SXM4-80GB"))
    assert 0 < one < 1
    # The same tokens/s spread over two GPUs is half the utilisation of each.
    assert mfu(10_000, per_token, peak_tflops("NVIDIA A100-SXM4-80GB"), 2) == pytest.approx(one / 2)
    assert mfu(10_000, per_token, None) is None and mfu(None, per_token, 312.0) is None


def test_throughput_note_says_what_the_log_carries():
    log = StepLog(step=1, loss=1.0, padding_share=0.123, mfu=0.41)
    assert throughput_note(log) == " (padding 12 %, MFU 41 %)"
    assert throughput_note(StepLog(step=1, loss=1.0)) == ""


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_padding_free_batches_keep_examples_apart_on_cpu_attention(tiny_model_dir, attn):
    """TRL's packing (bfd) and padding_free flatten a batch into one row with restarting
    position ids and no attention mask. transformers 5 then builds a block-diagonal causal
    mask from the position ids (masking_utils.find_packed_sequence_indices), so on the CPU
    kernels each example sees only itself, provided no KV cache is made: TRL's compute_loss
    passes use_cache=False. The flat row's logits then equal separate forwards."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), attn_implementation=attn).eval()
    torch.manual_seed(0)
    a, b = torch.randint(5, 300, (1, 7)), torch.randint(5, 300, (1, 5))
    flat_ids = torch.cat([a, b], dim=1)
    positions = torch.cat([torch.arange(7), torch.arange(5)])[None]
    with torch.no_grad():
        alone = torch.cat([model(input_ids=a).logits, model(input_ids=b).logits], dim=1)
        flat = model(input_ids=flat_ids, position_ids=positions, use_cache=False).logits
        cached = model(input_ids=flat_ids, position_ids=positions, use_cache=True).logits
    assert torch.allclose(flat, alone, atol=1e-5)
    # With a cache the mask is plain causal: the second example attends to the first.
    assert not torch.allclose(cached[:, 7:], alone[:, 7:], atol=1e-3)


def _padding_share(model_dir, tmp_path, grouped: bool) -> float:
    from ft_tui.core.training import TrainingRunner

    rows = []
    for i in range(96):   # half short, half long: random batches of 4 nearly always mix them
        text = "Reset my password." if i % 2 else "The printer on floor 3 is jammed again " * 6
        rows.append(json.dumps({"messages": [{"role": "user", "content": text},
                                             {"role": "assistant", "content": "account"}]}))
    data = tmp_path / f"train-{grouped}.jsonl"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cfg = RunConfig().with_overrides({
        "model.name": str(model_dir), "data.train_path": str(data), "data.eval_fraction": 0.0,
        "training.max_steps": 6, "training.batch_size": 4, "training.gradient_accumulation": 1,
        "training.save_steps": 100, "training.sample_every_steps": 0,
        "training.group_by_length": grouped, "output_dir": str(tmp_path / "runs"),
        "run_name": f"grouped-{grouped}"})
    seen = []
    finished = TrainingRunner(cfg, on_event=seen.append).run()
    assert finished.state == "done", finished.message
    logs = [e for e in seen if isinstance(e, StepLog)]
    assert all(e.padding_share is not None and 0 <= e.padding_share < 1 for e in logs)
    assert all(e.mfu is None for e in logs)                     # no GPU, no MFU
    metrics = [json.loads(line) for line in (tmp_path / "runs" / f"grouped-{grouped}" / "metrics.jsonl")
               .read_text().splitlines()]
    assert [m["padding_share"] for m in metrics if m.get("type") == "log"] == \
        [e.padding_share for e in logs]                         # in metrics.jsonl too
    return logs[-1].padding_share


def test_length_grouped_batches_cut_the_padding(tiny_model_dir, tmp_path):
    random_share = _padding_share(tiny_model_dir, tmp_path, grouped=False)
    grouped_share = _padding_share(tiny_model_dir, tmp_path, grouped=True)
    assert random_share > 0.2                   # mixed batches: much of each is padding
    assert grouped_share < random_share / 2
