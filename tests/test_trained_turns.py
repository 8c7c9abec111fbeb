"""Every assistant turn is trained (not just the last), tool calls and schemas reach the
model, weight 0 turns are context, and `inspect --show-mask` shows exactly that."""

import json

import pytest

from ft_tui.core.data.masks import build_mask
from tests.fixtures.tiny import build_tokenizer

SYSTEM = {"role": "system", "content": "Answer in one word."}
THREE_TURNS = [SYSTEM,
               {"role": "user", "content": "Printer jammed?"}, {"role": "assistant", "content": "technical"},
               {"role": "user", "content": "Charged twice?"}, {"role": "assistant", "content": "billing"},
               {"role": "user", "content": "Reset password?"}, {"role": "assistant", "content": "account"}]
TOOLS = [{"type": "function", "function": {"name": "get_order", "description": "Look an order up",
                                           "parameters": {"type": "object",
                                                          "properties": {"order_id": {"type": "string"}}}}}]
TOOL_ROW = {"messages": [
    {"role": "user", "content": "Where is order 48213?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "get_order", "arguments": "{\"order_id\": \"48213\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "{\"status\": \"shipped\"}"},
    {"role": "assistant", "content": "It has shipped."}], "tools": TOOLS}

# A template that writes tools and tool calls itself (Hermes-style, as Qwen's do).
TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] or '' }}"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{{ c.function | tojson }}</tool_call>"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# Drops the text of every assistant turn but the last: not prefix-stable.
UNSTABLE_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' and not loop.last %}...{% else %}{{ m['content'] }}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def trained_text(masked):
    return "".join(s["text"] for s in masked.segments() if s["trained"])


def test_all_three_answers_are_trained_and_no_user_text(tok):
    masked = build_mask(tok, THREE_TURNS)
    trained = trained_text(masked)
    for answer in ("technical", "billing", "account"):
        assert answer in trained
    for user in ("Printer", "Charged", "Reset", "one word", "user"):
        assert user not in trained
    # the masks agree token for token with the full render
    assert masked.input_ids == tok(masked.text, add_special_tokens=False)["input_ids"]
    kept = [t for t, lab in zip(masked.input_ids, masked.labels) if lab != -100]
    assert tok.decode(kept) == trained
    assert "".join(s["text"] for s in masked.segments()) == masked.text


def test_last_assistant_only_and_weight_zero(tok):
    assert trained_text(build_mask(tok, THREE_TURNS, train_on="last_assistant")).startswith("account")
    weighted = [dict(m) for m in THREE_TURNS]
    weighted[4]["weight"] = 0
    trained = trained_text(build_mask(tok, weighted))
    assert "billing" not in trained and "technical" in trained and "account" in trained


def test_template_that_is_not_prefix_stable_falls_back_to_the_last_turn(tok):
    tok = build_tokenizer()
    tok.chat_template = UNSTABLE_TEMPLATE
    masked = build_mask(tok, THREE_TURNS)
    assert "prefix-stable" in masked.fallback
    assert trained_text(masked).startswith("account") and "billing" not in trained_text(masked)


def test_tool_call_is_trained_and_schema_is_context(tmp_path, tok):
    from ft_tui.core.data import load_examples

    path = tmp_path / "tools.jsonl"
    path.write_text(json.dumps(TOOL_ROW) + "\n")
    (ex,) = load_examples(path).examples
    assert ex.tools[0]["function"]["name"] == "get_order"
    for template, inline in ((TOOL_TEMPLATE, False), (None, True)):
        t = build_tokenizer()
        if template:
            t.chat_template = template
        masked = build_mask(t, ex.messages, ex.tools)
        assert masked.inline_tools is inline
        trained = trained_text(masked)
        assert "48213" in trained and "get_order" in trained and "It has shipped." in trained
        context = "".join(s["text"] for s in masked.segments() if not s["trained"])
        assert "Look an order up" in context and "shipped\\\"}" not in trained


def test_show_mask_json_on_a_three_turn_conversation(tmp_path, capsys, tiny_model_dir):
    from ft_tui.cli import main

    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": THREE_TURNS[1:3]}) + "\n"
                    + json.dumps({"messages": THREE_TURNS}) + "\n")
    code = main(["inspect", str(path), "--model", str(tiny_model_dir), "--show-mask", "2", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["line"] == 2
    trained = "".join(s["text"] for s in data["segments"] if s["trained"])
    assert [a in trained for a in ("technical", "billing", "account")] == [True] * 3
    assert "Printer" not in trained
    assert main(["inspect", str(path), "--model", str(tiny_model_dir), "--show-mask", "3"]) == 1
    assert "no example starts on line 3" in capsys.readouterr().err


def test_training_rows_mark_every_assistant_turn(tmp_path, tok):
    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.objectives import load_training_data

    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps({"messages": THREE_TURNS}) + "\n" for _ in range(3)))
    for train_on, answers in (("all_assistant", 3), ("last_assistant", 1)):
        cfg = RunConfig().with_overrides({"data.train_path": str(path), "data.eval_fraction": 0.0,
                                          "data.train_on": train_on})
        data = load_training_data(cfg)
        assert data.tokenize(tok) == []
        row = data.train_rows[0]
        kept = tok.decode([t for t in row["labels"] if t != -100])
        assert sum(a in kept for a in ("technical", "billing", "account")) == answers


def _first_turn_loss(model_dir, tok_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    masked = build_mask(tok, THREE_TURNS[:3])  # the first question and its answer only
    ids = torch.tensor([masked.input_ids])
    with torch.no_grad():
        return float(model(input_ids=ids, labels=torch.tensor([masked.labels])).loss)


def test_a_real_sft_run_learns_the_earlier_turns(tiny_model_dir, tmp_path):
    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.run.rundir import RunDir
    from ft_tui.core.training import TrainingRunner

    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps({"messages": THREE_TURNS}) + "\n" for _ in range(8)))
    before = _first_turn_loss(tiny_model_dir, tiny_model_dir)
    after = {}
    for train_on in ("all_assistant", "last_assistant"):
        cfg = RunConfig().with_overrides({
            "model.name": str(tiny_model_dir), "method": "full", "data.train_path": str(path),
            "data.eval_fraction": 0.0, "data.train_on": train_on, "training.max_steps": 12,
            "training.batch_size": 4, "training.gradient_accumulation": 1,
            "training.learning_rate": 1e-3, "training.warmup_ratio": 0.0,
            "training.sample_every_steps": 0, "training.save_steps": 100,
            "output_dir": str(tmp_path / "runs"), "run_name": train_on})
        finished = TrainingRunner(cfg).run()
        assert finished.state == "done", finished.message
        model_dir = RunDir(tmp_path / "runs" / train_on).adapter_dir
        after[train_on] = _first_turn_loss(model_dir, tiny_model_dir)
    # trained on: the first answer's loss falls far; only the last turn trained: far less
    assert after["all_assistant"] < before - 0.5
    assert after["all_assistant"] < after["last_assistant"] - 0.3
