"""Preference pairs (DPO data) and KTO rows are recognised, checked line by line, and
never mistaken for supervised data."""

import json

import pytest

from ft_tui.core.data import inspect_path, load_examples

Q1 = "What is the capital of France?"
GOOD, BAD = "Paris.", "I think it might be Lyon, or possibly Marseille."


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def msg(role, content):
    return {"role": role, "content": content}


LAYOUTS = {
    "trl_standard": {"prompt": Q1, "chosen": GOOD, "rejected": BAD},
    "trl_conversational": {"prompt": [msg("user", Q1)], "chosen": [msg("assistant", GOOD)],
                           "rejected": [msg("assistant", BAD)]},
    "trl_implicit_prompt": {"chosen": [msg("user", Q1), msg("assistant", GOOD)],
                            "rejected": [msg("user", Q1), msg("assistant", BAD)]},
    # LLaMA-Factory's dpo_en_demo.json layout
    "sharegpt": {"conversations": [{"from": "human", "value": Q1}],
                 "chosen": {"from": "gpt", "value": GOOD}, "rejected": {"from": "gpt", "value": BAD}},
    "alpaca": {"instruction": Q1, "input": "", "chosen": GOOD, "rejected": BAD},
    "chosen_messages": {"chosen_messages": [msg("user", Q1), msg("assistant", GOOD)],
                        "rejected_messages": [msg("user", Q1), msg("assistant", BAD)]},
    "hh_strings": {"chosen": f"\n\nHuman: {Q1}\n\nAssistant: {GOOD}",
                   "rejected": f"\n\nHuman: {Q1}\n\nAssistant: {BAD}"},
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_preference_layout_becomes_prompt_chosen_rejected(tmp_path, layout):
    result = load_examples(write_jsonl(tmp_path / "pairs.jsonl", [LAYOUTS[layout]]))
    assert result.format == "preference" and result.errors == []
    (ex,) = result.examples
    prompt = ex.prompt_messages()
    assert prompt[-1]["role"] == "user" and Q1 in prompt[-1]["content"]
    assert [m["role"] for m in ex.chosen] == ["assistant"] == [m["role"] for m in ex.rejected]
    assert ex.chosen[0]["content"].endswith(GOOD) and ex.rejected[0]["content"].endswith(BAD)
    assert ex.to_dict() == {"prompt": prompt, "chosen": ex.chosen, "rejected": ex.rejected}


def test_bad_pairs_are_named_by_line(tmp_path):
    rows = [
        {"prompt": Q1, "chosen": GOOD, "rejected": BAD},
        {"prompt": Q1, "chosen": GOOD, "rejected": GOOD},                       # 2 identical
        {"prompt": Q1, "chosen": "  ", "rejected": BAD},                        # 3 empty side
        {"chosen": [msg("user", Q1), msg("assistant", GOOD)],                   # 4 no shared prompt
         "rejected": [msg("user", "Something else entirely"), msg("assistant", BAD)]},
        {"prompt": Q1, "chosen": GOOD},                                         # 5 a side missing
    ]
    report = inspect_path(write_jsonl(tmp_path / "pairs.jsonl", rows))
    assert report.format == "preference" and report.n_examples == 1
    assert [(e.line, e.code) for e in report.errors] == [
        (2, "identical_pair"), (3, "empty_content"), (4, "no_shared_prompt"), (5, "missing_field")]
    assert "rejected" in report.errors[3].message


def test_inspect_says_sft_cannot_use_pairs_and_reports_length_bias(tmp_path):
    rows = [{"prompt": f"Question {i}?", "chosen": f"A long, careful answer number {i}.",
             "rejected": "No."} for i in range(10)]
    rows.append({"prompt": "Short?", "chosen": "Yes.", "rejected": "Well, it depends on a lot."})
    report = inspect_path(write_jsonl(tmp_path / "pairs.jsonl", rows))
    data = report.to_dict()
    assert data["preference"] == {"pairs": 11, "chosen_longer": 10, "chosen_longer_share": 0.909}
    assert data["sft_usable"] is False and report.ok
    assert "cannot use" in report.warning("not_for_sft").message
    assert "10 of 11" in report.warning("length_bias").message
    # pairs sharing a prompt are not "contradictions", nor is the no-answer error raised
    assert report.warning("contradiction") is None and report.errors == []
    # meant for DPO (the wizard after a DPO verdict): the SFT warning is moot, the bias is not
    for_dpo = inspect_path(tmp_path / "pairs.jsonl", objective="dpo")
    assert for_dpo.warning("not_for_sft") is None and for_dpo.warning("length_bias")


def test_pairs_with_one_prompt_but_different_rejected_are_not_duplicates(tmp_path):
    rows = [{"prompt": Q1, "chosen": GOOD, "rejected": BAD},
            {"prompt": Q1, "chosen": GOOD, "rejected": "Berlin."}]
    assert inspect_path(write_jsonl(tmp_path / "p.jsonl", rows)).warning("duplicate") is None


def _kto_rows(n_true, n_false):
    rows = [{"messages": [msg("user", f"Q{i}"), msg("assistant", f"good {i}")], "label": True}
            for i in range(n_true)]
    rows += [{"messages": [msg("user", f"Q{i}"), msg("assistant", f"bad {i}")], "label": False}
             for i in range(n_false)]
    return rows


def test_kto_rows_are_recognised_with_their_balance(tmp_path):
    rows = _kto_rows(3, 2) + [{"prompt": "Hi", "completion": "Go away.", "label": False}]
    path = write_jsonl(tmp_path / "kto.jsonl", rows[:5])
    report = inspect_path(path)
    assert report.format == "kto" and report.kto == {"true": 3, "false": 2}
    warning = report.warning("not_for_sft")
    assert "3 answer(s) labelled true" in warning.message and warning.lines == [4, 5]
    assert report.warning("kto_imbalance") is None
    ex = load_examples(path).examples[3]
    assert ex.label is False and ex.completion_messages() == [msg("assistant", "bad 0")]
    pc = load_examples(write_jsonl(tmp_path / "kto_pc.jsonl", rows[5:]))
    assert pc.format == "kto" and pc.examples[0].label is False


def test_llama_factory_kto_tag_rows_are_kto_not_sft(tmp_path):
    """LLaMA-Factory's KTO files put the flag in `kto_tag`, on ShareGPT or Alpaca rows (and a
    spreadsheet export turns it into text). Read as SFT, the rows tagged false would be
    trained as answers to imitate."""
    sharegpt = [{"conversations": [{"from": "human", "value": f"Q{i}"},
                                   {"from": "gpt", "value": f"answer {i}"}], "kto_tag": i % 2 == 0}
                for i in range(4)]
    report = inspect_path(write_jsonl(tmp_path / "kto_sharegpt.jsonl", sharegpt))
    assert report.format == "kto" and report.kto == {"true": 2, "false": 2}
    assert report.warning("not_for_sft").lines == [2, 4]

    alpaca = [{"instruction": "Say hi", "input": "", "output": "Hi!", "kto_tag": True},
              {"instruction": "Say bye", "input": "", "output": "Go away.", "kto_tag": False}]
    ex = load_examples(write_jsonl(tmp_path / "kto_alpaca.jsonl", alpaca)).examples[1]
    assert ex.label is False and ex.completion_messages() == [msg("assistant", "Go away.")]

    csv_path = tmp_path / "kto.csv"
    csv_path.write_text("instruction,output,kto_tag\nSay hi,Hi!,TRUE\nSay bye,Go away.,FALSE\n")
    report = inspect_path(csv_path)
    assert report.format == "kto" and report.kto == {"true": 1, "false": 1}


def test_a_text_label_is_a_class_not_a_kto_flag(tmp_path):
    rows = [{"prompt": "The food was cold.", "completion": "negative", "label": "negative"}]
    assert load_examples(write_jsonl(tmp_path / "cls.jsonl", rows)).format == "prompt_completion"


def test_kto_with_one_side_missing_is_flagged(tmp_path):
    report = inspect_path(write_jsonl(tmp_path / "kto.jsonl", _kto_rows(6, 0)))
    assert "labelled false" in report.warning("kto_imbalance").message


@pytest.mark.parametrize("rows, needle", [
    ([LAYOUTS["sharegpt"]], "preference pairs"),
    (_kto_rows(2, 2), "learn the false answers"),
])
def test_sft_training_refuses_pairs_and_kto_before_loading_a_model(tmp_path, rows, needle):
    from ft_tui.core.config.settings import RunConfig
    from ft_tui.core.objectives import load_training_data
    from ft_tui.core.errors import SetupError

    cfg = RunConfig()
    cfg.data.train_path = str(write_jsonl(tmp_path / "d.jsonl", rows))
    with pytest.raises(SetupError, match=needle):
        load_training_data(cfg)


def test_cli_inspect_says_plainly_sft_cannot_use_them(tmp_path, capsys):
    from ft_tui.cli import main

    path = write_jsonl(tmp_path / "pairs.jsonl", [LAYOUTS["trl_standard"]])
    code = main(["inspect", str(path), "--model", "none"])
    out = capsys.readouterr().out
    assert code == 0 and "preference pairs read, but supervised" in out
