"""Chat rows whose messages still hold another convention's markup (`### Human:` /
`### Assistant:`, the Alpaca prompt's `### Instruction:` / `### Response:`) are warned
about like ChatML and [INST]: the row and the convention are named, and the model's own
template is never a silent second template around them."""

import json

from ft_tui.core.data.report import inspect_path

# Shapes of rows converted by hand from timdettmers/openassistant-guanaco (Apache-2.0) and
# tatsu-lab/alpaca (CC BY-NC 4.0): the rendered prompt was pasted into one message.
GUANACO_ROW = {"messages": [
    {"role": "user", "content": "### Human: Can you write a short introduction about the "
                                "relevance of the term \"monopsony\" in economics?"},
    {"role": "assistant", "content": "### Assistant: \"Monopsony\" refers to a market structure "
                                     "where there is only one buyer for a particular good."}]}
ALPACA_ROW = {"messages": [
    {"role": "user", "content": "Below is an instruction that describes a task. Write a response "
                                "that appropriately completes the request.\n\n### Instruction:\n"
                                "Give three tips for staying healthy.\n\n### Response:"},
    {"role": "assistant", "content": "1. Eat a balanced diet.\n2. Exercise regularly.\n3. Sleep."}]}
MARKDOWN_ROW = {"messages": [   # a markdown heading in an answer is not markup
    {"role": "user", "content": "How do I reset my password?"},
    {"role": "assistant", "content": "### Steps\n1. Open Settings.\n2. Pick Security.\n\n"
                                     "### Input: what the form asks\nYour old password."}]}


def test_guanaco_and_alpaca_markup_inside_messages_is_named_with_its_row(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (MARKDOWN_ROW, GUANACO_ROW, ALPACA_ROW)))
    report = inspect_path(path)
    markup = [w for w in report.warnings if w.code == "chat_markup"]
    assert len(markup) == 1, [w.code for w in report.warnings]
    assert markup[0].lines == [2, 3]
    assert "'### Human:' / '### Assistant:' (e.g. line 2)" in markup[0].message
    assert "Alpaca ('### Instruction:' / '### Response:') (e.g. line 3)" in markup[0].message
    assert "trained as text" in markup[0].message


def test_chatml_inside_a_message_is_still_named():
    from ft_tui.core.data.markup import markup_in_message

    assert markup_in_message("<|im_start|>user\nhi<|im_end|>") == "ChatML ('<|im_start|>')"
    assert markup_in_message("Plain text with ### a heading") is None
