"""The decision tree: every branch ends in a verdict and the documented paths hold."""

import pytest

from ft_tui.core.decide import (COMPARISON, QUESTIONS, START, VERDICTS, Walk, approach_row,
                                decide)


def _all_paths():
    """Every complete walk through the tree."""
    out, todo = [], [Walk()]
    while todo:
        walk = todo.pop()
        if walk.verdict is not None:
            out.append(walk)
            continue
        assert len(walk.answers) <= len(QUESTIONS), "the tree has a cycle"
        todo += [walk.answer(True), walk.answer(False)]
    return out


def test_every_edge_points_to_a_question_or_a_verdict():
    for q in QUESTIONS.values():
        for target in (q.yes, q.no):
            assert target in QUESTIONS or target in VERDICTS, f"{q.id} -> {target}"
    assert START in QUESTIONS


def test_every_question_and_verdict_is_reachable():
    paths = _all_paths()
    seen_q = {qid for w in paths for qid, _ in w.answers}
    seen_v = {w.verdict.id for w in paths}
    assert seen_q == set(QUESTIONS)
    assert seen_v == set(VERDICTS)


@pytest.mark.parametrize("answers, verdict", [
    ({"prompt_works": True}, "prompting"),
    ({"prompt_works": False, "missing_knowledge": True}, "rag"),
    ({"prompt_works": False, "missing_knowledge": False, "style_or_behaviour": False,
      "too_slow_or_costly": True}, "smaller_model"),
    ({"prompt_works": False, "missing_knowledge": False, "style_or_behaviour": False,
      "too_slow_or_costly": False}, "prompting"),   # "revisit prompt engineering"
    ({"prompt_works": False, "missing_knowledge": False, "style_or_behaviour": True,
      "few_shot_enough": True}, "few_shot"),
    ({"prompt_works": False, "missing_knowledge": False, "style_or_behaviour": True,
      "few_shot_enough": False, "preference_only": True}, "dpo"),
    ({"prompt_works": False, "missing_knowledge": False, "style_or_behaviour": True,
      "few_shot_enough": False, "preference_only": False, "enough_examples": True}, "fine_tune"),
    ({"prompt_works": False, "missing_knowledge": False, "style_or_behaviour": True,
      "few_shot_enough": False, "preference_only": False, "enough_examples": False}, "few_shot"),
])
def test_seed_paths_reach_their_verdicts(answers, verdict):
    walk = decide(answers)
    assert walk.verdict is not None and walk.verdict.id == verdict
    assert len(walk.reasons()) == len(answers)


def test_only_fine_tuning_verdicts_recommend_training_and_the_others_warn():
    for v in VERDICTS.values():
        if v.fine_tune:
            assert v.id in ("fine_tune", "smaller_model", "dpo")   # dpo: objective dpo
        else:
            assert v.caution, f"{v.id} must say why one might not fine-tune"


def test_reasons_follow_the_answers_given():
    walk = decide({"prompt_works": False, "missing_knowledge": True})
    assert walk.reasons() == [QUESTIONS["prompt_works"].because_no,
                              QUESTIONS["missing_knowledge"].because_yes]


def test_partial_answers_stop_at_the_first_open_question_and_back_undoes():
    walk = decide({"prompt_works": False})
    assert walk.question.id == "missing_knowledge"
    assert walk.verdict is None
    assert walk.back().question.id == START
    assert Walk().back().question.id == START   # back at the start stays there


def test_answering_after_a_verdict_is_refused():
    walk = decide({"prompt_works": True})
    with pytest.raises(ValueError, match="verdict"):
        walk.answer(True)


def test_comparison_table_has_cost_effort_latency_and_each_verdict_maps_to_a_row():
    names = [row.name for row in COMPARISON]
    assert names[:4] == ["Prompt engineering", "Few-shot examples", "RAG", "Fine-tuning"]
    assert all(row.cost and row.effort and row.latency for row in COMPARISON)
    for v in VERDICTS.values():
        assert approach_row(v) is not None, v.id
    # cost rises from prompting to fine-tuning, and only fine-tuning lowers latency
    assert COMPARISON[0].cost == "very low" and COMPARISON[3].cost == "high"
    assert "lower" in COMPARISON[3].latency


def test_a_prompting_verdict_gives_no_reason_against_prompting():
    walk = decide({"prompt_works": False, "missing_knowledge": False,
                   "style_or_behaviour": False, "too_slow_or_costly": False})
    assert walk.verdict.title == "Use prompt engineering"
    text = " ".join(walk.reasons()).lower()
    assert "falls short" not in text and "prompting alone" not in text
    assert "better prompt is the next step" in walk.reasons()[-1]
