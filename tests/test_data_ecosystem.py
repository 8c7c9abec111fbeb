"""Data as other projects ship it, in small copies written here in the shape of the public
files (each source and its licence named beside it): pandas/Excel CSV quoting, text that
already holds chat markup, Anthropic HH-RLHF pairs, common column names, oasst trees,
compressed and multi-file datasets."""

import gzip
import json

import pytest

from ft_tui.core.data import inspect_path, load_examples

# Dolly 15k (databricks/databricks-dolly-15k, CC BY-SA 3.0): instruction, context,
# response, category. Written out by pandas, which quotes a cell holding a quote, comma or
# newline and doubles the quotes inside it.
DOLLY = [
    {"instruction": 'When did Virgin Australia start operating?',
     "context": 'Virgin Australia, the trading name of Virgin Australia Airlines Pty Ltd, is an '
                'Australian-based airline. It commenced services on 31 August 2000 as "Virgin '
                'Blue", with two aircraft on a single route.\nIt suddenly found itself a major '
                'airline in Australia\'s domestic market.',
     "response": 'Virgin Australia commenced services on 31 August 2000 as "Virgin Blue".',
     "category": "closed_qa"},
    {"instruction": 'Which is a species of fish? Tope or Rope', "context": "",
     "response": "Tope", "category": "classification"},
    {"instruction": 'Why can camels survive for long without water?', "context": "",
     "response": 'Camels use the fat in their humps to keep them filled with energy and '
                 'hydration for long periods of time, or as some say, "a camel is a ship of '
                 'the desert".\n\nThey can go a week without water.',
     "category": "open_qa"},
    {"instruction": 'Write a haiku about "rain", with quotes: ""', "context": "",
     "response": '"Soft rain", she said,\n"falls",\nand that is all.', "category": "creative_writing"},
]


def _pandas_csv(path, rows, **kwargs):
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False, **kwargs)
    return path


def test_pandas_csv_with_doubled_quotes_and_newlines_reads_every_row_whole(tmp_path):
    path = _pandas_csv(tmp_path / "dolly.csv", DOLLY)
    result = load_examples(path)
    assert result.errors == []
    assert [ex.output_text() for ex in result.examples] == [r["response"] for r in DOLLY]
    # the context is the input, after the instruction, as in Dolly's own training recipe
    assert result.examples[0].messages[0]["content"] == DOLLY[0]["instruction"] + "\n\n" + DOLLY[0]["context"]
    # rows start on the physical line where they begin
    assert [ex.line for ex in result.examples] == [2, 4, 5, 8]


def test_semicolon_csv_with_quotes_in_cells(tmp_path):
    path = _pandas_csv(tmp_path / "dolly.csv", DOLLY, sep=";")
    result = load_examples(path)
    assert result.errors == [] and len(result.examples) == 4
    assert result.examples[3].input_text() == DOLLY[3]["instruction"]


def test_csv_whose_parsers_disagree_is_said_once(tmp_path):
    # a stray quote that opens a cell and never closes: Python's csv module swallows the
    # rest of the file into one cell; pyarrow counts the rows differently
    path = tmp_path / "broken.csv"
    path.write_text('instruction,output\nSay hi,hi\n"Unclosed,x\nSay bye,bye\nAsk,answer\n')
    report = inspect_path(path)
    disagree = [e for e in report.errors if e.code == "invalid_csv"]
    assert len(disagree) == 1, report.errors
    assert "disagree" in disagree[0].message or "cannot parse" in disagree[0].message


# ----- the chat template's own system prompt --------------------------------------------

# SmolLM2-135M-Instruct's chat template (HuggingFaceTB/SmolLM2-135M-Instruct, Apache-2.0)
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}")
# The shape of Qwen2.5-Instruct's template (Qwen/Qwen2.5-0.5B-Instruct, Apache-2.0), tools
# left out: a default system prompt when the conversation has none.
QWEN_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + "
    "messages[0]['content'] + '<|im_end|>\n' }}{%- else %}{{- '<|im_start|>system\nYou are "
    "Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if not (message.role == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}"
    "{%- endif %}")


@pytest.mark.parametrize("template,injected", [(SMOLLM2_TEMPLATE, "named SmolLM"),
                                               (QWEN_TEMPLATE, "You are Qwen")],
                         ids=["smollm2", "qwen"])
@pytest.mark.parametrize("messages", [
    [{"role": "assistant", "content": "Plain text to learn."}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there."}],
])
def test_the_templates_own_system_prompt_is_never_trained(template, injected, messages):
    from ft_tui.core.data.masks import build_mask
    from tests.fixtures.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.chat_template = template
    masked = build_mask(tokenizer, messages)
    trained = "".join(s["text"] for s in masked.segments() if s["trained"])
    context = "".join(s["text"] for s in masked.segments() if not s["trained"])
    assert injected in masked.text and injected in context
    assert trained.startswith(messages[-1]["content"])
    # the labels agree with the text: the trained tokens decode to the answer, not the prompt
    ids = [t for t in masked.labels if t != -100]
    assert injected not in tokenizer.decode(ids)
    assert messages[-1]["content"] in tokenizer.decode(ids)


# ----- text that already holds chat markup ------------------------------------------------

# mlabonne/guanaco-llama2-1k (Apache-2.0, from OpenAssistant oasst1): one "text" column
LLAMA2 = ("<s>[INST] What is a monopsony in economics? [/INST] A monopsony is a market with "
          "a single buyer, for example one large employer in a small town. </s>")
LLAMA2_SYS = ("<s>[INST] <<SYS>>\nYou answer briefly.\n<</SYS>>\n\nName a colour. [/INST] Red. "
              "</s><s>[INST] Another? [/INST] Blue. </s>")
# timdettmers/openassistant-guanaco (Apache-2.0): "### Human: …### Assistant: …"
GUANACO = ("### Human: Can you write a short introduction about monopsony?### Assistant: "
           "\"Monopsony\" refers to a market with one buyer.### Human: Now explain it to a "
           "dog### Assistant: Imagine one dog park buying all the treats.")
# ChatML as OpenHermes/Qwen render it
CHATML = ("<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nCapital of Peru?"
          "<|im_end|>\n<|im_start|>assistant\nLima.<|im_end|>\n")
# tatsu-lab/alpaca "text" column (CC BY-NC 4.0)
ALPACA_TEXT = ("Below is an instruction that describes a task, paired with an input that "
               "provides further context. Write a response that appropriately completes the "
               "request.\n\n### Instruction:\nTranslate to French.\n\n### Input:\nGood "
               "morning\n\n### Response:\nBonjour")


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_pre_formatted_chat_text_becomes_turns(tmp_path):
    path = _jsonl(tmp_path / "text.jsonl", [{"text": t} for t in
                                            (LLAMA2, LLAMA2_SYS, GUANACO, CHATML, ALPACA_TEXT)])
    result = load_examples(path)
    assert result.errors == []
    roles = [[m["role"] for m in ex.messages] for ex in result.examples]
    assert roles == [["user", "assistant"],
                     ["system", "user", "assistant", "user", "assistant"],
                     ["user", "assistant", "user", "assistant"],
                     ["system", "user", "assistant"],
                     ["system", "user", "assistant"]]
    first, sys_row, guanaco, chatml, alpaca = result.examples
    assert first.messages[0]["content"] == "What is a monopsony in economics?"
    assert first.output_text().endswith("in a small town.")   # no </s>, no [/INST]
    assert sys_row.messages[0]["content"] == "You answer briefly."
    assert guanaco.output_text() == "Imagine one dog park buying all the treats."
    assert chatml.output_text() == "Lima."
    assert alpaca.messages[1]["content"] == "Translate to French.\n\nGood morning"
    assert alpaca.output_text() == "Bonjour"
    for ex in result.examples:  # no markup survives into a message to be templated again
        for m in ex.messages:
            assert not any(mark in m["content"] for mark in
                           ("[INST]", "[/INST]", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "###"))


def test_guanaco_text_file_lines_are_read_as_conversations(tmp_path):
    path = tmp_path / "guanaco.txt"
    path.write_text(GUANACO + "\n" + GUANACO.replace("dog", "cat") + "\n")
    result = load_examples(path)
    assert result.errors == [] and len(result.examples) == 2


def test_markup_that_cannot_be_split_is_named_not_templated_again(tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [{"text": "<|im_start|>user\nHello<|im_end|>\n"},
                                           {"text": "<|im_start|>critic\nHm<|im_end|>\n<|im_start|>assistant\nx"}])
    result = load_examples(path)
    assert [e.code for e in result.errors] == ["chat_markup", "chat_markup"]
    assert "ChatML" in result.errors[0].message and '"messages"' in result.errors[0].message
    assert "'critic'" in result.errors[1].message


# ----- Anthropic HH-RLHF ------------------------------------------------------------------

# Anthropic/hh-rlhf (MIT): each side a whole transcript with "\n\nHuman:"/"\n\nAssistant:"
HH = [
    {"chosen": "\n\nHuman: What is a good search engine that does not track me?\n\n"
               "Assistant: DuckDuckGo does not store your searches.",
     "rejected": "\n\nHuman: What is a good search engine that does not track me?\n\n"
                 "Assistant: Dunno, try Google."},
    {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a fact."
               "\n\nAssistant: Octopuses have three hearts.",
     "rejected": "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a fact."
                 "\n\nAssistant: Octopuses are fish."},
]


def test_hh_rlhf_pairs_split_at_whole_turns(tmp_path):
    result = load_examples(_jsonl(tmp_path / "hh.jsonl", HH))
    assert result.errors == [] and result.format == "preference"
    one, two = result.examples
    # both answers start with "D": the prompt must not take that letter
    assert one.prompt_messages() == [{"role": "user", "content": "What is a good search engine "
                                                                 "that does not track me?"}]
    assert one.chosen == [{"role": "assistant", "content": "DuckDuckGo does not store your searches."}]
    assert one.rejected == [{"role": "assistant", "content": "Dunno, try Google."}]
    assert [m["role"] for m in two.prompt_messages()] == ["user", "assistant", "user"]
    assert two.rejected[0]["content"] == "Octopuses are fish."


# ----- column names other projects use ----------------------------------------------------

def test_common_column_names_are_read_and_said(tmp_path):
    # lvwerra/stack-exchange-paired (CC BY-SA 4.0): question, response_j (better), response_k
    pairs = _jsonl(tmp_path / "se.jsonl", [
        {"qid": 1, "question": "How do I reverse a list in Python?", "date": "2020/01/01",
         "metadata": ["https://stackoverflow.com/questions/1"],
         "response_j": "Use reversed(xs) or xs[::-1].", "response_k": "You can't."}])
    result = load_examples(pairs)
    assert result.errors == [] and result.format == "preference"
    assert result.examples[0].chosen[0]["content"] == "Use reversed(xs) or xs[::-1]."
    # torchtune's instruct test data and SQuAD-style rows: question/answer with a context
    qa = _jsonl(tmp_path / "qa.jsonl", [
        {"question": "Who wrote it?", "context": "Hamlet was written by Shakespeare.", "answer": "Shakespeare"},
        {"prompt": "Say hi", "response": "Hi!"}])
    report = inspect_path(qa)
    assert report.errors[0].code == "mixed_format"   # two layouts in one file, as before
    assert report.n_examples == 1
    renamed = report.warning("renamed_columns")
    assert renamed and "'answer' as 'output'" in renamed.message and "line 1" in renamed.message


def test_csv_headers_with_common_names_are_read(tmp_path):
    path = _pandas_csv(tmp_path / "se.csv", [
        {"question": "Why is the sky blue?", "response_j": "Rayleigh scattering.",
         "response_k": "Because it is."}])
    result = load_examples(path)
    assert (result.format, result.errors) == ("preference", [])
    qa = _pandas_csv(tmp_path / "qa.csv", [{"question": "2+2?", "answer": "4"}] * 2)
    assert len(load_examples(qa).examples) == 2


def test_a_row_that_matches_nothing_says_its_keys_and_what_to_rename(tmp_path):
    path = _jsonl(tmp_path / "odd.jsonl", [{"q": "Capital of Peru?", "reply": "Lima", "id": 3},
                                           {"src": "x", "tgt": "y"}])
    first, second = load_examples(path).errors
    assert "'q', 'reply', 'id'" in first.message
    assert "rename 'q' to 'prompt' and 'reply' to 'completion'" in first.message
    assert "rename 'src' to 'prompt' and 'tgt' to 'completion'" in second.message


# OpenAssistant/oasst1 (Apache-2.0): the trees file and the message table
OASST_TREE = {"message_tree_id": "t1", "tree_state": "ready_for_export", "prompt": {
    "message_id": "m1", "role": "prompter", "text": "What is a cat?", "lang": "en", "replies": [
        {"message_id": "m2", "role": "assistant", "text": "A small pet.", "rank": 1, "replies": []},
        {"message_id": "m3", "role": "assistant", "text": "A small carnivorous mammal.", "rank": 0,
         "replies": [{"message_id": "m4", "role": "prompter", "text": "Thanks!", "replies": []}]}]}}


def test_oasst_trees_are_read_as_their_best_thread_and_the_message_table_is_explained(tmp_path):
    report = inspect_path(_jsonl(tmp_path / "trees.jsonl", [OASST_TREE]))
    assert report.errors == [] and report.n_examples == 1
    result = load_examples(tmp_path / "trees.jsonl")
    assert result.examples[0].messages == [
        {"role": "user", "content": "What is a cat?"},
        {"role": "assistant", "content": "A small carnivorous mammal."}]  # rank 0, no dangling 'Thanks!'
    assert report.warning("oasst_trees")
    rows = [{"message_id": f"m{i}", "parent_id": None if i == 0 else f"m{i - 1}",
             "role": "prompter" if i % 2 == 0 else "assistant", "text": f"turn {i}", "lang": "en"}
            for i in range(40)]
    table = inspect_path(_jsonl(tmp_path / "messages.jsonl", rows))
    assert len(table.errors) == 1 and table.errors[0].rows == 40
    assert "message table" in table.errors[0].message and "trees" in table.errors[0].message
    assert not table.warning("too_few_examples")   # nothing was read: the error says why


# ----- problems said once, located ----------------------------------------------------------

def test_a_whole_file_problem_is_said_once_and_array_elements_are_located(tmp_path):
    rows = [{"instruction": f"Task {i}", "reply": f"Answer {i}"} for i in range(300)]
    report = inspect_path(_jsonl(tmp_path / "rows.jsonl", rows))
    assert len(report.errors) == 1 and report.errors[0].rows == 300
    assert "every row (300)" in report.errors[0].message
    one_line = tmp_path / "rows.json"
    one_line.write_text(json.dumps([{"messages": [{"role": "user", "content": "hi"},
                                                  {"role": "assistant", "content": "hello"}]},
                                    {"messages": [{"role": "user", "content": "x"}]},
                                    {"messages": "oops"}]))
    errors = load_examples(one_line).errors
    assert [(e.line, e.message.split(":")[0]) for e in errors] == [
        (1, "array element [1]"), (1, "array element [2]")]


def test_placeholder_end_tokens_are_flagged(tmp_path):
    rows = [{"instruction": f"Say {w}", "output": f"{w}###eos_token###"} for w in ("hi", "bye", "yes")]
    report = inspect_path(_jsonl(tmp_path / "p.jsonl", rows))
    warning = report.warning("eos_placeholder")
    assert warning and "'###eos_token###'" in warning.message and warning.lines == [1, 2, 3]


# ----- containers ---------------------------------------------------------------------------

CHAT = [{"messages": [{"role": "user", "content": f"Question {i}?"},
                      {"role": "assistant", "content": f"Answer {i}."}]} for i in range(5)]


def _lines(rows):
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_gzip_and_zstd_files_keep_their_line_numbers(tmp_path):
    import zstandard

    rows = CHAT[:3] + [{"messages": "broken"}] + CHAT[3:]
    packed = {"rows.jsonl.gz": gzip.compress(_lines(rows)),
              "rows.jsonl.zst": zstandard.ZstdCompressor().compress(_lines(rows)),
              "rows.json.gz": gzip.compress(json.dumps(rows, indent=1).encode())}
    for name, data in packed.items():
        (tmp_path / name).write_bytes(data)
        result = load_examples(tmp_path / name)
        assert len(result.examples) == 5, name
        assert [e.code for e in result.errors] == ["wrong_type"], name
        if name.endswith(".jsonl.gz") or name.endswith(".zst"):
            assert result.errors[0].line == 4 and result.examples[-1].line == 6
    csv_gz = tmp_path / "dolly.csv.gz"
    csv_gz.write_bytes(gzip.compress(_pandas_csv(tmp_path / "d.csv", DOLLY).read_bytes()))
    assert (len(load_examples(csv_gz).examples), load_examples(csv_gz).errors) == (4, [])


def test_damaged_or_unsupported_archives_are_named(tmp_path):
    cut = tmp_path / "cut.jsonl.gz"
    import random

    rng = random.Random(0)
    rows = [{"messages": [{"role": "user", "content": str(rng.random())},
                          {"role": "assistant", "content": str(rng.random())}]} for _ in range(500)]
    cut.write_bytes(gzip.compress(_lines(rows))[:4000])
    result = load_examples(cut)
    assert result.examples and result.errors[-1].code == "compressed"
    assert "cut short" in result.errors[-1].message
    import zipfile

    with zipfile.ZipFile(tmp_path / "data.zip", "w") as z:
        z.writestr("train.jsonl", _lines(CHAT))
    error, = load_examples(tmp_path / "data.zip").errors
    assert error.code == "compressed" and "unzip data.zip" in error.message
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    error, = load_examples(binary).errors
    assert error.code == "unknown_format" and "binary" in error.message


def test_folder_glob_and_save_to_disk_read_every_file_with_file_and_line(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "train-00000.jsonl").write_bytes(_lines(CHAT[:2]))
    (folder / "train-00001.jsonl.gz").write_bytes(gzip.compress(_lines([CHAT[2], {"messages": 1}])))
    (folder / "README.md.lock").write_text("not data")
    result = load_examples(folder)
    assert len(result.examples) == 3
    error, = result.errors
    assert str(error.line) == "train-00001.jsonl.gz:2" and "train-00001.jsonl.gz:2" in str(error)
    by_glob = load_examples(str(folder / "*.jsonl"))
    assert [str(ex.line) for ex in by_glob.examples] == ["1", "2"]   # one file: plain lines

    import datasets

    saved = tmp_path / "saved"
    datasets.Dataset.from_list(CHAT + [CHAT[0]]).save_to_disk(str(saved), num_shards=2)
    report = inspect_path(saved)
    assert report.errors == [] and report.n_examples == 6
    duplicate = report.warning("duplicate")
    assert duplicate and ":" in str(duplicate.lines[0][1])   # the repeat named with its shard
    as_json = report.to_dict()["warnings"][0]["lines"][0]
    assert as_json[1].startswith("data-0000") and as_json[1].endswith(":3")
    whole = tmp_path / "dict"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(CHAT),
                          "test": datasets.Dataset.from_list(CHAT[:1])}).save_to_disk(str(whole))
    assert len(load_examples(whole).examples) == 5


def test_inspect_cli_reads_a_folder_and_cleans_a_packed_file(tmp_path, capsys):
    from ft_tui.cli import main

    packed = tmp_path / "rows.jsonl.gz"
    packed.write_bytes(gzip.compress(_lines(CHAT + CHAT[:1])))
    assert main(["inspect", str(packed), "--model", "none", "--clean"]) == 0
    capsys.readouterr()
    cleaned = tmp_path / "rows.cleaned.jsonl"
    assert len(cleaned.read_text().splitlines()) == 5
    assert main(["inspect", str(tmp_path), "--model", "none", "--json"]) in (0, 1)
    data = json.loads(capsys.readouterr().out)
    assert data["n_examples"] == 11   # the packed file and the cleaned copy beside it


# ----- scale: the long-example check ------------------------------------------------------

def test_long_examples_are_judged_without_a_full_mask_and_agree_with_it(monkeypatch):
    from ft_tui.core.data import masks
    from ft_tui.core.data.tokens import TokenCounter
    from tests.fixtures.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.chat_template = SMOLLM2_TEMPLATE
    long_prompt = "The printer on floor 3 is jammed again. " * 40
    conversations = [
        [{"role": "user", "content": long_prompt}, {"role": "assistant", "content": "Fixed."}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": long_prompt}],
        [{"role": "assistant", "content": long_prompt}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "weight": 0},
         {"role": "user", "content": long_prompt}, {"role": "assistant", "content": "Bye"}],
    ]
    expected = {}
    for max_length in (16, 40, 200, 400):
        for i, messages in enumerate(conversations):
            expected[max_length, i] = masks.trained_within(
                masks.build_mask(tokenizer, messages).labels, max_length)
    built = []
    monkeypatch.setattr(masks, "build_mask", lambda *a, **k: built.append(a) or (_ for _ in ()).throw(
        AssertionError("the full mask was built")))
    for max_length in (16, 40, 200, 400):
        with TokenCounter(tokenizer, max_length) as counter:
            for i, messages in enumerate(conversations):
                counter.add(i, messages)
        lengths = dict(zip(counter.lines, counter.lengths))
        for i in range(len(conversations)):
            untrained = i in counter.untrained_lines
            if lengths[i] > max_length:
                assert untrained == (not expected[max_length, i]), (max_length, i)
    assert built == []


def test_whole_set_checks_keep_fixed_size_state_per_row():
    from ft_tui.core.data.checks import SetChecks
    from ft_tui.core.data.types import Example

    def ex(line, prompt, answer):
        return Example(line, [{"role": "user", "content": prompt},
                              {"role": "assistant", "content": answer}], fmt="openai_chat")

    checks = SetChecks()
    n = 20000
    for i in range(1, n + 1):
        checks.add(ex(i, f"question number {i}", f"a long free answer about topic {i} " * 8))
    checks.add(ex(n + 1, "question number 7", "a long free answer about topic 7 " * 8))     # duplicate
    checks.add(ex(n + 2, "question number 9", "completely different words here now"))   # contradiction
    assert checks.duplicates == [[7, n + 1]]
    assert checks.contradictions == [[9, n + 2]]
    tables = checks._exact.nbytes + checks._near.nbytes + checks._prompts.nbytes
    assert tables / n < 400   # bytes a row, where a dict of word-hash sets took kilobytes


def test_progress_is_reported_with_rows_per_second(tmp_path, monkeypatch):
    import io

    from ft_tui.commands.inspect import ProgressLine
    from ft_tui.core.data import report as report_module

    monkeypatch.setattr(report_module, "PROGRESS_EVERY_S", 0.0)
    path = tmp_path / "many.jsonl"
    path.write_bytes(_lines(CHAT * 300))
    calls = []
    inspect_path(path, progress=lambda rows, seconds: calls.append((rows, seconds)))
    assert calls and calls[-1][0] <= 1500 and all(b[0] > a[0] for a, b in zip(calls, calls[1:]))
    out = io.StringIO()
    line = ProgressLine(out)
    line(1000, 1.0)           # under two seconds: nothing shown
    assert out.getvalue() == ""
    line(120000, 3.0)
    line.clear()
    assert "120,000 rows, 40,000 rows/s" in out.getvalue() and out.getvalue().endswith("\033[K")


def test_the_wizard_shows_rows_read_on_a_slow_file(tmp_path, monkeypatch):
    import itertools

    from ft_tui.core.data import report as report_module
    from ft_tui.tui.steps import data_work

    clock = itertools.count(0, 0.5)   # every look at the clock: half a second later
    monkeypatch.setattr(report_module.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(data_work, "load_tokenizer_for", lambda model: (_ for _ in ()).throw(OSError("no")))
    path = tmp_path / "many.jsonl"
    path.write_bytes(_lines(CHAT * 600))
    posted = []
    data_work.inspect_in_two_passes(path, "tiny", 512, lambda **kw: posted.append(kw))
    reading = [p["status"] for p in posted if str(p.get("status", "")).startswith("Reading…")]
    assert reading and "rows/s" in reading[-1]
