"""Base vs fine-tuned evaluation on a hand-built run directory (tiny model + LoRA)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ft_tui.core.evaluate import run as ev
from ft_tui.core.evaluate.answer_cache import AnswerCache
from ft_tui.core.evaluate.report import TrainingFacts, make_verdict
from ft_tui.core.config.settings import RunConfig
from tests.fixtures.eval_run import SYSTEM, TICKETS, build_run_dir, write_chat_jsonl


@pytest.fixture()
def run_path(tmp_path, tiny_model_dir, isolated_cache):
    return build_run_dir(tmp_path, tiny_model_dir)


@pytest.fixture()
def generate_calls(monkeypatch, tiny_model_dir):
    """Record every batched generation: which model answered (base or fine-tuned, told apart
    by a weight the adapter changes) and how many prompts it got."""
    import torch
    from safetensors.torch import load_file

    key = "model.layers.0.self_attn.q_proj.weight"
    base_weight = load_file(str(tiny_model_dir / "model.safetensors"))[key]
    calls = []
    real = ev.generate_greedy

    def spy(model, tokenizer, prompts, **kw):
        weight = model.get_submodule(key.rsplit(".", 1)[0]).weight.detach().cpu()
        calls.append(("plain" if torch.equal(weight, base_weight) else "finetuned", len(prompts)))
        return real(model, tokenizer, prompts, **kw)

    monkeypatch.setattr(ev, "generate_greedy", spy)
    return calls


def test_eval_json_has_the_contract_and_both_answers_per_example(run_path, generate_calls):
    progress = []
    report = ev.evaluate_run(run_path, on_progress=lambda d, t, p, tokens_per_s=None: progress.append((d, t, p)))
    data = json.loads((run_path / "eval.json").read_text())
    assert set(data) == {"task_kind", "main_metric", "n_examples", "summary", "verdict",
                         "examples", "settings", "general"}
    assert data["general"] is None  # the general-ability check runs only when asked for
    assert data == json.loads(json.dumps(report.to_dict()))
    # 12 tickets over 3 labels: a label task scored by macro-F1
    assert data["task_kind"] == "labels" and data["main_metric"] == "macro_f1"
    assert data["n_examples"] == 3 and len(data["examples"]) == 3
    for row in data["summary"].values():
        assert row["delta"] == pytest.approx(row["finetuned"] - row["base"])
    assert isinstance(data["verdict"]["finetuned_beats_base"], bool)
    assert "prompted base model" in data["verdict"]["text"]
    first = data["examples"][0]
    assert first["line"] == 1 and first["reference"] == "billing"
    assert first["prompt"] == "My invoice shows the wrong amount."
    assert set(first["scores"]) == {"base", "finetuned"}
    # the perturbed adapter really is applied: the two models answer differently
    assert any(e["base"] != e["finetuned"] for e in data["examples"])
    assert generate_calls == [("plain", 3), ("finetuned", 3)]
    assert progress[0] == (0, 3, "base") and progress[-1] == (3, 3, "finetuned")
    report_md = (run_path / "report.md").read_text()
    assert "macro-F1" in report_md and data["verdict"]["text"] in report_md


def test_second_eval_reuses_cached_base_answers(run_path, generate_calls):
    first = ev.evaluate_run(run_path)
    generate_calls.clear()
    (run_path / "eval_answers").rename(run_path / "elsewhere")   # the fine-tuned answers: gone
    second = ev.evaluate_run(run_path)
    assert generate_calls == [("finetuned", 3)]  # the base model was not asked again
    assert [e["base"] for e in second.examples] == [e["base"] for e in first.examples]
    assert second.settings["base_answers_from_cache"] == 3


def _crash_after(n_batches, monkeypatch):
    """generate_greedy one prompt per batch, interrupted (as by Ctrl+C) after n batches."""
    real = ev.generate_greedy
    done = []

    def interrupted(model, tokenizer, prompts, **kw):
        inner = kw.pop("on_batch", None)

        def on_batch(k):
            if inner is not None:
                inner(k)
            done.append(k)
            if len(done) == n_batches:
                raise KeyboardInterrupt
        return real(model, tokenizer, prompts, **{**kw, "batch_size": 1}, on_batch=on_batch)

    monkeypatch.setattr(ev, "generate_greedy", interrupted)


def test_an_interrupted_evaluation_keeps_every_finished_answer(run_path, monkeypatch):
    expected = ev.evaluate_run(run_path)                 # answers of an uninterrupted run
    import shutil

    from ft_tui.core.models.resolve import cache_dir

    shutil.rmtree(cache_dir() / "base_answers")
    shutil.rmtree(run_path / "eval_answers")
    (run_path / "eval.json").unlink()

    # Ctrl+C in the middle of the base pass: the two answers before it are kept
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        _crash_after(2, patch)
        ev.evaluate_run(run_path)
    assert not (run_path / "eval.json").exists()
    again = ev.evaluate_run(run_path)
    assert again.settings["base_answers_from_cache"] == 2
    assert again.settings["finetuned_answers_from_cache"] == 0
    assert again.examples == expected.examples

    # a crash after both passes (in the general check, say): a re-run generates nothing
    (run_path / "eval.json").unlink()
    with monkeypatch.context() as patch, pytest.raises(ZeroDivisionError):
        patch.setattr(ev, "add_general_check", lambda *a, **k: 1 / 0)
        ev.evaluate_run(run_path, general=True)
    calls = []
    monkeypatch.setattr(ev, "generate_greedy", lambda *a, **k: calls.append(a) or [])
    last = ev.evaluate_run(run_path)
    assert calls == [] and last.examples == expected.examples
    assert last.settings["base_answers_from_cache"] == 3
    assert last.settings["finetuned_answers_from_cache"] == 3


def test_few_shot_prompts_the_base_model_with_training_turns(run_path, generate_calls):
    cfg = RunConfig.load(run_path / "config.yaml")
    train, held_out = ev.load_split(cfg)
    shots = ev.pick_shots(train, 2, seed=0)
    assert len({s.output_text() for s in shots}) == 2  # distinct labels shown first
    messages = ev.prompt_messages(held_out[0], "", shots)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == SYSTEM
    assert messages[2]["content"] == shots[0].output_text()
    assert messages[-1]["content"] == held_out[0].prompt_messages()[-1]["content"]

    ev.evaluate_run(run_path)
    generate_calls.clear()
    report = ev.evaluate_run(run_path, few_shot=2)
    # a different prompt is a different cache key: the base model answers again (the
    # fine-tuned model's prompts have no shots, so its kept answers are reused)
    assert generate_calls == [("plain", 3)]
    assert report.settings["few_shot"] == 2


def test_default_system_prompt_added_only_where_missing(run_path, tmp_path):
    from ft_tui.core.data import load_examples

    cfg = RunConfig.load(run_path / "config.yaml")
    _, held_out = ev.load_split(cfg)
    own = ev.prompt_messages(held_out[0], "Be terse.")
    assert [m["content"] for m in own if m["role"] == "system"] == [SYSTEM]
    bare = load_examples(write_chat_jsonl(tmp_path / "bare.jsonl", TICKETS[:2], system=None))
    added = ev.prompt_messages(bare.examples[0], "Be terse.")
    assert [(m["role"], m["content"]) for m in added][0] == ("system", "Be terse.")


def test_max_examples_limits_the_held_out_set(run_path):
    report = ev.evaluate_run(run_path, max_examples=2)
    assert report.n_examples == 2 and report.settings["max_examples"] == 2


def test_held_out_split_matches_the_trainers_seeded_split(tmp_path, tiny_model_dir, isolated_cache):
    from ft_tui.core.data import load_examples, split_examples

    run_path = build_run_dir(tmp_path, tiny_model_dir, eval_file=False)
    report = ev.evaluate_run(run_path)
    cfg = RunConfig.load(run_path / "config.yaml")
    _, expected = split_examples(load_examples(cfg.data.train_path).examples,
                                 cfg.data.eval_fraction, cfg.training.seed)
    assert [e["line"] for e in report.examples] == [ex.line for ex in expected]
    assert "split of train_path" in report.settings["held_out_source"]


def test_full_fine_tune_run_is_evaluated_from_its_model_folder(tmp_path, tiny_model_dir,
                                                              isolated_cache, generate_calls):
    run_path = build_run_dir(tmp_path, tiny_model_dir, method="full")
    report = ev.evaluate_run(run_path)
    assert generate_calls == [("plain", 3), ("finetuned", 3)]
    assert any(e["base"] != e["finetuned"] for e in report.examples)


def test_report_md_keeps_other_sections_and_replaces_its_own(run_path):
    (run_path / "report.md").write_text("# Run report\n\n## Training\n\nloss went down\n")
    ev.evaluate_run(run_path)
    ev.evaluate_run(run_path, max_examples=1)
    text = (run_path / "report.md").read_text()
    assert "## Training\n\nloss went down" in text
    assert text.count("## Evaluation") == 1
    assert "1 held-out examples" in text


def test_untrained_run_says_train_first(tmp_path, tiny_model_dir):
    run_path = build_run_dir(tmp_path, tiny_model_dir, with_adapter=False)
    from ft_tui.core.run.artifacts import NotTrained

    with pytest.raises(NotTrained, match="train first: `ft-tui train"):
        ev.evaluate_run(run_path)


def test_missing_data_file_is_one_clear_error(run_path):
    cfg = RunConfig.load(run_path / "config.yaml").with_overrides(
        {"data.eval_path": str(run_path / "gone.jsonl")})
    cfg.save(run_path / "config.yaml")
    with pytest.raises(ev.EvalError, match="gone.jsonl: data file not found"):
        ev.evaluate_run(run_path)


def test_verdict_says_why_fine_tuning_lost():
    cfg = RunConfig().with_overrides({"training.learning_rate": 2e-5})
    facts = TrainingFacts(steps=12, first_loss=2.0, last_loss=1.95)
    verdict = make_verdict(kind="labels", main_metric="macro_f1", base=0.95, finetuned=0.8, n_examples=40,
                           n_train=60, cfg=cfg, facts=facts)
    text = verdict["text"]
    assert verdict["finetuned_beats_base"] is False
    assert text.startswith("Fine-tuning did not beat the prompted base model: it did worse")
    for reason in ("already scores 0.95", "only 12 optimizer steps",
                   "barely fell (2.00 -> 1.95): raise the learning rate or train longer",
                   "learning rate 2e-05 is low for LoRA (0.0001 to 0.0005 is typical)"):
        assert reason in text
    assert "training examples" not in text  # 60 is above classification's minimum of 50
    small = make_verdict(kind="extraction", main_metric="json_field_match", base=0.1,
                         finetuned=0.1, n_examples=40, n_train=60, cfg=RunConfig(), facts=facts)
    assert "only 60 training examples: structured extraction needs at least 100" in small["text"]
    assert "it matched it on JSON field match" in small["text"]
    hot = make_verdict(kind="labels", main_metric="macro_f1", base=0.1, finetuned=0.1,
                       n_examples=40, n_train=500, cfg=RunConfig().with_overrides(
                           {"training.learning_rate": 1e-3}), facts=facts)["text"]
    assert "learning rate 0.001 is high for LoRA" in hot
    assert "barely fell (2.00 -> 1.95): train longer" in hot  # not "raise the learning rate"
    won = make_verdict(kind="labels", main_metric="macro_f1", base=0.2, finetuned=0.9, n_examples=10,
                       n_train=500, cfg=RunConfig(), facts=TrainingFacts())
    assert won["finetuned_beats_base"] is True
    assert "beat the prompted base model on macro-F1: 0.900 vs 0.200 (+0.700)" in won["text"]
    assert "only 10 held-out examples" in won["text"]


def test_answer_cache_survives_a_torn_line_and_notices_a_resaved_model(tmp_path, tiny_model_dir):
    cache = AnswerCache(tiny_model_dir, {"max_new_tokens": 4}, root=tmp_path)
    cache.put("prompt A", "answer A")
    with open(cache.path, "a") as fh:
        fh.write('{"key": "half')  # killed mid-write
    again = AnswerCache(tiny_model_dir, {"max_new_tokens": 4}, root=tmp_path)
    assert again.get("prompt A") == "answer A" and again.get("prompt B") is None
    assert AnswerCache(tiny_model_dir, {"max_new_tokens": 8}, root=tmp_path).get("prompt A") is None


# ----- LLM judge against a local stand-in endpoint -----------------------------------------

class _JudgeHandler(BaseHTTPRequestHandler):
    requests: list = []
    status = 200

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                    "body": body})
        reply = {"choices": [{"message": {"content": '{"score": 4, "reason": "close"}'}}]}
        data = json.dumps(reply).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture()
def judge_server():
    _JudgeHandler.requests = []
    _JudgeHandler.status = 200
    server = HTTPServer(("127.0.0.1", 0), _JudgeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _JudgeHandler
    server.shutdown()
    server.server_close()
    thread.join()


def _enable_judge(run_path, server):
    cfg = RunConfig.load(run_path / "config.yaml").with_overrides({
        "eval.judge_url": f"http://127.0.0.1:{server.server_port}/v1", "eval.judge_model": "grader"})
    cfg.save(run_path / "config.yaml")


def _consented(run_path):
    from ft_tui.core.evaluate.judge import judge_from_config

    return judge_from_config(RunConfig.load(run_path / "config.yaml").eval, consent=True)


def test_a_judge_named_only_in_the_config_gets_nothing_without_consent(run_path, judge_server,
                                                                       monkeypatch):
    server, handler = judge_server
    _enable_judge(run_path, server)
    monkeypatch.setenv("FT_TUI_JUDGE_API_KEY", "sk-secret-123")
    report = ev.evaluate_run(run_path)
    assert handler.requests == []
    assert "nothing was sent" in report.settings["judge_error"]
    assert "--judge" in report.settings["judge_error"]
    assert "judge_score" not in report.summary


def test_judge_scores_both_answers_and_never_stores_the_key(run_path, judge_server, monkeypatch):
    server, handler = judge_server
    _enable_judge(run_path, server)
    monkeypatch.setenv("FT_TUI_JUDGE_API_KEY", "sk-secret-123")
    report = ev.evaluate_run(run_path, judge=_consented(run_path))
    assert len(handler.requests) == 6  # 3 examples x 2 answers
    assert {r["path"] for r in handler.requests} == {"/v1/chat/completions"}
    assert {r["auth"] for r in handler.requests} == {"Bearer sk-secret-123"}
    assert handler.requests[0]["body"]["model"] == "grader"
    assert report.summary["judge_score"] == {"base": 0.75, "finetuned": 0.75, "delta": 0.0}
    for name in ("eval.json", "report.md", "config.yaml"):
        assert "sk-secret-123" not in (run_path / name).read_text()


def test_judge_failure_keeps_the_evaluation(run_path, judge_server):
    server, handler = judge_server
    handler.status = 500
    _enable_judge(run_path, server)
    report = ev.evaluate_run(run_path, judge=_consented(run_path))
    assert "HTTP 500" in report.settings["judge_error"]
    assert "judge_score" not in report.summary
    assert json.loads((run_path / "eval.json").read_text())["n_examples"] == 3


def test_judge_off_by_default(run_path, judge_server):
    _, handler = judge_server
    ev.evaluate_run(run_path)
    assert handler.requests == []


# ----- generation ------------------------------------------------------------------------

def test_left_padded_batches_answer_like_one_prompt_at_a_time(run_path, tiny_model_dir):
    from ft_tui.core.models.generation import generate_greedy, load_for_inference, render_prompt
    from ft_tui.core.models.resolve import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    model = load_for_inference(tiny_model_dir, run_path / "adapter")
    texts = ["hi", "The printer on floor 3 is jammed again and nobody can print invoices.",
             "refund order 48213", "x"]
    prompts = [render_prompt(tokenizer, [{"role": "user", "content": t}]) for t in texts]
    assert prompts[0].endswith("<|im_start|>assistant\n")
    one_by_one = generate_greedy(model, tokenizer, prompts, max_new_tokens=10, batch_size=1)
    batched = generate_greedy(model, tokenizer, prompts, max_new_tokens=10, batch_size=4)
    assert batched == one_by_one
    assert any(one_by_one)  # the adapted model says something, so the comparison means something
    assert tokenizer.padding_side == "right"  # restored after generation


def test_template_less_tokenizer_gets_the_chatml_fallback(tiny_model_dir):
    from ft_tui.core.models.generation import ensure_chat_template, render_prompt
    from ft_tui.core.models.resolve import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    assert ensure_chat_template(tokenizer) is False
    tokenizer.chat_template = None
    assert ensure_chat_template(tokenizer) is True
    text = render_prompt(tokenizer, [{"role": "user", "content": "hello"}])
    assert text == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"


def test_live_samples_decode_like_the_evaluation(tiny_model_dir):
    """The training-time samples use the evaluation's generator: the same answers for the
    same prompts, and a tokenizer without a pad token still gets samples (the old sampler
    raised "Asking to pad but the tokenizer does not have a padding token" and turned them off)."""
    from ft_tui.core.models.generation import generate_greedy, load_for_inference, render_prompt
    from ft_tui.core.models.resolve import load_tokenizer
    from ft_tui.core.training.callbacks import generate_answers

    tokenizer = load_tokenizer(tiny_model_dir)
    model = load_for_inference(tiny_model_dir)
    conversations = [[{"role": "user", "content": t}] for t in ("hi", "refund order 48213 twice")]
    prompts = [render_prompt(tokenizer, c) for c in conversations]
    expected = generate_greedy(model, tokenizer, prompts, max_new_tokens=8, batch_size=1)
    tokenizer.pad_token = None
    model.train()
    live = generate_answers(model, tokenizer, conversations, max_new_tokens=8)
    assert model.training                                   # back to training mode
    assert live == expected


def test_a_gain_inside_the_noise_is_not_called_a_win():
    """One more right answer out of 32 is not 'beat the base': the verdict gives the 95 %
    interval of the paired change and beats only when it lies above 0."""
    from ft_tui.core.evaluate.metrics import main_change_interval

    refs = [f'{{"team": "t{i % 4}"}}' for i in range(32)]
    base = ["no idea"] * 32
    one_flip = ["no idea"] * 31 + [refs[31]]
    lo, hi = main_change_interval("extraction", base, one_flip, refs)
    assert lo <= 0 < hi
    noisy = make_verdict(kind="extraction", main_metric="json_field_match", base=0.0,
                         finetuned=1 / 32, n_examples=32, n_train=400, cfg=RunConfig(),
                         facts=TrainingFacts(steps=10), interval=(lo, hi))
    assert noisy["finetuned_beats_base"] is False
    assert "scored higher than the prompted base model on JSON field match, but not clearly" in noisy["text"]
    assert f"95 % interval of the change {lo:+.3f} to {hi:+.3f}" in noisy["text"]
    assert "only 10 optimizer steps" in noisy["text"]
    many = refs[:20] + base[20:]
    clear = main_change_interval("extraction", base, many, refs)
    assert clear[0] > 0
    won = make_verdict(kind="extraction", main_metric="json_field_match", base=0.0, finetuned=20 / 32,
                       n_examples=32, n_train=400, cfg=RunConfig(), facts=TrainingFacts(),
                       interval=clear)
    assert won["finetuned_beats_base"] is True and won["change_ci95"] == list(clear)
    # macro-F1 is recomputed per resample, not averaged
    labels = ["billing", "bug"] * 16
    lo, hi = main_change_interval("labels", ["billing"] * 32, labels, labels)
    assert 0 < lo <= hi
