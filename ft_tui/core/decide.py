"""Should you fine-tune at all? The decision tree as plain data.

The tree is ft-tui's reading of common practice: try a prompt first; missing knowledge
calls for retrieval (RAG; Lewis et al. 2020, arXiv:2005.11401), not training (Ovadia et
al. 2023, arXiv:2312.05934, found RAG beat fine-tuning for injecting new facts); style, format and behaviour are what fine-tuning teaches;
a large model that is too slow or too costly can be replaced by a fine-tuned smaller one.
Two more branches cover few-shot prompting (enough when the examples fit in the prompt)
and preference tuning (DPO, when you can only say which of two answers is better).

Every answer carries the reason it adds to the verdict, so the verdict can say *why*
from the user's own answers. No Textual here: the Decide screen only renders this.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Question:
    id: str
    short: str           # a few words, for the trail of answers
    text: str
    explanation: str     # one or two sentences: why the question matters
    yes: str             # id of the next question or verdict
    no: str
    because_yes: str     # the reason a "yes" adds to the verdict
    because_no: str


@dataclass(frozen=True)
class Verdict:
    id: str
    title: str
    advice: str          # what to do next
    fine_tune: bool      # does ft-tui's SFT path fit this verdict?
    caution: str = ""    # shown when the user goes on to fine-tune anyway
    approach: str = ""   # row of COMPARISON this verdict corresponds to


@dataclass(frozen=True)
class Approach:
    name: str
    best_when: str
    cost: str
    effort: str
    latency: str


# Cost / effort / latency of each way to change a model's answers: ft-tui's rough,
# relative ratings (not measurements).
COMPARISON: tuple[Approach, ...] = (
    Approach("Prompt engineering", "the task is well defined, with few output formats",
             "very low", "low", "none"),
    Approach("Few-shot examples", "you need a consistent format or style",
             "low", "low", "slightly higher (longer prompt)"),
    Approach("RAG", "answers need recent or private knowledge",
             "medium", "medium", "higher (a retrieval step)"),
    Approach("Fine-tuning", "you need a behaviour, style or domain change",
             "high", "high", "lower at inference"),
    Approach("Continued pre-training", "a whole new domain or language",
             "very high", "very high", "none"),
)

START = "prompt_works"

QUESTIONS: dict[str, Question] = {q.id: q for q in (
    Question(
        "prompt_works", "Prompt works",
        "Does a clear, well-written prompt already give the answers you want?",
        "Always measure a prompted baseline first: a fine-tune that does not beat the "
        "prompt is wasted compute. Try a precise system prompt on a few real inputs.",
        yes="prompting", no="missing_knowledge",
        because_yes="A prompt already does the job.",
        because_no="Your current prompt does not give the answers yet.",
    ),
    Question(
        "missing_knowledge", "Lacks facts",
        "Is the problem that the model lacks facts (your documents, recent or private data)?",
        "Training does not store facts reliably: models forget and then invent answers. "
        "Retrieval puts the right passage in the prompt at question time instead.",
        yes="rag", no="style_or_behaviour",
        because_yes="The gap is knowledge, which retrieval supplies better than training.",
        because_no="The model has the knowledge it needs.",
    ),
    Question(
        "style_or_behaviour", "Style/format/behaviour",
        "Is it about style, format or behaviour (a fixed JSON schema, a tone, a label set)?",
        "This is what fine-tuning teaches best: patterns that are hard to spell out in a "
        "prompt but easy to show with examples.",
        yes="few_shot_enough", no="too_slow_or_costly",
        because_yes="The change you need is a style, format or behaviour.",
        because_no="The task itself is not a style or behaviour change.",
    ),
    Question(
        "few_shot_enough", "Few-shot enough",
        "Would a few examples in the prompt (few-shot) give consistent results, at a prompt "
        "length and cost you can live with?",
        "Few-shot prompting costs nothing to try and needs no training. It stops being "
        "enough when results stay inconsistent or the prompt grows long and expensive.",
        yes="few_shot", no="preference_only",
        because_yes="A handful of in-prompt examples is consistent enough.",
        because_no="Few-shot prompting is inconsistent or too long for your volume.",
    ),
    Question(
        "preference_only", "Only preferences",
        "Can you only say which of two answers is better, rather than write the right one?",
        "Supervised fine-tuning (SFT) learns from target answers. When all you have is "
        "'A is better than B', preference tuning such as DPO learns from those pairs.",
        yes="dpo", no="enough_examples",
        because_yes="Your signal is a preference between answers, not a target answer.",
        because_no="You can write the answer you want for each input.",
    ),
    Question(
        "enough_examples", "100+ examples",
        "Do you have, or can you write, at least 100 good input-to-output examples?",
        "Quality beats quantity: a few hundred curated examples beat thousands of noisy "
        "ones. Below about 100, in-context examples usually do as well as training.",
        yes="fine_tune", no="few_shot",
        because_yes="You have enough examples to learn from (100+; 200-500 curated is a good start).",
        because_no="Fewer than about 100 examples is too little signal to train on.",
    ),
    Question(
        "too_slow_or_costly", "Too slow/costly",
        "Is the large model you use today too slow or too expensive at your volume?",
        "A small model fine-tuned on the large model's good answers can match it on one "
        "narrow task at a fraction of the latency and cost.",
        yes="smaller_model", no="prompting",
        because_yes="Speed or cost of the current model is the problem.",
        because_no="Speed and cost are acceptable, and nothing above calls for training: "
                   "a better prompt is the next step.",
    ),
)}

VERDICTS: dict[str, Verdict] = {v.id: v for v in (
    Verdict(
        "prompting", "Use prompt engineering",
        "Write a precise system prompt, test it on 20-50 real inputs and keep it as your "
        "baseline. Come back when you can show where it fails.",
        fine_tune=False, approach="Prompt engineering",
        caution="Without a prompt baseline that fails, you cannot tell whether a fine-tune "
                "helped; training costs hours and needs upkeep a prompt does not.",
    ),
    Verdict(
        "few_shot", "Use few-shot examples in the prompt",
        "Put 3-10 representative input/output pairs in the prompt. Keep collecting "
        "examples: at 200-500 curated ones, fine-tuning becomes worth trying.",
        fine_tune=False, approach="Few-shot examples",
        caution="With few examples a fine-tune tends to memorise them rather than learn "
                "the pattern, and few-shot prompting gets you there without training.",
    ),
    Verdict(
        "rag", "Use retrieval (RAG)",
        "Index your documents and retrieve the relevant passages into the prompt. "
        "Fine-tune later only if the answer style, not the knowledge, is still wrong.",
        fine_tune=False, approach="RAG",
        caution="Fine-tuning for knowledge is the costliest common mistake: the model "
                "forgets facts and confidently invents them. Retrieval stays up to date.",
    ),
    Verdict(
        "fine_tune", "Fine-tune (supervised, with LoRA)",
        "Curate the examples, hold some out for evaluation, and train LoRA adapters. "
        "Compare against the prompted baseline before you ship.",
        fine_tune=True, approach="Fine-tuning",
    ),
    Verdict(
        "smaller_model", "Fine-tune a smaller model",
        "Collect the large model's good answers on real inputs and fine-tune a small "
        "model on them. Check on held-out data that it keeps up with the large one.",
        fine_tune=True, approach="Fine-tuning",
    ),
    Verdict(
        "dpo", "Use preference tuning (DPO)",
        "Collect pairs of a preferred and a rejected answer per prompt and train with "
        "DPO (objective dpo), often after a short supervised fine-tune on the preferred "
        "answers (preference.init_adapter starts DPO from that run's adapter). With no "
        "such model to start from, or memory too tight for DPO's reference pass, ORPO "
        "(objective orpo) learns from the same pairs in one stage with no reference model.",
        fine_tune=True, approach="Fine-tuning",
    ),
)}


@dataclass
class Walk:
    """A path through the tree: the answers given so far."""

    answers: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def node(self) -> str:
        """Id of the current question, or of the verdict once one is reached."""
        node = START
        for qid, answer in self.answers:
            question = QUESTIONS[qid]
            node = question.yes if answer else question.no
        return node

    @property
    def question(self) -> Question | None:
        return QUESTIONS.get(self.node)

    @property
    def verdict(self) -> Verdict | None:
        return VERDICTS.get(self.node)

    def answer(self, yes: bool) -> "Walk":
        current = self.question
        if current is None:
            raise ValueError("the walk has already reached a verdict; go back or restart")
        return Walk(self.answers + [(current.id, yes)])

    def back(self) -> "Walk":
        return Walk(self.answers[:-1])

    def reasons(self) -> list[str]:
        """Why the walk ended where it did, one reason per answer."""
        out = []
        for qid, answer in self.answers:
            q = QUESTIONS[qid]
            out.append(q.because_yes if answer else q.because_no)
        return out


def decide(answers: dict[str, bool]) -> Walk:
    """Follow the tree with answers keyed by question id, stopping at the first question
    without an answer (or at the verdict)."""
    walk = Walk()
    while walk.question is not None and walk.question.id in answers:
        walk = walk.answer(answers[walk.question.id])
    return walk


def approach_row(verdict: Verdict) -> int | None:
    """Index in COMPARISON of the approach a verdict recommends."""
    for i, row in enumerate(COMPARISON):
        if row.name == verdict.approach:
            return i
    return None


# ----- a measured baseline enters the verdict -------------------------------------------

def baseline_sentence(main_label: str, score: float, prompt: str, n_examples: int) -> str:
    """One sentence for the verdict from a measured baseline: ``prompt`` is how the base
    model was prompted ("zero-shot", "3-shot"), ``score`` its main-metric score."""
    from ft_tui.core.evaluate.report import HIGH_BASELINE  # the evaluation's same bar

    measured = (f"Measured: prompting ({prompt}) reaches {score:.2f} {main_label} on "
                f"{n_examples} held-out examples")
    if score >= HIGH_BASELINE:
        return measured + "; the prompt already does the job, fine-tuning may not be worth it."
    return measured + "; fine-tuning is worth trying, and it has to beat this score."
