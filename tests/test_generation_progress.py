"""Evaluation progress moves per answered example (not per batch of 8), with tokens/s."""

import torch

from ft_tui.core.models import generation as gen


def test_watch_reports_each_answer_as_it_reaches_a_stop_token():
    done, tokens = [], []
    watch = gen._Watch(3, [2], done.append, tokens.append)
    watch.put(torch.tensor([[7, 7], [7, 7], [7, 7]]))   # the prompts: not counted
    watch.put(torch.tensor([5, 2, 5]))                   # row 1 ends
    watch.put(torch.tensor([2, 0, 5]))                   # row 0 ends; row 1 is padding now
    watch.put(torch.tensor([0, 0, 6]))
    assert done == [1, 1] and tokens == [3, 2, 1] and watch.still_running == 1


def test_answers_are_counted_as_they_finish_inside_one_batch(tiny_model_dir, monkeypatch):
    """One batch of 6 prompts: the answers that hit the stop token early are reported before
    the batch ends, the rest when the token limit cuts them; the answers themselves are the
    same as without the progress callbacks."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = ["hello there", "a b c d e f", "x", "the printer is jammed", "reset my password",
               "refund"]
    plain = gen.generate_greedy(model, tok, prompts, max_new_tokens=10, batch_size=6)
    # Make the second token of the first answer a stop token: that answer (at least) ends
    # early, while a random model carries most others to the limit.
    first_ids = tok(plain[0], add_special_tokens=False)["input_ids"]
    monkeypatch.setattr(gen, "stop_ids", lambda model, tokenizer: [first_ids[1]])
    done, tokens = [], []
    answers = gen.generate_greedy(model, tok, prompts, max_new_tokens=10, batch_size=6,
                                  on_batch=done.append, on_tokens=tokens.append)
    assert sum(done) == len(prompts) and len(done) >= 2      # not one count for the batch
    assert done[0] < len(prompts)
    assert sum(tokens) <= 10 * len(prompts) and tokens[0] == len(prompts)
    monkeypatch.undo()
    assert gen.generate_greedy(model, tok, prompts, max_new_tokens=10, batch_size=6) == plain
    assert answers[0] != plain[0] or len(first_ids) <= 2    # the stop token cut it


def test_eval_progress_carries_tokens_per_second(tmp_path, tiny_model_dir, isolated_cache):
    from ft_tui.core.evaluate import run as ev
    from tests.fixtures.eval_run import build_run_dir

    run_path = build_run_dir(tmp_path, tiny_model_dir)
    seen = []
    ev.evaluate_run(run_path, on_progress=lambda d, t, p, tokens_per_s=None: seen.append((d, t, p, tokens_per_s)))
    finished = [s for s in seen if s[2] == "finetuned" and s[0] == s[1]]
    assert finished and finished[-1][3] and finished[-1][3] > 0


def test_a_stop_ends_generation_within_a_token_and_keeps_the_finished_answers(tiny_model_dir,
                                                                              monkeypatch):
    """The Decide step's baseline is cancellable: a stop asked mid-batch ends generation at
    the next token; answers that had already ended are kept, the cut ones are not."""
    import pytest
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = ["hello there", "a b c d e f", "x", "the printer is jammed"]
    plain = gen.generate_greedy(model, tok, prompts, max_new_tokens=12, batch_size=4)
    first_ids = tok(plain[0], add_special_tokens=False)["input_ids"]
    monkeypatch.setattr(gen, "stop_ids", lambda model, tokenizer: [first_ids[1]])
    tokens, kept, finished = [], {}, []
    with pytest.raises(gen.GenerationStopped):
        gen.generate_greedy(model, tok, prompts, max_new_tokens=12, batch_size=4,
                            on_batch=finished.append, on_tokens=tokens.append,
                            on_answer=kept.__setitem__, should_stop=lambda: sum(finished) >= 1)
    assert len(tokens) <= 3                 # not carried on to the 12-token limit
    assert 1 <= len(kept) == sum(finished) < len(prompts)
    assert plain[0].startswith(kept[0]) or kept[0] in plain[0]
